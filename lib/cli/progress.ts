/**
 * Progress of long work, on stderr: a live bar (cli-progress) with the percentage, the time elapsed
 * and an ETA when stderr is a terminal; plain lines at every tenth otherwise (CI logs, pipes), so a
 * log gets ten lines, not thousands.
 */
import cliProgress from 'cli-progress';

/** One piece of long work whose progress is shown. */
export interface Progress {
  /** The amount done so far (a percentage, or bytes). */
  update(value: number): void;
  /** Ends the display, leaving the final state on screen; `line`, when given, is printed after it. */
  stop(line?: string): void;
}

/** What a progress display counts. */
export interface ProgressOptions {
  /** What the work is, e.g. `export backup-1`. */
  readonly label: string;
  /** The amount that is all of it: 100 for a percentage, or the byte count. */
  readonly total: number;
  /** `percent` (the value is a percentage) or `bytes`. */
  readonly unit: 'percent' | 'bytes';
  /** Where it goes; stderr by default. */
  readonly stream?: NodeJS.WriteStream;
}

/** `1.5 MiB`: a byte count in binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `1m05s`: a duration in seconds, short. */
export function formatSeconds(total: number): string {
  const s = Math.max(0, Math.round(total));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Starts a progress display for one piece of work. */
export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  return stream.isTTY === true ? liveBar(options, stream) : plainLines(options, stream);
}

function amount(options: ProgressOptions, value: number): string {
  return options.unit === 'bytes' ? `${formatBytes(value)} of ${formatBytes(options.total)}` : '';
}

/** `12s elapsed` and, between the ends, `ETA 5s` at the pace so far. */
function timing(started: number, done: number, total: number): { elapsed: string; eta: string } {
  const seconds = (Date.now() - started) / 1000;
  const fraction = total <= 0 ? 1 : Math.min(1, done / total);
  const eta = fraction > 0 && fraction < 1 ? formatSeconds((seconds * (1 - fraction)) / fraction) : fraction >= 1 ? '0s' : '?';
  return { elapsed: formatSeconds(seconds), eta };
}

function liveBar(options: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const bytes = options.unit === 'bytes';
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${options.label} [{bar}] {percentage}%${bytes ? ' {amount}' : ''} | {took} elapsed | ETA {left}`,
      hideCursor: true,
      fps: 10,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  const total = Math.max(options.total, 1);
  // Own names: cli-progress fills its {eta} and {duration} itself, with its own estimate.
  const payload = (value: number): Record<string, string> => {
    const { elapsed, eta } = timing(started, value, options.total);
    return { amount: amount(options, value), took: elapsed, left: eta };
  };
  let last = 0;
  bar.start(total, 0, payload(0));
  return {
    update(value) {
      last = value;
      bar.update(Math.min(value, total), payload(value));
    },
    stop(line) {
      bar.update(Math.min(last, total), payload(last));
      bar.stop();
      if (line !== undefined) stream.write(`${line}\n`);
    },
  };
}

function plainLines(options: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const started = Date.now();
  let tenth = -1;
  const percentOf = (value: number): number => (options.total <= 0 ? 100 : Math.min(100, Math.floor((value / options.total) * 100)));
  const line = (value: number): void => {
    const percent = percentOf(value);
    const { elapsed, eta } = timing(started, value, options.total);
    const what = options.unit === 'bytes' ? ` (${amount(options, value)})` : '';
    stream.write(`${options.label}: ${percent}%${what}, ${elapsed} elapsed${percent > 0 && percent < 100 ? `, ETA ${eta}` : ''}\n`);
  };
  const progress: Progress = {
    update(value) {
      const now = Math.floor(percentOf(value) / 10);
      if (now <= tenth) return;
      tenth = now;
      line(value);
    },
    stop(text) {
      if (text !== undefined) stream.write(`${text}\n`);
    },
  };
  progress.update(0);
  return progress;
}
