/** A small HTTP client for tests: any method, repeated header lines, raw bytes back. */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** What a test request may carry. */
export interface RequestOptions {
  /** Headers; an array value sends one header line per element. */
  readonly headers?: OutgoingHttpHeaders;
  /** A body, as bytes, text or a stream. */
  readonly body?: string | Buffer | Readable;
}

/** A complete response. */
export interface TestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body as text. */
  readonly text: string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

/** Sends one request and reads the whole response. */
export function send(url: string, method: string, options: RequestOptions = {}): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: <T>() => JSON.parse(text) as T });
      });
    });
    req.on('error', reject);
    const { body } = options;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}
