/** Emits job events to the host's logger, isolated: a logger that throws or hangs changes nothing. */
import type { CellEvent, EventLogger, JobRecord } from '../types.js';

/** The `info` of an event. */
export type EventInfo = 'accepted' | 'completed' | `failed ${string}` | 'cancelled' | 'interrupted' | `ignored ${string}`;

function levelOf(info: EventInfo): CellEvent['level'] {
  if (info === 'accepted' || info === 'completed') return 'INFO';
  return info === 'cancelled' || info.startsWith('ignored ') ? 'WARN' : 'ERROR';
}

/** Sends one event about `job`, never awaiting the logger and swallowing its failures. */
export function emitEvent(
  logger: EventLogger | undefined,
  job: JobRecord,
  info: EventInfo,
  onError: (error: unknown) => void,
): void {
  if (logger === undefined) return;
  const event: CellEvent = {
    dateTime: new Date().toISOString(),
    level: levelOf(info),
    requestKey: job.requestKey,
    external: false,
    schema: null,
    subject: job.subject,
    type: job.kind === 'export' ? 'cell.export' : 'cell.import',
    object: job.kind === 'export' ? 'personium-localcell:/__export' : 'personium-localcell:/__import',
    info,
    cellId: job.cellId,
  };
  try {
    Promise.resolve(logger.log(event)).catch(onError);
  } catch (error) {
    onError(error);
  }
}
