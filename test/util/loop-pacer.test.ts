/**
 * The loop pacer: background work runs freely beside an idle host, is paced while the host keeps the
 * event loop busy (for stretches that hold the share of the loop the host leaves idle), and runs
 * freely again once the host is idle. The host here is a chain of
 * callbacks each busy for 2 ms, so the loop is busy whatever the machine's load; what is asserted is
 * the pacer's judgement, never a duration.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { LoopPacer, pacedRunMs } from '../../lib/util/loop-pacer.js';

/** Keeps the event loop busy (2 ms callbacks back to back) until `stop()`. */
function busyHost(): { stop: () => void } {
  let running = true;
  const step = (): void => {
    if (!running) return;
    const until = performance.now() + 2;
    while (performance.now() < until) {
      // the host's own work
    }
    setImmediate(step);
  };
  setImmediate(step);
  return { stop: () => void (running = false) };
}

/**
 * Background work: steps of `pace()` (and a turn of the loop) until the pacer's judgement is `paced`,
 * or 50 pauses were taken (a probe may meet the test runner's own work now and then, so one probe
 * is not asked to decide). Resolves to the judgement reached.
 */
async function backgroundUntil(pacer: LoopPacer, paced: boolean): Promise<boolean> {
  let taken = 0;
  while (taken < 50) {
    const pause = pacer.pace();
    if (pause !== undefined) {
      await pause;
      taken += 1;
      if (pacer.paced === paced) return paced;
    }
    await nextTurn();
  }
  return pacer.paced;
}

test('free beside an idle host, paced beside a busy one, free again once the host is idle', async (t) => {
  const pacer = new LoopPacer({ probeEveryMs: 30, pauseMs: 20, minRunMs: 5, hostBusy: 0.5 });
  t.false(pacer.paced);
  t.false(await backgroundUntil(pacer, false), 'a probe found the loop idle');
  const host = busyHost();
  try {
    t.true(await backgroundUntil(pacer, true), 'a probe found the host keeping the loop busy');
    // The host left (nearly) nothing idle in that pause: stretches of the least work.
    t.is(pacer.runMs, 5);
  } finally {
    host.stop();
  }
  t.false(await backgroundUntil(pacer, false), 'a pause found the host idle');
});

test('a paced stretch holds the share of the loop the host left idle, between the least work and a free stretch', (t) => {
  const cases: [busy: number, expected: number][] = [
    [1, 0.5], // saturated: the least work, so the job still progresses
    [0.99, 0.5],
    [0.96, (20 * 0.04) / 0.96],
    [0.8, 5], // 20 ms of pause, 80% the host's: 5 ms of work, a fifth of the loop
    [2 / 3, 10],
    [0.5, 20],
    [0.03, 500], // 647 ms by the rule: capped at a free stretch
    [0, 500],
  ];
  for (const [busy, expected] of cases) t.is(pacedRunMs(busy, 20, 0.5, 500).toFixed(6), expected.toFixed(6), `busy ${busy}`);
});

test('callers share one pause', async (t) => {
  const pacer = new LoopPacer({ probeEveryMs: 0, pauseMs: 20 });
  const first = pacer.pace();
  t.not(first, undefined);
  t.is(pacer.pace(), first);
  await first;
});

test("a slicer yields the pacer's pause when one is due, else a turn of the loop once its slice is spent", async (t) => {
  const due = new LoopPacer({ probeEveryMs: 0, pauseMs: 20 });
  const slicer = due.slicer(60_000);
  const pause = slicer();
  t.not(pause, undefined);
  t.is(due.pace(), pause, "the pacer's own pause");
  await pause;

  const later = new LoopPacer({ probeEveryMs: 60_000 });
  t.is(later.slicer(60_000)(), undefined, 'neither a probe nor the slice is due');
  const turn = later.slicer(0)();
  t.not(turn, undefined, 'the slice is spent');
  t.is(later.pace(), undefined, 'a turn of the loop, not a pause of the pacer');
  await turn;
});
