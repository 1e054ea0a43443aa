/**
 * The command line's HTTP client for one cell: the cell URL (path or host mode), the credentials
 * (`Authorization: Bearer` or Personium's `p_cookie_peer` + `p_cookie`), and errors that say what
 * to do. It relies only on Personium's wire format, so it works against a Personium unit too.
 * Credentials never appear in a message.
 */
import { send } from './http.js';
import { UsageError } from './usage.js';

/** How the command authenticates. */
export type Credentials =
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'cookie'; readonly peer: string; readonly cookie: string }
  | { readonly kind: 'none' };

/** Options of one request to a cell. */
export interface CellRequest {
  /** Request headers (lower-case names); the credentials are added by the client. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The body: text, or a stream (then `content-length` should be among the headers). */
  readonly body?: string | ReadableStream<Uint8Array>;
  /** Aborts the request, and the reading of its answer. */
  readonly signal?: AbortSignal;
}

/** A Personium error body, or what could be read of an answer that is none. */
interface ErrorBody {
  readonly code?: string;
  readonly message?: { readonly value?: string };
}

/** An answer that is not the expected one: its status, the Personium code and a sentence on what to do. */
export class RemoteError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The Personium code (`PR401-AU-0006`), when the answer had one. */
  readonly code: string | undefined;

  /** An error for an answer with `status` and `code`; `message` is the whole text printed. */
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The cell URL a user typed, normalized to end in `/`; a usage error when it is not an http(s) URL. */
export function cellUrlOf(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: ${text} (a cell URL is http://host/{cell}/ or http://{cell}.host/)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`not an http(s) URL: ${text}`);
  if (url.username !== '' || url.password !== '') throw new UsageError('put no credentials in the cell URL: use --token or TOKEN');
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** The cell's name as the URL shows it: the last path segment (path mode), else the first host label. */
export function cellNameOf(url: URL): string {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  return decodeURIComponent(segments.at(-1) ?? url.hostname.split('.')[0] ?? 'cell');
}

const seconds = (value: string | null): number | undefined => {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
};

/** The `Retry-After` of an answer in whole seconds, when it has one in that form. */
export function retryAfterOf(response: Response): number | undefined {
  return seconds(response.headers.get('retry-after'));
}

/** One cell of a unit, with credentials. */
export class CellClient {
  /** The cell URL, ending in `/`, without credentials. */
  readonly url: URL;
  readonly #credentials: Credentials;

  /** A client of the cell at `url` (from {@link cellUrlOf}) that sends `credentials` with every request. */
  constructor(url: URL, credentials: Credentials) {
    this.url = url;
    this.#credentials = credentials;
  }

  /** The URL of a resource of the cell, as printed (without the cookie peer). */
  resource(path: string): string {
    return new URL(path, this.url).href;
  }

  /** Sends one request to `{cell}{path}`; rejects only when the server cannot be reached. */
  async request(method: string, path: string, init: CellRequest = {}): Promise<Response> {
    const url = new URL(path, this.url);
    const headers: Record<string, string> = { ...init.headers };
    const credentials = this.#credentials;
    if (credentials.kind === 'bearer') headers['authorization'] = `Bearer ${credentials.token}`;
    if (credentials.kind === 'cookie') {
      url.searchParams.set('p_cookie_peer', credentials.peer);
      headers['cookie'] = `p_cookie=${credentials.cookie}`;
    }
    try {
      return await send(url, { method, headers, body: init.body, signal: init.signal });
    } catch (error) {
      if (init.signal?.aborted === true) throw init.signal.reason;
      throw unreachable(this.url, error);
    }
  }

  /** Sends a request and reads its JSON answer; any status but `expected` is a {@link RemoteError}. */
  async json<T>(method: string, path: string, expected: readonly number[], init: CellRequest = {}): Promise<{ body: T; response: Response }> {
    const response = await this.request(method, path, init);
    if (!expected.includes(response.status)) throw await this.failure(response, `${method} ${this.resource(path)}`);
    const text = await response.text();
    try {
      return { body: (text === '' ? {} : JSON.parse(text)) as T, response };
    } catch {
      throw new RemoteError(response.status, undefined, `${method} ${this.resource(path)} answered ${response.status} with a body that is not JSON: is ${this.url.href} a Personium-compatible cell URL?`);
    }
  }

  /** The error for an unexpected answer: status, Personium code and message, and what to do. */
  async failure(response: Response, what: string): Promise<RemoteError> {
    let body: ErrorBody = {};
    try {
      body = JSON.parse(await response.text()) as ErrorBody;
    } catch {
      // not a Personium error body: the status alone speaks
    }
    const code = typeof body.code === 'string' ? body.code : undefined;
    const said = code === undefined ? `${response.status}` : `${response.status} ${code} ${body.message?.value ?? ''}`.trimEnd();
    const hint = hintFor(response, code, this.#credentials, this.url);
    return new RemoteError(response.status, code, `${what} failed: ${said}${hint === '' ? '' : `\n  ${hint}`}`);
  }
}

/** What to do about an answer, in one sentence. */
function hintFor(response: Response, code: string | undefined, credentials: Credentials, url: URL): string {
  const status = response.status;
  if (status === 401) {
    if (credentials.kind === 'none') return 'no credentials were sent: pass --token, or set TOKEN (or --cookie-peer and --cookie for Personium cookie auth)';
    if (code === 'PR401-AU-0002') return 'the token has expired: get a new one and pass it with --token or TOKEN';
    return 'the server refused the credentials: check --token or TOKEN (or --cookie-peer and --cookie), and that they are for this unit';
  }
  if (status === 403) return `the credentials lack the privilege root on the cell ${url.href}: use a token of its owner or one granted root`;
  if (status === 404 && code === 'PR404-DV-0003') return `there is no cell at ${url.href}: check the URL (path mode http://host/{cell}/, host mode http://{cell}.host/)`;
  if (status === 404 && code === undefined) return `nothing Personium-like answered at ${url.href}: check the cell URL and any path prefix`;
  if (status === 409 && code === 'PR409-CM-0002') return `a job is running on the cell: wait for it to end (koa-cell-snapshot status ${url.href}) and run the command again`;
  if (status === 409 && code === 'PR409-DV-0002') return 'a snapshot of that name already exists in the cell\'s snapshot area: pick another --name';
  if (status === 412) return 'a snapshot of that name already exists in the target\'s snapshot area: pass --replace to overwrite it, or pick another --name';
  if (status === 413) return 'the snapshot is larger than the server accepts: ask its operator to raise the limit';
  if (status === 503) {
    const after = retryAfterOf(response);
    return `the server is busy (too many jobs or its job store is away): try again${after === undefined ? ' later' : ` in ${after} s`}`;
  }
  if (status >= 300 && status < 400) return `the server redirects to ${response.headers.get('location') ?? 'elsewhere'}: use that cell URL`;
  return '';
}

/** The error for a server that cannot be reached, with its cause in plain words. */
function unreachable(url: URL, error: unknown): Error {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause ?? (error as { code?: string; message?: string });
  const code = cause.code ?? '';
  const why =
    code === 'ECONNREFUSED' ? 'connection refused: is the server running, on that port?'
    : code === 'ENOTFOUND' ? `unknown host ${url.hostname}`
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'the connection was reset'
    : cause.message ?? String(error);
  return Object.assign(new Error(`cannot reach ${url.origin}: ${why}`), { retryable: true });
}
