/**
 * The upload of a snapshot file into a cell's snapshot area: one streamed `PUT` of the whole file
 * (the protocol has no partial uploads), `If-None-Match: *` unless replacing, with progress.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import type { CellClient } from './remote.js';

/** Options of {@link upload}. */
export interface UploadOptions {
  /** Overwrite a file of that name instead of refusing (412). */
  readonly replace: boolean;
  /** Called with the file's size before the first byte is sent. */
  readonly onStart: (total: number) => void;
  /** Called with the bytes sent so far. */
  readonly onBytes: (sent: number) => void;
  /** Stops the upload; the server keeps nothing of it. */
  readonly signal: AbortSignal;
}

/** Uploads `file` to `{cell}{path}`; resolves to whether it was created (201) or replaced (204). */
export async function upload(client: CellClient, file: string, path: string, options: UploadOptions): Promise<'created' | 'replaced'> {
  const { size } = await stat(file);
  options.onStart(size);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      options.onBytes(sent);
      callback(null, chunk);
    },
  });
  const source = createReadStream(file);
  source.on('error', (error) => counter.destroy(error));
  const body = Readable.toWeb(source.pipe(counter)) as ReadableStream<Uint8Array>;
  const response = await client.request('PUT', path, {
    headers: {
      'content-type': 'application/zip',
      'content-length': String(size),
      ...(options.replace ? {} : { 'if-none-match': '*' }),
    },
    body,
    signal: options.signal,
  });
  if (response.status === 201 || response.status === 204 || response.status === 200) {
    await response.body?.cancel();
    return response.status === 201 ? 'created' : 'replaced';
  }
  source.destroy();
  throw await client.failure(response, `PUT ${client.resource(path)}`);
}
