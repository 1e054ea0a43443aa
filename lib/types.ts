/**
 * The adapter contracts and the options of koa-cell-snapshot: the single source of truth for every
 * type the package exposes. Every adapter method documents what it resolves to, what it rejects
 * with and what it must guarantee; the contract-test suites of `koa-cell-snapshot/contract`
 * (`lib/contract/`) check exactly that.
 */
import type { Readable, Writable } from 'node:stream';
import type { Context } from 'koa';
import type { ErrorBody } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Cells and their data
// ---------------------------------------------------------------------------------------------

/** The identity of a cell, as the cell data source knows it. */
export interface CellInfo {
  /** The cell's unique id (Personium: 32 hex characters); keys the snapshot area and the jobs. */
  readonly id: string;
  /** The cell's name, as it appears in its URL. */
  readonly name: string;
  /** The owner, in `personium-localunit:` form, when the cell has one. */
  readonly owner?: string;
}

/** The 16 OData entity types of a snapshot, in the order of the snapshot layout (`docs/protocol.md`). */
export type ODataType =
  | 'Box'
  | 'Account'
  | 'ExtCell'
  | 'Role'
  | 'Rule'
  | 'Relation'
  | 'SentMessage'
  | 'ReceivedMessage'
  | 'ExtRole'
  | 'EntityType'
  | 'ComplexType'
  | 'Property'
  | 'ComplexTypeProperty'
  | 'AssociationEnd'
  | 'UserData'
  | 'link';

/**
 * One OData record in Personium's Elasticsearch wrapper: one line of a `.pjson` file, or the whole
 * of `10_odata/00_cell.json`. Serialised with the keys in this order.
 */
export interface ODataRecord {
  /** The physical index name; informational, import ignores it. */
  _index: string;
  /** The entity type (`Cell` for the cell record). */
  _type: string;
  /** The stored document: `s`, `h`, `d`, `p`, `u`, `c`, `b`, `n`, `t`, `l`… as Personium stores them. */
  _source: Record<string, unknown>;
  /** The record id. */
  _id: string;
}

/** The `.pmeta` metadata of a WebDAV resource (`i`, `t`, `a`, `d`, `p`, `u`, `ct`, `cl`, `et`, `v`…). */
export type DavMeta = Record<string, unknown>;

/** The plaintext content of a WebDAV file resource. */
export interface DavContent {
  /** Its length in bytes. */
  readonly size: number;
  /** Opens a fresh stream of exactly `size` bytes. Called at most once, when the writer reaches it. */
  open(): Promise<Readable>;
  /**
   * The whole content, exactly `size` bytes, when the view already holds it in memory (a small file
   * it read with the metadata). Optional: when present the writer uses it and never calls
   * {@link DavContent.open}, which saves a stream per small file.
   */
  readonly bytes?: Buffer | undefined;
}

/**
 * One WebDAV resource of a cell: a folder of the snapshot's `20_webdav/` tree, holding `.pmeta` and,
 * for a file, `content`.
 */
export interface DavNode {
  /**
   * The path below the cell's WebDAV root, `/`-separated, no leading or trailing slash: `''` is the
   * cell root, `__` the main box, `__/photos/a.jpg` a file in it. Segments are never `''`, `.` or `..`.
   */
  readonly path: string;
  /** The resource's metadata. */
  readonly meta: DavMeta;
  /** The content, for a file resource; absent for a collection. */
  readonly content?: DavContent;
}

/** Sizes of an export view; they weight the progress. */
export interface ExportTotals {
  /** The number of OData records in all 16 types (the cell record not included). */
  readonly records: number;
  /** The number of WebDAV resources. */
  readonly davNodes: number;
  /** The sum of the content sizes of all WebDAV files, in bytes. */
  readonly bytes: number;
}

/**
 * A consistent, read-only view of one cell for the time of an export. Everything is streamed: no
 * method may load a whole type or the whole tree into memory.
 */
