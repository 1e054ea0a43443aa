/** koa-cell-snapshot: Personium-compatible cell export, import and snapshot area for Koa. */
export { createCellSnapshotRouter, type CellSnapshotRouter } from './router.js';
export { PersoniumError, ERROR_CODES, errorBody, isPersoniumError, type ErrorBody, type ErrorCode, type PersoniumErrorOptions } from './errors.js';
export { DEFAULT_LIMITS, DEFAULT_LEASE } from './options.js';
export {
  STORAGE_FAULT_CODES,
  classifyStorageError,
  classifying,
  isStorageFault,
  storageFault,
  systemFaultKind,
  type FaultRule,
  type StorageFaultKind,
  type StoreRole,
} from './storage-faults.js';
export type * from './types.js';
export { FsCellDataSource, type FsCellDataSourceOptions } from './adapters/fs/cell-data-source.js';
export type { FsImportTransaction } from './adapters/fs/import-transaction.js';
export { FsSnapshotStore, type FsSnapshotStoreOptions } from './adapters/fs/snapshot-store.js';
export { FsJobStore, type FsJobStoreOptions } from './adapters/fs/job-store.js';
export { MemoryJobStore, type MemoryJobStoreOptions } from './adapters/memory/job-store.js';
export { RedisJobStore, type RedisJobStoreOptions } from './adapters/redis/job-store.js';
export type { RedisClientLike, RedisEvalOptions, RedisCommandOptionsLike } from './adapters/redis/client.js';
export { staticTokenAuth, type StaticTokenAuthOptions } from './adapters/auth/static-token.js';
export { S3SnapshotStore, DEFAULT_PART_SIZE, type S3SnapshotStoreOptions } from './adapters/s3/snapshot-store.js';
export type { S3ClientLike } from './adapters/s3/client.js';
