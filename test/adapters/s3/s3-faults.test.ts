import test from 'ava';
import { s3FaultKind } from '../../../lib/adapters/s3/s3-faults.js';

test('S3 errors that mean no room are full, a denied write is not-writable, the rest are no storage fault', (t) => {
  const named = (name: string): Error => Object.assign(new Error(name), { name });
  for (const name of ['EntityTooLarge', 'XMinioStorageFull', 'QuotaExceeded', 'XMinioAdminBucketQuotaExceeded']) {
    t.is(s3FaultKind(named(name)), 'full', name);
  }
  t.is(s3FaultKind(named('AccessDenied')), 'not-writable');
  t.is(s3FaultKind({ Code: 'EntityTooLarge' }), 'full', 'the Code of a parsed error body');
  for (const name of ['SlowDown', 'NoSuchBucket', 'InternalError', 'Error']) t.is(s3FaultKind(named(name)), undefined, name);
  t.is(s3FaultKind(undefined), undefined);
  t.is(s3FaultKind('EntityTooLarge'), undefined);
});