export interface ExportView {
  /**
   * The sizes of what the view holds: known when the view opens, or a promise of them for a view
   * that counts while the export already reads (the Fs source counts its WebDAV tree on a worker
   * thread meanwhile). The export's progress stays at 0% until they are known; a rejection fails the
   * export.
   */
  readonly totals: ExportTotals | Promise<ExportTotals>;
  /** Resolves to the cell record (`10_odata/00_cell.json`, `_type` `Cell`). */
  cellRecord(): Promise<ODataRecord>;
  /** Yields every record of one type, in a stable order. An empty type yields nothing. */
  records(type: ODataType): AsyncIterable<ODataRecord>;
  /**
   * Optional: yields the records of one type as {@link ExportView.records} does, as `.pjson` text:
   * pieces of whole UTF-8 lines, each line exactly `recordJson` of one record
   * (`{"_index":…,"_type":…,"_source":…,"_id":…}`, no white space, keys of `_source` as
   * `JSON.stringify` writes them) and `\n`, in the same order. When present, the export calls it
   * instead of `records` and copies the lines into the snapshot as they are: a source that stores
   * `.pjson` text (as the Fs one does) then costs no serialising and no `await` per record. The
   * export checks only that each piece ends with a `\n`, so the lines must be checked records.
   */
  recordLines?(type: ODataType): AsyncIterable<Buffer>;
  /**
   * Yields every WebDAV resource, the cell root (`''`) first, parents before their children and
   * siblings sorted by name (code-unit order).
   */
  dav(): AsyncIterable<DavNode>;
  /** Releases the view. Always called, once, after the export finished, failed or was cancelled. */
  close(): Promise<void>;
}

/** One WebDAV resource as an import writes it. */
export interface DavImportNode {
  /** As {@link DavNode.path}. */
  readonly path: string;
  /** As {@link DavNode.meta}. */
  readonly meta: DavMeta;
  /**
   * The content of a file resource, verified while it flows: the stream errors (with a
   * `PR400-SN-0003` {@link PersoniumError}) instead of ending when the bytes are not the ones the
   * snapshot promised, so the transaction must treat a stream error as a failure of `putDav`.
   */
  readonly content?: Readable;
}

/**
 * An import into one cell that replaces its whole content, all or nothing. Calls come in this
 * order: `putCellRecord`, `putRecords` (or `putRecordLines`) for each of the 16 types (each
 * awaited before the next), `putDav` for each resource (parents first), then exactly one of
 * `commit` or `rollback`.
 * Nothing is visible to readers of the cell until `commit` resolves.
 */
export interface ImportTransaction {
  /** Stages the cell record. Its identity (`_id`, `Name`, `Owner`) is already the target's. */
  putCellRecord(record: ODataRecord): Promise<void>;
  /** Stages every record of one type; consumes the iterable to its end, with backpressure. */
  putRecords(type: ODataType, records: AsyncIterable<ODataRecord>): Promise<void>;
  /**
   * Optional: stages every record of one type as {@link ImportTransaction.putRecords} does, given
   * as `.pjson` text: pieces of whole UTF-8 lines, each line one record as the module writes it
   * (`{"_index":…,"_type":…,"_source":…,"_id":…}`, already checked and carrying the target's
   * identity) and `\n`. Consumes the iterable to its end, with backpressure. When present, the
   * import calls it instead of `putRecords`: a transaction that stores `.pjson` text as it is (as
   * the Fs one does) then costs no object and no `await` per record.
   */
  putRecordLines?(type: ODataType, lines: AsyncIterable<Buffer>): Promise<void>;
  /** Stages one WebDAV resource; resolves after its content was consumed entirely. */
  putDav(node: DavImportNode): Promise<void>;
  /**
   * Makes the staged content the cell's content, atomically: after a crash at any point the cell is
   * either entirely the old one or entirely the new one. Rejects if that could not be done, in which
   * case the cell is unchanged.
   */
  commit(): Promise<void>;
  /** Discards everything staged; the cell is exactly as before. Never rejects for a missing stage. */
  rollback(): Promise<void>;
}

