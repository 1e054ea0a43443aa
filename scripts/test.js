#!/usr/bin/env node
/**
 * The test command: type check, then ava over the fast set (`npm test`) or the slow set
 * (`npm run test:slow`: the tests that need minutes or gigabytes), then one closing line per outcome.
 *
 * Tests that need a system tool that is missing are skipped (see test/helpers/tools.ts) and recorded
 * in a temporary file; this script ends the run with one line saying how many were skipped and why.
 * `--coverage` runs ava under c8 and prints a coverage summary (`npm run coverage`); other arguments
 * go to ava (e.g. `npm test -- test/webdav/`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const slow = args[0] === '--slow';
const avaArgs = slow ? ['--config', 'ava.slow.config.js', ...args.slice(1)] : args;
const bin = (name) => join('node_modules', '.bin', name);

/** Runs a command with inherited output; resolves with its exit code. */
function run(command, commandArgs, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

// The type check keeps its incremental state outside the repository, one file per checkout: a rerun
// checks again only what changed (half the time of a full check); a fresh clone (CI) checks everything.
const buildInfo = join(tmpdir(), `kcs-typecheck-${createHash('sha256').update(process.cwd()).digest('hex').slice(0, 16)}.tsbuildinfo`);
const typecheck = await run(bin('tsc'), ['--noEmit', '-p', '.', '--incremental', '--tsBuildInfoFile', buildInfo]);
if (typecheck !== 0) process.exit(typecheck);

const dir = mkdtempSync(join(tmpdir(), 'kcs-test-run-'));
const skipLog = join(dir, 'skipped.tsv');
const env = { ...process.env, KCS_SKIP_LOG: skipLog };
const coverage = args.includes('--coverage');
const runnerArgs = avaArgs.filter((arg) => arg !== '--coverage');
const code = coverage
  ? await run(bin('c8'), ['--reporter=text-summary', bin('ava'), ...runnerArgs], env)
  : await run(bin('ava'), runnerArgs, env);

let lines = [];
try {
  lines = readFileSync(skipLog, 'utf8').split('\n').filter((line) => line !== '');
} catch {
  // nothing was skipped
}
rmSync(dir, { recursive: true, force: true });
if (lines.length > 0) {
  // A test that needs two missing tools counts for each.
  const byReason = new Map();
  for (const line of lines) {
    for (const reason of line.slice(0, line.indexOf('\t')).split('|')) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
  const parts = [...byReason].map(([reason, count]) => (byReason.size === 1 ? reason : `${reason}: ${count}`));
  console.log(`\nskipped ${lines.length} test${lines.length === 1 ? '' : 's'}: ${parts.join('; ')}`);
}
process.exit(code);
