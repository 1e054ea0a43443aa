import test from 'ava';
import { checkName, defaultExportName } from '../../lib/cli/names.js';
import { UsageError } from '../../lib/cli/usage.js';

test("the default export name is Personium's {cell}_yyyyMMdd_HHmmss in UTC", (t) => {
  t.is(defaultExportName('alice', new Date('2026-12-02T09:05:07.123Z')), 'alice_20261202_090507');
});

test('--name: 1 to 192 of A-Z a-z 0-9 - _, else a usage error', (t) => {
  t.is(checkName('nightly-2_b'), 'nightly-2_b');
  t.throws(() => checkName('../x'), { instanceOf: UsageError, message: '--name must be 1 to 192 of A-Z a-z 0-9 - _, got ../x' });
  t.throws(() => checkName('x'.repeat(193)), { instanceOf: UsageError });
});
