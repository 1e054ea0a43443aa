/**
 * How many GETs reading a 100,000-entry snapshot out of S3 costs: the snapshot is written by the
 * export writer straight into an S3SnapshotStore (on s3rver), then read entirely (every record,
 * every WebDAV node and its content) through the store's ranged reads, as an import reads it. The
 * GETs are counted from the client's middleware stack.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { S3SnapshotStore } from '../../../lib/adapters/s3/snapshot-store.js';
import { ODATA_TYPES } from '../../../lib/snapshot/format.js';
import { openSnapshot } from '../../../lib/snapshot/reader.js';
import { storeSource } from '../../../lib/snapshot/source.js';
import { writeSnapshot } from '../../../lib/snapshot/writer.js';
import { recordRequests, s3Server } from '../../helpers/s3-server.js';
import { type DavData, memoryView } from '../../helpers/view.js';
import { drain } from '../../snapshot/zip-tools.js';

const CELL = '0123456789abcdef0123456789abcdef';

test('reading a 100,000-entry snapshot from S3 takes a few hundred GETs, not one per entry', async (t) => {
  const s3 = await s3Server(t);
  const client = s3.client(t);
  const sent = recordRequests(client);
  const store = new S3SnapshotStore({ client, bucket: s3.bucket, prefix: `reads-${randomUUID()}/` });
  const dav: DavData[] = [{ path: '', meta: { t: 'Cell' } }];
  for (let i = 0; i < 50_000; i += 1) dav.push({ path: `f${i}`, meta: { i }, content: `content of file ${i}` });
  const upload = await store.write(CELL, 'many.zip', { contentType: 'application/zip' });
  await writeSnapshot(memoryView({ dav }), upload.stream, { unitUrl: 'https://unit.example/', createDate: 1669806000000 });
  const { info } = await upload.commit();

  sent.length = 0;
  const source = await storeSource(store, CELL, 'many.zip');
  if (source === undefined) throw new Error('missing');
  const reader = await openSnapshot(source);
  const afterOpen = sent.filter((r) => r.command === 'GetObjectCommand').length;
  let records = 0;
  for (const type of ODATA_TYPES) for await (const _ of reader.records(type)) records += 1;
  let nodes = 0;
  for await (const node of reader.dav()) {
    if (node.content !== undefined) await drain(node.content);
    nodes += 1;
  }
  await reader.close();
  const gets = sent.filter((r) => r.command === 'GetObjectCommand');
  const bytes = gets.reduce((sum, r) => {
    const [, start = '0', end = '0'] = /bytes=(\d+)-(\d+)/.exec(r.headers['range'] ?? '') ?? [];
    return sum + Number(end) - Number(start) + 1;
  }, 0);
  t.log(
    `${reader.totals.entries} entries, ${info.size} bytes: ${afterOpen} GETs to open, ${gets.length} GETs in all ` +
      `(${(bytes / info.size).toFixed(2)}x the file's bytes), ${sent.length - gets.length} other requests`,
  );
  t.true(reader.totals.entries >= 100_000, `${reader.totals.entries} entries`);
  t.is(nodes, 50_001);
  t.true(records >= 0);
  t.true(gets.length < 1_000, `${gets.length} GETs`);
  t.true(gets.every((r) => /^bytes=\d+-\d+$/.test(r.headers['range'] ?? '')), 'every GET is ranged');
});