/** Where the module finds cells and their content. */
export interface CellDataSource {
  /** Resolves to the cell of that name, or `undefined` when there is none. */
  getCell(name: string): Promise<CellInfo | undefined>;
  /**
   * Opens a consistent export view of the cell. `signal` aborts when the export is cancelled; the
   * view's iterables should then stop promptly.
   */
  openExport(cell: CellInfo, signal: AbortSignal): Promise<ExportView>;
  /** Begins an import transaction into the cell. `signal` aborts when the import is cancelled. */
  beginImport(cell: CellInfo, signal: AbortSignal): Promise<ImportTransaction>;
}

// ---------------------------------------------------------------------------------------------
// The snapshot area
// ---------------------------------------------------------------------------------------------

/** A complete file of a cell's snapshot area. */
export interface SnapshotInfo {
  /** The file name (one path segment, e.g. `backup.zip`). */
  readonly name: string;
  /** Its length in bytes. */
  readonly size: number;
  /** A strong ETag, quotes included (e.g. `"1-1669806000000"`); it changes with every write. */
  readonly etag: string;
  /** The content type it was stored with. */
  readonly contentType: string;
  /** When the name was first created. */
  readonly created: Date;
  /** When the content was last replaced. */
  readonly modified: Date;
}

/** An inclusive byte range, `0 <= start <= end < size`. */
export interface ByteRange {
  /** The first byte. */
  readonly start: number;
  /** The last byte, inclusive. */
  readonly end: number;
}

/** Preconditions checked atomically when an upload is committed or a file deleted. */
export interface WriteConditions {
  /**
   * Succeed only if the current file's ETag is listed (with or without the `W/` prefix, as Personium
   * compares), or with `*` if a file exists.
   */
  readonly ifMatch?: string;
  /** `*`: succeed only if no file of that name exists; a list of ETags: only if none is the current one. */
  readonly ifNoneMatch?: string;
}

/** An upload in progress, invisible to every reader until committed. */
export interface SnapshotUpload {
  /**
   * Where the bytes go. It errors with a `PR413-SN-0001` {@link PersoniumError} as soon as more
   * than the upload's `maxBytes` were written, and nothing is kept.
   */
  readonly stream: Writable;
  /**
   * Makes the written bytes the file's content, atomically, once the stream has finished: readers see
   * the old file or the new one, never a mix. Rejects with `PR412-DV-0001` when a condition fails
   * (and discards the upload). Resolves with the new file and whether the name was created.
   */
  commit(conditions?: WriteConditions): Promise<{ info: SnapshotInfo; created: boolean }>;
  /** Discards the upload; the previous file, if any, is untouched. Safe to call more than once. */
  abort(): Promise<void>;
}

/** Options of {@link SnapshotStore.write}. */
export interface SnapshotWriteOptions {
  /** The content type to keep with the file. */
  readonly contentType: string;
  /** The size limit enforced while streaming. Unlimited when absent. */
  readonly maxBytes?: number;
}

/**
 * The per-cell snapshot area, keyed by cell id. A store that runs out of space or cannot be written
 * rejects with its storage fault (`classifyStorageError` or `storageFault`, e.g. `PR507-SN-0001`), so
 * that requests and `{Name}.error` say what happened.
 */
