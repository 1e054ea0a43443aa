import test from 'ava';
import fc from 'fast-check';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { send } from '../helpers/http.js';
import { startServer } from '../helpers/server.js';
import { fuzzRequests } from './request-fuzz-host.js';
import { assertVariety } from '../fuzz/run-fuzz.js';

const SPECIFIED = new Set([200, 201, 202, 204, 206, 207, 304, 400, 401, 403, 404, 405, 409, 412, 413, 416, 501, 503]);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'REPORT', 'PATCH', 'MOVE', 'COPY'];
const SEGMENTS = ['alice', 'bob', 'nobody', '__export', '__import', '__snapshot', 'a.zip', '..', '.', '%2F', '%00', '%E3%81%82', 'x'.repeat(300), ''];
const headerText = fc.string({ unit: fc.constantFrom(...'aZ09-_.: ,;=*/\\"\'!'.split('')), maxLength: 140 });

test('random methods, paths and headers only ever get specified statuses, never a 500', async (t) => {
  const server = await startServer(t, 'root');
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...METHODS),
      fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }),
      fc.record(
        {
          'x-personium-requestkey': headerText,
          'x-http-method-override': fc.oneof(fc.constantFrom(...METHODS), headerText),
          'x-override': fc.array(headerText, { maxLength: 3 }),
          authorization: fc.oneof(fc.constant(`Bearer ${ROOT_TOKEN}`), headerText),
          depth: fc.oneof(fc.constantFrom('0', '1', 'infinity'), headerText),
          range: fc.oneof(fc.constant('bytes=0-1'), headerText),
          'if-match': headerText,
        },
        { requiredKeys: [] },
      ),
      async (method, segments, headers) => {
        const res = await send(`${server.origin}/${segments.join('/')}`, method, { headers });
        if (!SPECIFIED.has(res.status)) return false;
        const ours = res.headers['x-personium-version'] !== undefined;
        if (res.status >= 400 && ours && method !== 'HEAD') {
          const body = res.json<{ code: string }>();
          if (!/^PR\d{3}-[A-Z]{2}-\d{4}$/.test(body.code) || body.code.slice(2, 5) !== String(res.status)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass('every response was specified');
});

test('random requests with bodies (PUT framing, PROPFIND XML, JSON, overrides, codings): never a 500, never a hang, the version header on every answer', async (t) => {
  const outcomes = await fuzzRequests(t, { seed: 16, numRuns: 200, file: 'test/http/fuzz.test.ts' });
  assertVariety(t, outcomes, 11);
});
