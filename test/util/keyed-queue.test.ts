import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { KeyedQueue } from '../../lib/util/keyed-queue.js';

test('tasks of one key run one at a time in arrival order; other keys run meanwhile', async (t) => {
  const queue = new KeyedQueue();
  const log: string[] = [];
  const task = (name: string, ms: number) => async () => {
    log.push(`${name}+`);
    await sleep(ms);
    log.push(`${name}-`);
    return name;
  };
  const results = await Promise.all([queue.run('a', task('a1', 20)), queue.run('a', task('a2', 1)), queue.run('b', task('b1', 5))]);
  t.deepEqual(results, ['a1', 'a2', 'b1']);
  t.true(log.indexOf('a1-') < log.indexOf('a2+'), 'a2 waits for a1');
  t.true(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
});

test('a failing task rejects its caller only; idle waits for the queue to drain', async (t) => {
  const queue = new KeyedQueue();
  let finished = false;
  const failing = queue.run('k', async () => {
    throw new Error('boom');
  });
  const later = queue.run('k', async () => {
    await sleep(10);
    finished = true;
    return 1;
  });
  await t.throwsAsync(failing, { message: 'boom' });
  await queue.idle('k');
  t.true(finished);
  t.is(await later, 1);
  await queue.idle('unused');
});
