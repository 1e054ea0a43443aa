/** ava for `npm run test:slow`: the tests that need minutes or gigabytes (`*.slow.test.ts`). */
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/**/*.slow.test.ts'],
  timeout: '10m',
};
