/**
 * One HTTP request with Node's `http` / `https`, answered as a WHATWG `Response` whose body streams.
 * Names under `.localhost` resolve to the loopback address, as RFC 6761 asks and curl does, so a
 * host-mode unit on this machine (`http://alice.localhost:8080/`) is reachable without a hosts file.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One request. */
export interface HttpRequest {
  /** The method, e.g. `PROPFIND`. */
  readonly method: string;
  /** The headers, sent as given. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body: none, text, or a stream piped into the request. */
  readonly body?: string | ReadableStream<Uint8Array> | undefined;
  /** Aborts the request and its answer's body. */
  readonly signal?: AbortSignal | undefined;
}

/** Resolves `*.localhost` to loopback and everything else as the system does. */
const lookup = ((hostname: string, options: LookupOptions, callback: (...args: unknown[]) => void): void => {
  if (!hostname.toLowerCase().endsWith('.localhost')) {
    dnsLookup(hostname, options, callback as never);
    return;
  }
  const loopback: LookupAddress = options.family === 6 ? { address: '::1', family: 6 } : { address: '127.0.0.1', family: 4 };
  if (options.all === true) callback(null, [loopback]);
  else callback(null, loopback.address, loopback.family);
}) as LookupFunction;

/** Statuses whose answer has no body. */
const NO_BODY = new Set([101, 204, 205, 304]);

function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

/** Sends the request; resolves with the answer once its head arrived, rejects when it cannot be sent. */
export function send(url: URL, init: HttpRequest): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = make(url, { method: init.method, headers: init.headers, lookup, ...(init.signal === undefined ? {} : { signal: init.signal }) });
    request.on('error', reject);
    request.on('response', (message) => {
      const status = message.statusCode ?? 0;
      const noBody = NO_BODY.has(status) || init.method === 'HEAD';
      if (noBody) message.resume();
      resolve(
        new Response(noBody ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>), {
          status,
          statusText: message.statusMessage ?? '',
          headers: headersOf(message),
        }),
      );
    });
    const body = init.body;
    if (body === undefined || typeof body === 'string') {
      request.end(body);
      return;
    }
    pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), request).catch((error: unknown) => {
      request.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
}
