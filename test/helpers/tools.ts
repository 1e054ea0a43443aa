/**
 * System tools that some tests need (`redis-server`, `java`, `python3`, `zip`, `unzip`, `curl`,
 * `mount`), and root for the tests that mount a tmpfs.
 *
 * Each is looked up on `PATH` once per test process. A test file wraps ava's `test` with
 * {@link needing}: with every tool present it is ava's `test` itself; without one, each test is
 * registered as skipped with the reason in its title and recorded for the run's closing summary
 * (see `test/run.ts`); under `CI=true` a missing tool fails each such test instead, so CI proves
 * everything.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, appendFileSync, constants, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestFn } from 'ava';

/** Every tool a test (or, for `wrk`, a benchmark) may need, with the Debian package that brings it. */
export const TOOLS = {
  'redis-server': 'redis-server',
  java: 'default-jdk-headless',
  python3: 'python3',
  zip: 'zip',
  unzip: 'unzip',
  curl: 'curl',
  mount: 'mount',
  wrk: 'wrk',
} as const;

/** A tool a test may need. */
export type Tool = keyof typeof TOOLS;

/** The environment variable naming the file where skipped tests are recorded, one per line. */
export const SKIP_LOG_ENV = 'KCS_SKIP_LOG';

const found = new Map<Tool, boolean>();

/** Whether `tool` is an executable file in a directory of `PATH`. */
export function hasTool(tool: Tool): boolean {
  let known = found.get(tool);
  if (known === undefined) {
    known = (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, tool)));
    found.set(tool, known);
  }
  return known;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Why a test cannot run here, one reason a missing tool: `redis-server not found (apt-get install redis-server)`. */
export function missingReasons(tools: readonly Tool[]): string[] {
  return tools.filter((tool) => !hasTool(tool)).map((tool) => `${tool} not found (apt-get install ${TOOLS[tool]})`);
}

/** Records one skipped test for the closing summary: its reasons separated by `|`, a tab, its title. */
function record(reasons: readonly string[], title: string): void {
  const log = process.env[SKIP_LOG_ENV];
  if (log !== undefined && log !== '') appendFileSync(log, `${reasons.join('|')}\t${title.replaceAll(/\s+/g, ' ')}\n`);
}

type Register = (title: string, ...rest: unknown[]) => void;

/** A hook (`before`, `after.always`, …) that is never run because its tests are not. */
const idleHook = Object.assign(() => undefined, { always: () => undefined, skip: () => undefined });

/**
 * ava's `test` for tests that need `tools`. Supports what this suite uses of it: calling it,
 * `.serial`, and the hooks (`before`, `after`, `beforeEach`, `afterEach`, with `.always`).
 */
export function needing(test: TestFn, ...tools: Tool[]): TestFn {
  return needingAll(test, missingReasons(tools));
}

let tmpfsProbe: string[] | undefined;

/**
 * Why a test that mounts a small tmpfs cannot run here: it needs `mount`, root, and a system that
 * lets root mount (not so in an unprivileged container). Probed once per test process.
 */
export function tmpfsReasons(): string[] {
  if (tmpfsProbe !== undefined) return tmpfsProbe;
  const reasons = missingReasons(['mount']);
  if (process.getuid?.() !== 0) reasons.push('mounting a tmpfs needs root (CI runs as root)');
  if (reasons.length === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'kcs-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
      execFileSync('umount', [dir], { stdio: 'ignore' });
    } catch {
      reasons.push('mount -t tmpfs is not permitted here (an unprivileged container?)');
    } finally {
      rmdirSync(dir);
    }
  }
  tmpfsProbe = reasons;
  return reasons;
}

/**
 * ava's `test` for tests that mount a small tmpfs (a real full or read-only file system): skipped
 * with the reason when not root or without `mount`, a failure under `CI=true`, like {@link needing}.
 */
export function needingTmpfs(test: TestFn): TestFn {
  return needingAll(test, tmpfsReasons());
}

function needingAll(test: TestFn, reasons: readonly string[]): TestFn {
  if (reasons.length === 0) return test;
  const reason = reasons.join(', ');
  const inCi = process.env['CI'] === 'true';
  const stand = (register: Register): Register => (title, ...rest) => {
    if (inCi) {
      register(title, (t: { fail(message: string): void }) => t.fail(`${reason}: CI=true requires every tool`));
      return;
    }
    record(reasons, title);
    register(`${title} [skipped: ${reason}]`, ...rest);
  };
  const serial = stand(inCi ? (test.serial as Register) : (test.serial.skip as Register));
  const wrapped = Object.assign(stand(inCi ? (test as Register) : (test.skip as Register)), {
    serial,
    before: idleHook,
    after: idleHook,
    beforeEach: idleHook,
    afterEach: idleHook,
  });
  return wrapped as unknown as TestFn;
}

/**
 * ava's `test` for tests that need an outside server named by the environment variable `name`
 * (e.g. `S3_TEST_ENDPOINT`): without it, each test is registered as skipped with `why` in its title
 * and recorded for the run's closing summary, also under `CI=true` (CI has no such server).
 */
export function needingEnv(test: TestFn, name: string, why: string): TestFn {
  const value = process.env[name];
  if (value !== undefined && value !== '') return test;
  const reason = `${name} not set (${why})`;
  const stand = (register: Register): Register => (title, ...rest) => {
    record([reason], title);
    register(`${title} [skipped: ${reason}]`, ...rest);
  };
  const wrapped = Object.assign(stand(test.skip as Register), {
    serial: stand(test.serial.skip as Register),
    before: idleHook,
    after: idleHook,
    beforeEach: idleHook,
    afterEach: idleHook,
  });
  return wrapped as unknown as TestFn;
}
