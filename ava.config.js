/** ava for `npm test`: every test but the slow set (files named `*.slow.test.ts`). */
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['test/**/*.test.ts', '!test/**/*.slow.test.ts'],
  workerThreads: false,
  timeout: '2m',
};
