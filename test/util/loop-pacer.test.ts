/**
 * The loop pacer: background work runs freely beside an idle host, is paced while the host keeps the
 * event loop busy, and runs freely again once the host is idle. The host here is a chain of
 * callbacks each busy for 2 ms, so the loop is busy whatever the machine's load; what is asserted is
 * the pacer's judgement, never a duration.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { LoopPacer } from '../../lib/util/loop-pacer.js';

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

/** Background work: steps of `pace()` (and a turn of the loop), until `pauses` pauses were taken. */
async function background(pacer: LoopPacer, pauses: number): Promise<void> {
  let taken = 0;
  while (taken < pauses) {
    const pause = pacer.pace();
    if (pause !== undefined) {
      await pause;
      taken += 1;
    }
    await nextTurn();
  }
}

test('free beside an idle host, paced beside a busy one, free again once the host is idle', async (t) => {
  const pacer = new LoopPacer({ probeEveryMs: 30, pauseMs: 20, runMs: 5, hostBusy: 0.5 });
  t.false(pacer.paced);
  await background(pacer, 2);
  t.false(pacer.paced, 'the probes found the loop idle');
  const host = busyHost();
  try {
    await background(pacer, 2);
    t.true(pacer.paced, 'a probe found the host keeping the loop busy');
  } finally {
    host.stop();
  }
  await background(pacer, 2);
  t.false(pacer.paced, 'a pause found the host idle');
});

test('callers share one pause', async (t) => {
  const pacer = new LoopPacer({ probeEveryMs: 0, pauseMs: 20 });
  const first = pacer.pace();
  t.not(first, undefined);
  t.is(pacer.pace(), first);
  await first;
});
