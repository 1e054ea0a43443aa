import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { readAhead } from '../../lib/util/read-ahead.js';

async function* numbers(count: number, onPull?: (n: number) => void): AsyncGenerator<number> {
  for (let i = 0; i < count; i += 1) {
    onPull?.(i);
    yield i;
  }
}

test('results come in source order, with at most `depth` maps in flight', async (t) => {
  let inFlight = 0;
  let most = 0;
  const out: number[] = [];
  for await (const value of readAhead(numbers(50), async (n) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await sleep((n * 7) % 5);
    inFlight -= 1;
    return n * 2;
  }, 4)) {
    out.push(value);
  }
  t.deepEqual(out, Array.from({ length: 50 }, (_, i) => i * 2));
  t.true(most > 1, 'maps overlap');
  t.true(most <= 4, `at most 4 in flight, saw ${most}`);
});

test('a failing map rejects the iteration at its place, without unhandled rejections', async (t) => {
  const seen: number[] = [];
  const run = async () => {
    for await (const value of readAhead(numbers(10), async (n) => {
      if (n === 5) throw new Error('five');
      return n;
    }, 3)) {
      seen.push(value);
    }
  };
  await t.throwsAsync(run, { message: 'five' });
  t.deepEqual(seen, [0, 1, 2, 3, 4]);
});

test('stopping early returns the source and pulls no more than depth ahead', async (t) => {
  const pulled: number[] = [];
  let returned = false;
  async function* source(): AsyncGenerator<number> {
    try {
      yield* numbers(1000, (n) => pulled.push(n));
    } finally {
      returned = true;
    }
  }
  for await (const value of readAhead(source(), async (n) => n, 8)) {
    if (value === 2) break;
  }
  t.true(returned);
  t.true(pulled.length <= 2 + 8 + 1, `pulled ${pulled.length}`);
});
