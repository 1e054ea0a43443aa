import test from 'ava';
import { parseIntegrityList, parseManifest, parseRecord } from '../../lib/snapshot/snapshot-json.js';

const sha = 'a'.repeat(64);

test('the integrity list: sha256 entries, each path once, never itself; anything else PR400-SN-0003 naming the list', (t) => {
  t.deepEqual(parseIntegrityList(JSON.stringify({ algorithm: 'sha256', entries: [{ path: 'a', size: 1, sha256: sha }] })), [
    { path: 'a', size: 1, sha256: sha },
  ]);
  const refused = (value: unknown): void => {
    const error = t.throws(() => parseIntegrityList(typeof value === 'string' ? value : JSON.stringify(value)));
    t.is((error as { code?: string } | undefined)?.code, 'PR400-SN-0003');
    t.is(error?.message, 'Snapshot integrity check failed. [99_integrity.json]');
  };
  refused({ algorithm: 'md5', entries: [] });
  refused({ algorithm: 'sha256', entries: [{ path: 'a', size: -1, sha256: sha }] });
  refused({ algorithm: 'sha256', entries: [{ path: 'a', size: 1, sha256: 'A'.repeat(64) }] });
  refused({ algorithm: 'sha256', entries: [{ path: 'a', size: 1, sha256: sha }, { path: 'a', size: 1, sha256: sha }] });
  refused({ algorithm: 'sha256', entries: [{ path: '99_integrity.json', size: 1, sha256: sha }] });
  t.throws(() => parseIntegrityList('not json'), { code: 'PR400-CM-0004' });
});

test('the manifest: export_version 2 or PR400-MC-0003 with the value; missing fields defaulted', (t) => {
  t.deepEqual(parseManifest(Buffer.from('{"export_version":2,"unit_url":"https://u/","create_date":5}')), {
    export_version: 2,
    unit_url: 'https://u/',
    create_date: 5,
  });
  t.deepEqual(parseManifest(Buffer.from('{"export_version":2}')), { export_version: 2, unit_url: '', create_date: 0 });
  t.throws(() => parseManifest(Buffer.from('{"export_version":"2"}')), { code: 'PR400-MC-0003', message: /\["2"\]/ });
  t.throws(() => parseManifest(Buffer.from('{}')), { code: 'PR400-MC-0003', message: /\[null\]/ });
  t.throws(() => parseManifest(Buffer.from('[]')), { code: 'PR400-CM-0004' });
});

test('records: PR400-CM-0004 quoting the text', (t) => {
  t.deepEqual(parseRecord('{"_index":"u","_type":"Box","_id":"b","_source":{}}'), { _index: 'u', _type: 'Box', _id: 'b', _source: {} });
  t.throws(() => parseRecord('{"_index":"u"}'), { code: 'PR400-CM-0004', message: 'JSON parse error. [{"_index":"u"}].' });
});