export interface SnapshotStore {
  /** Resolves to the complete files of the cell's area, sorted by name; uploads in progress are absent. */
  list(cellId: string): Promise<SnapshotInfo[]>;
  /** Resolves to one complete file, or `undefined`. */
  stat(cellId: string, name: string): Promise<SnapshotInfo | undefined>;
  /**
   * Streams a file, or the inclusive `range` of it. Resolves to `undefined` when there is no such
   * file. A range that is not `0 <= start <= end < size` (integers; so any range of an empty file)
   * rejects with a `PR416-DV-0001` {@link PersoniumError}: the GET route takes that as "the file
   * shrank meanwhile" and looks again, so any other error there would answer 500.
   */
  read(cellId: string, name: string, range?: ByteRange): Promise<Readable | undefined>;
  /** Starts an atomic upload. */
  write(cellId: string, name: string, options: SnapshotWriteOptions): Promise<SnapshotUpload>;
  /**
   * Deletes a file. Resolves `true` when it was deleted, `false` when there was none; rejects with
   * `PR412-DV-0001` when `conditions.ifMatch` fails.
   */
  delete(cellId: string, name: string, conditions?: WriteConditions): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Authentication and events
// ---------------------------------------------------------------------------------------------

/** The credentials of one request, as the pipeline extracts them (`docs/protocol.md`, Authentication). */
export interface AuthRequest {
  /** The cell addressed. */
  readonly cell: CellInfo;
  /** The cell's URL, ending in `/`. */
  readonly cellUrl: string;
  /** The `Authorization` header (after `X-Override`), when sent. */
  readonly authorization?: string;
  /** The `p_cookie_peer` query parameter, only when no `Authorization` was sent. */
  readonly cookiePeer?: string;
  /** The `p_cookie` cookie, only together with a non-empty `cookiePeer`. */
  readonly cookie?: string;
}

/** Who is calling, and what they may do. */
export interface Principal {
  /** The caller, as it goes to the event log (e.g. an account URL). */
  readonly subject: string;
  /** The cell privileges granted; the module requires `root`. */
  readonly privileges: readonly string[];
}

/**
 * Turns credentials into a principal. Resolves to `undefined` for an anonymous caller; rejects with a
 * {@link PersoniumError} carrying a 401 code (`PR401-AU-0002` expired, `-0006` parse error, `-0009`
 * bad cookie…) for credentials it refuses. Any other rejection answers 500.
 */
export interface AuthVerifier {
  /** Verifies one request's credentials. */
  verify(request: AuthRequest): Promise<Principal | undefined>;
}

/** One event record (`docs/protocol.md`, Events). */
export interface CellEvent {
  /** When it happened, ISO 8601 UTC. */
  readonly dateTime: string;
  /** `INFO` for accepted and completed, `WARN` for cancelled, `ERROR` for failed and interrupted. */
  readonly level: 'INFO' | 'WARN' | 'ERROR';
  /** The key of the request that started the job. */
  readonly requestKey: string;
  /** Always false: the event comes from the module itself. */
  readonly external: false;
  /** The schema (app) of the caller, when known; `null` otherwise. */
  readonly schema: string | null;
  /** The principal's subject. */
  readonly subject: string | null;
  /** `cell.export` or `cell.import`. */
  readonly type: 'cell.export' | 'cell.import';
  /** `personium-localcell:/__export` or `personium-localcell:/__import`. */
  readonly object: 'personium-localcell:/__export' | 'personium-localcell:/__import';
  /** `accepted`, `completed`, `failed {code}`, `cancelled` or `interrupted`. */
  readonly info: string;
  /** The cell's id (an extension, for loggers shared between cells). */
  readonly cellId: string;
}

/** Receives events. It may throw or never settle: the module isolates it. */
export interface EventLogger {
  /** Records one event. */
  log(event: CellEvent): void | Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

/** The two kinds of job. At most one job of either kind runs on a cell. */
export type JobKind = 'export' | 'import';

/** What a caller asks the job store to start. */
export interface JobRequest {
  /** The cell's id. */
  readonly cellId: string;
  /** Export or import. */
  readonly kind: JobKind;
  /** The snapshot name, without `.zip`. */
  readonly name: string;
  /** The key of the accepting request. */
  readonly requestKey: string;
  /** The caller's subject. */
  readonly subject: string | null;
}

/** A job as the job store holds it. */
export interface JobRecord extends JobRequest {
  /** The fencing token of this run: renew and finish must present it. Unique per claim. */
  readonly token: string;
  /** When it was accepted, ISO 8601 UTC with milliseconds (`2017-02-13T09:00:00.000Z`). */
  readonly startedAt: string;
  /** Integer percent, 0-99 while running, never decreasing. */
  readonly progress: number;
  /** Epoch ms after which the job counts as dead unless renewed. */
  readonly leaseExpiresAt: number;
  /** Whether a cancel was requested (from any instance); the holder learns it from `renew`. */
  readonly cancelRequested: boolean;
}

/** A failed import, kept until the next import of the cell is accepted. */
export interface ImportFailure {
  /** The snapshot name. */
  readonly name: string;
  /** When the failed import was accepted. */
  readonly startedAt: string;
  /** Its last progress. */
  readonly progress: number;
  /** Why it failed. */
  readonly error: ErrorBody;
}

/** What the job store knows of one cell. */
export interface CellJobState {
  /** The job holding the cell, live or with an expired lease (compare `leaseExpiresAt`). */
  readonly running?: JobRecord;
  /** The last import's failure, until the next import is accepted. */
  readonly importFailure?: ImportFailure;
}

/** The answer to {@link JobStore.claim}. */
export type ClaimResult =
  /** The cell is now held by the new job. */
  | { readonly status: 'claimed'; readonly job: JobRecord }
  /** A job with a live lease holds the cell. */
  | { readonly status: 'busy'; readonly job: JobRecord }
  /** A job whose lease expired holds the cell: reap it, then claim again. */
  | { readonly status: 'expired'; readonly job: JobRecord }
  /** The cell is free, but `maxRunning` live jobs run already. */
  | { readonly status: 'limit' };

/** Options of {@link JobStore.claim}. */
export interface ClaimOptions {
  /** The lease length in ms. */
  readonly leaseMs: number;
  /** The global limit of live jobs across all cells. */
  readonly maxRunning: number;
}

/**
 * The job state machine's storage. Every method is atomic with respect to every other call, from any
 * process sharing the store: two claims of one cell never both succeed, a renew or finish with a
 * stale token never changes anything. Times are the store's own clock (`Date.now()` for local
 * stores, the server's for a shared one). Implementations must pass the `jobStoreContract` suite of
 * `koa-cell-snapshot/contract`. Faults of the storage behind it reject with a storage fault
 * (`classifyStorageError` or `storageFault`: full `PR507-SN-0001`, not writable `PR503-SN-0001`, out
 * of memory `PR503-SN-0003`).
 */
export interface JobStore {
  /**
   * Claims the cell for a new job with a fresh lease. For an import it also clears the cell's
   * {@link ImportFailure}. Never throws for a held cell: the result says why it was not claimed.
   * Rejects with a `RangeError` when `leaseMs` is not a positive number or `maxRunning` is negative.
   */
  claim(request: JobRequest, options: ClaimOptions): Promise<ClaimResult>;
  /**
   * Extends the lease of the job holding `token` and records its progress (kept if lower than the
   * stored one; floored to an integer, at most 99). Resolves to the renewed job (whose
   * `cancelRequested` tells the holder to stop), or `undefined`, changing nothing, when the token no
   * longer holds the cell or its lease already expired. Rejects with a `RangeError` when `leaseMs` is
   * not a positive number.
   */
  renew(cellId: string, token: string, progress: number, leaseMs: number): Promise<JobRecord | undefined>;
  /**
   * Marks the live job of that kind holding the cell as cancel-requested. Resolves to the marked
   * job, or `undefined` when no live job of that kind holds the cell.
   */
  requestCancel(cellId: string, kind: JobKind): Promise<JobRecord | undefined>;
  /**
   * Ends the job holding `token` while its lease is live, freeing the cell. With `failure` on an
   * import, records the {@link ImportFailure}. Resolves `false`, changing nothing, otherwise.
   */
  finish(cellId: string, token: string, failure?: ErrorBody): Promise<boolean>;
  /**
   * Ends the job holding `token` only if its lease has expired (its worker died), as `finish` does.
   * Exactly one of any number of concurrent reapers resolves `true`.
   */
  reap(cellId: string, token: string, failure?: ErrorBody): Promise<boolean>;
  /** Resolves to what the store holds for the cell. */
  get(cellId: string): Promise<CellJobState>;
  /** Resolves to the number of jobs with a live lease, over all cells. */
  countRunning(): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** How a cell's URL is formed. */
export type CellUrlMode =
  /** `https://unit.example/{prefix}/{cell}/`. */
  | 'path'
  /** `https://{cell}.{host}/{prefix}/`: the cell is the first label of `Host` below `host`. */
  | { readonly host: string };

/** Limits; every one has a default. */
export interface LimitOptions {
  /** Jobs running at once over all cells; above it POST answers 503. Default 4. */
  readonly maxRunningJobs?: number;
  /** Largest snapshot file a PUT may store, in bytes. Default 10 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Most entries a snapshot may hold. Default 1,000,000. */
  readonly maxEntries?: number;
  /** Largest total of declared uncompressed sizes, in bytes. Default 64 GiB. */
  readonly maxUncompressedBytes?: number;
  /**
   * Largest ratio of a snapshot's total uncompressed size to its size, for snapshots that expand
   * beyond 1 GiB (a compression bomb). Default 200.
   */
  readonly maxCompressionRatio?: number;
  /** Longest `.pjson` line, in bytes. Default 16 MiB. */
  readonly maxLineBytes?: number;
  /** Largest PROPFIND or POST body, in bytes. Default 64 KiB. */
  readonly maxRequestBodyBytes?: number;
}

/** Lease timing of running jobs. */
export interface LeaseOptions {
  /** How long a job stays live without a renewal, in ms. Default 30,000. */
  readonly ttlMs?: number;
  /** How often a running job renews its lease, in ms; less than `ttlMs`. Default 10,000. */
  readonly renewMs?: number;
}

/** Options of {@link createCellSnapshotRouter}. */
export interface CellSnapshotOptions {
  /** How cell URLs are formed. */
  readonly cellUrl: CellUrlMode;
  /** Where cells and their content come from. */
  readonly cells: CellDataSource;
  /** The snapshot areas. */
  readonly snapshots: SnapshotStore;
  /** Verifies credentials. */
  readonly auth: AuthVerifier;
  /** The job store. Default: a `MemoryJobStore`, which warns once that it serves one process only. */
  readonly jobs?: JobStore;
  /** Receives export and import events. Default: none. */
  readonly events?: EventLogger;
  /** A path prefix the routes live under, e.g. `/api`. Default none. */
  readonly prefix?: string;
  /** The `X-Personium-Version` header. Default: the package version. */
  readonly version?: string;
  /**
   * CORS style: `any` answers `Access-Control-Allow-Origin: *` (the documented behaviour, default);
   * `echo` echoes the request `Origin` with `Access-Control-Allow-Credentials: true` (what
   * Personium's code does).
   */
  readonly cors?: 'any' | 'echo';
  /** The `unit_url` written into manifests. Default: the request's origin plus `/`. */
  readonly unitUrl?: string;
  /** Limits. */
  readonly limits?: LimitOptions;
  /** Lease timing. */
  readonly lease?: LeaseOptions;
  /**
   * Called with every unexpected error (one answered `PR500-SV-0000`, or a job failure that was not
   * a {@link PersoniumError}). Default: `console.error`.
   */
  readonly onError?: (error: unknown, ctx?: Context) => void;
}
