/**
 * Real CellDataSource wrappers for tests: they delegate to the real source and only slow it down or
 * make it fail at a chosen point, to observe running jobs, cancels and failures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CellDataSource, CellInfo, DavNode, ExportView, ImportTransaction, ODataRecord, ODataType } from '../../lib/types.js';

/** How a wrapper behaves. */
export interface WrapOptions {
  /** Delay before each WebDAV resource and each record batch of the export and import, in ms. */
  readonly delayMs?: number;
  /** Throw this after that many WebDAV resources of the export. */
  readonly failExportAfter?: { readonly nodes: number; readonly error: Error };
  /** Make the import's commit reject with this. */
  readonly failCommit?: Error;
  /** Delay each import `putDav` by this many ms. */
  readonly importDelayMs?: number;
  /** The export's WebDAV tree starts only once this resolves. */
  readonly exportGate?: Promise<void>;
  /** The export view's totals: a promise that rejects with this (as a failed count would). */
  readonly failTotals?: Error;
}

async function* gated<T>(items: AsyncIterable<T>, gate: Promise<void>): AsyncIterable<T> {
  await gate;
  yield* items;
}

async function* paced<T>(items: AsyncIterable<T>, delayMs: number, signal: AbortSignal): AsyncIterable<T> {
  for await (const item of items) {
    if (delayMs > 0) await sleep(delayMs, undefined, { signal });
    yield item;
  }
}

async function* failing(nodes: AsyncIterable<DavNode>, after: number, error: Error): AsyncIterable<DavNode> {
  let count = 0;
  for await (const node of nodes) {
    if (count === after) throw error;
    count += 1;
    yield node;
  }
}

/** Wraps a real source. */
export function wrapCells(inner: CellDataSource, options: WrapOptions): CellDataSource {
  const delay = options.delayMs ?? 0;
  return {
    getCell: (name: string) => inner.getCell(name),
    async openExport(cell: CellInfo, signal: AbortSignal): Promise<ExportView> {
      const view = await inner.openExport(cell, signal);
      return {
        totals: options.failTotals === undefined ? view.totals : Promise.reject(options.failTotals),
        cellRecord: () => view.cellRecord(),
        records: (type: ODataType): AsyncIterable<ODataRecord> => paced(view.records(type), delay, signal),
        dav: (): AsyncIterable<DavNode> => {
          const pacedNodes = paced(view.dav(), delay, signal);
          const nodes = options.exportGate === undefined ? pacedNodes : gated(pacedNodes, options.exportGate);
          const fail = options.failExportAfter;
          return fail === undefined ? nodes : failing(nodes, fail.nodes, fail.error);
        },
        close: () => view.close(),
      };
    },
    async beginImport(cell: CellInfo, signal: AbortSignal): Promise<ImportTransaction> {
      const tx = await inner.beginImport(cell, signal);
      const importDelay = options.importDelayMs ?? 0;
      return {
        putCellRecord: (record) => tx.putCellRecord(record),
        putRecords: (type, records) => tx.putRecords(type, records),
        async putDav(node) {
          if (importDelay > 0) await sleep(importDelay, undefined, { signal });
          await tx.putDav(node);
        },
        async commit() {
          if (options.failCommit !== undefined) throw options.failCommit;
          await tx.commit();
        },
        rollback: () => tx.rollback(),
      };
    },
  };
}
