/**
 * Ctrl-C for long commands: the first SIGINT (or SIGTERM) aborts the work through an AbortSignal so
 * the command can say what state it left; a second one exits at once.
 */

/** The exit code of a command stopped by the user (128 + SIGINT). */
export const INTERRUPTED_EXIT = 130;

/** The reason the signal of {@link trapInterrupt} aborts with. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** A trap on SIGINT and SIGTERM while a command runs. */
export interface InterruptTrap {
  /** Aborted at the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Removes the trap. */
  dispose(): void;
}

/** Traps SIGINT and SIGTERM until {@link InterruptTrap.dispose}. */
export function trapInterrupt(): InterruptTrap {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write('interrupted again: exiting now\n');
      process.exit(INTERRUPTED_EXIT);
    }
    controller.abort(new Interrupted());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
