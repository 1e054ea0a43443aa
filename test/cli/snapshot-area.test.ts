import test from 'ava';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { S3SnapshotStore } from '../../lib/adapters/s3/snapshot-store.js';
import { openSnapshotArea, parseS3Url } from '../../lib/cli/snapshot-area.js';

test('s3://bucket/prefix: the prefix always ends with one slash, or is empty', (t) => {
  t.deepEqual(parseS3Url('s3://b-1'), { bucket: 'b-1', prefix: '' });
  t.deepEqual(parseS3Url('s3://b-1/'), { bucket: 'b-1', prefix: '' });
  t.deepEqual(parseS3Url('s3://b-1/snap'), { bucket: 'b-1', prefix: 'snap/' });
  t.deepEqual(parseS3Url('s3://b-1/a/b/'), { bucket: 'b-1', prefix: 'a/b/' });
  t.throws(() => parseS3Url('s3:///x'), { message: /expected s3:\/\/bucket\/prefix/ });
});

test('a directory opens an FsSnapshotStore; an S3 URL an S3SnapshotStore on the environment\'s endpoint', async (t) => {
  const fs = await openSnapshotArea('some/dir', {});
  t.true(fs.store instanceof FsSnapshotStore);
  t.regex(fs.where, /some\/dir$/);
  const s3 = await openSnapshotArea('s3://bucket/pre', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
  t.teardown(() => s3.close());
  t.true(s3.store instanceof S3SnapshotStore);
  t.is((s3.store as S3SnapshotStore).prefix, 'pre/');
  t.is(s3.where, 's3://bucket/pre/ at http://127.0.0.1:9');
});
