/**
 * An export of more than 1 GiB into S3 (S3SnapshotStore on s3rver, multipart upload of 8 MiB parts),
 * the host in its own process sampling its RSS every 10 ms: the peak growth stays flat, no larger for
 * a 2.2 GB cell than for a 100 MB one. `npm run test:slow -- test/e2e/s3-export.slow.test.ts`
 * (`KCS_S3_EXPORT_MB` sets the large cell's size in MB).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import avaTest from 'ava';
import { makeCell } from '../../bench/make-cell.js';
import { S3SnapshotStore } from '../../lib/adapters/s3/snapshot-store.js';
import { collect } from '../../lib/contract/snapshot-store.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellIdOf } from '../helpers/cell-digest.js';
import { startChild } from '../helpers/child.js';
import { send } from '../helpers/http.js';
import { s3Server } from '../helpers/s3-server.js';
import { makeDataDir } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const test = avaTest;
const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
const MiB = 1024 * 1024;

test('an export of over 1 GiB into S3 keeps the server RSS flat', async (t) => {
  const [s3, dataDir] = await Promise.all([s3Server(t), makeDataDir(t)]);
  const prefix = `export-${randomUUID()}/`;
  await makeCell(join(dataDir, 'cells'), 'small', 100);
  await makeCell(join(dataDir, 'cells'), 'large', Number(process.env['KCS_S3_EXPORT_MB'] ?? 2200));
  const child = await startChild(t, dataDir, { REPORT_RSS: '1', LEASE_TTL_MS: '30000', LEASE_RENEW_MS: '1000', S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket, S3_PREFIX: prefix });
  const rss = async (method: 'GET' | 'DELETE') => (await send(`${child.origin}/__rss`, method)).json<{ rss: number; peak: number }>();
  const store = new S3SnapshotStore({ client: s3.client(t), bucket: s3.bucket, prefix });
  const exportOf = async (cell: string, name: string) => {
    const base = await rss('DELETE');
    const started = Date.now();
    t.is((await child.request('POST', cell, '__export', { headers, body: JSON.stringify({ Name: name }) })).status, 202);
    await waitFor(
      async () => (await child.request('GET', cell, '__export', { headers })).json<{ status: string }>().status === 'ready',
      480_000,
      500,
    );
    const seconds = (Date.now() - started) / 1000;
    const { peak } = await rss('GET');
    const id = await cellIdOf(dataDir, cell);
    const info = await store.stat(id, `${name}.zip`);
    if (info === undefined) {
      const error = await store.read(id, `${name}.error`);
      t.fail(`${name}.zip is not in S3: ${error === undefined ? 'no .error either' : (await collect(error)).toString()}`);
    }
    return { size: info?.size ?? 0, base: base.rss, peak, seconds };
  };
  await exportOf('alice', 'warm-up');
  const small = await exportOf('small', 'small');
  const large = await exportOf('large', 'large');
  for (const [what, m] of [['100 MB', small], ['2.2 GB', large]] as const) {
    t.log(
      `${what} cell: ${(m.size / MiB).toFixed(0)} MiB zip in S3 in ${m.seconds.toFixed(0)} s; server RSS ` +
        `${(m.base / MiB).toFixed(1)} → peak ${(m.peak / MiB).toFixed(1)} MiB (+${((m.peak - m.base) / MiB).toFixed(1)})`,
    );
  }
  t.true(large.size >= 1024 * MiB, `${large.size} bytes`);
  // A server that held the archive, or its parts, would grow with it; this one grows by two parts
  // (16 MiB) and what the collector has not reclaimed, the same for ten times the data.
  t.true(large.peak - large.base < 128 * MiB, `+${large.peak - large.base} bytes`);
});
