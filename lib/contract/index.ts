/**
 * The contract-test suites every adapter implementation must pass, for ava. An implementer runs
 * them on their own adapter:
 *
 * ```ts
 * import test from 'ava';
 * import { jobStoreContract } from 'koa-cell-snapshot/contract';
 * jobStoreContract(test, async (t) => new MyJobStore(...));
 * ```
 */
export { cellDataSourceContract, type MakeCellDataSource } from './cell-data-source.js';
export { jobStoreContract, type MakeJobStore } from './job-store.js';
export { snapshotStoreContract, type MakeSnapshotStore } from './snapshot-store.js';
