/**
 * The one error class family and the one code catalogue (listed in `docs/protocol.md`, Errors).
 *
 * Every error the module answers with is a {@link PersoniumError}: a real `Error` with a stable
 * Personium code, the HTTP status taken from the code's three digits, and a message built from the
 * catalogue template. One function renders them (`http/render-errors.ts`).
 */

/** The message template of every code the module can answer with. `{0}`, `{1}` are parameters. */
export const ERROR_CODES = {
  'PR400-CM-0001': 'Required key [{0}] missing.',
  'PR400-CM-0002': 'Field [{0}] format error. Must be [{1}].',
  'PR400-CM-0004': 'JSON parse error. [{0}].',
  'PR400-DV-0001': 'XML parse error.',
  'PR400-DV-0003': 'Invalid depth header value:[{0}].',
  'PR400-EV-0002': 'Request header is invalid [X-Personium-RequestKey].',
  'PR400-MC-0001': '[{0}] does not exist in the snapshot file.',
  'PR400-MC-0003': 'Version of the snapshot file is invalid. Expected [2] but was [{0}].',
  'PR400-MC-0004': 'The specified snapshot file is not zip file.',
  'PR400-SN-0001': 'Snapshot file name is invalid. [{0}]',
  'PR400-SN-0002': 'Snapshot file is unsafe. [{0}]',
  'PR400-SN-0003': 'Snapshot integrity check failed. [{0}]',
  'PR400-SN-0004': 'Partial upload is not supported. Send the whole snapshot file, without Content-Range.',
  'PR401-AU-0001': 'Authorization required.',
  'PR401-AU-0002': 'Access token expired.',
  'PR401-AU-0003': 'Invalid authentication scheme.',
  'PR401-AU-0004': 'Basic auth format error.',
  'PR401-AU-0006': 'Token parse error.',
  'PR401-AU-0007': 'Can not access with refresh token.',
  'PR401-AU-0008': 'Token dsig error.',
  'PR401-AU-0009': 'Authentication failed.',
  'PR401-AU-0010': 'Authentication failed.',
  'PR401-AU-0011': 'Authentication failed.',
  'PR403-AU-0002': 'Necessary privilege is lacking.',
  'PR403-DV-0001': 'Infinite depth is not supported.',
  'PR404-DV-0001': 'Resource not found. [{0}].',
  'PR404-DV-0003': 'Cell not found.',
  'PR404-MC-0001': 'URI is not recognized.',
  'PR405-MC-0001': 'Method not allowed.',
  'PR409-CM-0002': 'Because [{0}] is being executed, writing to cell can not be done.',
  'PR409-DV-0002': 'File [{0}] already exists.',
  'PR409-SN-0001': 'No [{0}] is running.',
  'PR409-SN-0002': '[{0}] was cancelled.',
  'PR412-DV-0001': 'ETag does not match.',
  'PR412-SN-0001': 'Snapshot file was modified after the If-Unmodified-Since date.',
  'PR413-SN-0001': 'Snapshot file exceeds the size limit of [{0}] bytes.',
  'PR415-SN-0001': 'Content coding is not supported. Send the snapshot file without Content-Encoding.',
  'PR416-DV-0001': 'Requested range not satisfiable.',
  'PR500-SN-0001': '[{0}] was interrupted.',
  'PR500-SV-0000': 'Unknown error.',
  'PR501-MC-0001': 'Method not implemented.',
  'PR503-SN-0001': 'The [{0}] is not writable (read-only or permission denied).',
  'PR503-SN-0002': 'The [{0}] is not available (its storage directory is missing).',
  'PR503-SN-0003': 'The [{0}] is out of memory.',
  'PR503-SV-0001': 'Too many concurrent requests.',
  'PR503-SV-0003': 'Server error. (Lock Manager) Data lock state unknown.',
  'PR507-SN-0001': 'Insufficient storage: the [{0}] has no space left (disk full or quota exceeded).',
} as const;

/** A code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of every error response, and of a `{Name}.error` file. */
export interface ErrorBody {
  /** The Personium code, e.g. `PR409-DV-0002`. */
  code: string;
  /** The message, always in English. */
  message: { lang: 'en'; value: string };
}

/** Options of a {@link PersoniumError}. */
export interface PersoniumErrorOptions {
  /** The underlying error, kept for the host's `onError` hook; never sent to a client. */
  cause?: unknown;
  /** Extra response headers, e.g. `Allow`, `Retry-After`, `WWW-Authenticate`, `Content-Range`. */
  headers?: Record<string, string>;
}

/** Fills `{0}`, `{1}`… of a template. */
function format(template: string, params: readonly unknown[]): string {
  return template.replace(/\{(\d+)\}/g, (whole, index: string) => {
    const value = params[Number(index)];
    return value === undefined ? whole : String(value);
  });
}

/**
 * An error with a Personium code. `status` is the three digits after `PR`; `expose` is true below
 * 500, so a 5xx never reaches a client with anything but its catalogue message.
 */
export class PersoniumError extends Error {
  /** The stable Personium code. */
  readonly code: ErrorCode;
  /** The HTTP status. */
  readonly status: number;
  /** Whether the message may be shown to a client (true below 500). */
  readonly expose: boolean;
  /** Extra response headers. */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @param code - a catalogue code.
   * @param params - the template parameters, in order.
   * @param options - cause and extra headers.
   */
  constructor(code: ErrorCode, params: readonly unknown[] = [], options: PersoniumErrorOptions = {}) {
    super(format(ERROR_CODES[code], params), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PersoniumError';
    this.code = code;
    this.status = Number(code.slice(2, 5));
    this.expose = this.status < 500;
    this.headers = options.headers ?? {};
  }

  /** The Personium JSON body of this error. */
  toJSON(): ErrorBody {
    return { code: this.code, message: { lang: 'en', value: this.message } };
  }
}

/** Whether a value is a {@link PersoniumError}. */
export function isPersoniumError(value: unknown): value is PersoniumError {
  return value instanceof PersoniumError;
}

/**
 * The body to record for any failure: a PersoniumError's own body, or `PR500-SV-0000` for anything
 * else (never an internal message).
 */
export function errorBody(error: unknown): ErrorBody {
  return isPersoniumError(error) ? error.toJSON() : new PersoniumError('PR500-SV-0000').toJSON();
}
