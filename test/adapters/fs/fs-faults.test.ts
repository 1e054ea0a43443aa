import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { fsFault } from '../../../lib/adapters/fs/fs-faults.js';
import { FsSnapshotStore } from '../../../lib/adapters/fs/snapshot-store.js';
import { PersoniumError } from '../../../lib/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const enoent = (): NodeJS.ErrnoException => Object.assign(new Error("ENOENT: no such file or directory, rename '/x'"), { code: 'ENOENT' });

test('ENOENT is the store directory vanished only when it did; errno faults are classified either way', async (t) => {
  const dir = await tempDir(t);
  const present = enoent();
  t.is(await fsFault(present, 'snapshot area', dir), present, 'a missing file in a present directory is no storage fault');
  const missing = await fsFault(enoent(), 'snapshot area', join(dir, 'gone'));
  t.true(missing instanceof PersoniumError);
  t.is((missing as PersoniumError).code, 'PR503-SN-0002');
  t.is((missing as PersoniumError).message, 'The [snapshot area] is not available (its storage directory is missing).');
  const full = await fsFault(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 'job store', dir);
  t.is((full as PersoniumError).code, 'PR507-SN-0001');
});

test('an upload whose cell directory vanished before the commit: 503 PR503-SN-0002; the next write creates it again', async (t) => {
  const root = await tempDir(t);
  const store = new FsSnapshotStore({ root });
  const upload = await store.write('cell-1', 'a.zip', { contentType: 'application/zip' });
  upload.stream.end(Buffer.from('content'));
  await rm(root, { recursive: true });
  const error = await t.throwsAsync(upload.commit(), { instanceOf: PersoniumError });
  t.is(error?.code, 'PR503-SN-0002');
  t.is(error?.status, 503);
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT', 'the cause is kept');
  const again = await store.write('cell-1', 'a.zip', { contentType: 'application/zip' });
  again.stream.end(Buffer.from('content'));
  t.true((await again.commit()).created);
  t.is((await store.stat('cell-1', 'a.zip'))?.size, 'content'.length);
});
