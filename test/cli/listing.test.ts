import test from 'ava';
import { parseListing } from '../../lib/cli/listing.js';

test('a PROPFIND Depth 1 multistatus of the snapshot area, prefixed as Personium writes it: the files, sorted, without the collection', (t) => {
  const xml = `<?xml version="1.0" encoding="utf-8" ?>
<multistatus xmlns="DAV:"><response><href>https://unit.example/alice/__snapshot</href><propstat><prop>
<creationdate>2026-12-01T00:00:00.000Z</creationdate><resourcetype><collection/></resourcetype></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<D:response xmlns:D="DAV:"><D:href>https://unit.example/alice/__snapshot/b%20c.error</D:href><D:propstat><D:prop>
<D:getcontentlength>88</D:getcontentlength><D:getcontenttype>application/json</D:getcontenttype><D:resourcetype/></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<response><href>https://unit.example/alice/__snapshot/a.zip</href>
<propstat><prop><getetag>&quot;1-2&quot;</getetag></prop><status>HTTP/1.1 404 Not Found</status></propstat>
<propstat><prop><getcontentlength>2049384</getcontentlength><getlastmodified>Wed, 02 Dec 2026 03:17:22 GMT</getlastmodified>
<getetag>&quot;1-1796181442423-fab2f0b8&quot;</getetag><getcontenttype>application/zip</getcontenttype><resourcetype/></prop>
<status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`;
  t.deepEqual(parseListing(xml), [
    { name: 'a.zip', size: 2049384, contentType: 'application/zip', lastModified: 'Wed, 02 Dec 2026 03:17:22 GMT', etag: '"1-1796181442423-fab2f0b8"' },
    { name: 'b c.error', size: 88, contentType: 'application/json', lastModified: undefined, etag: undefined },
  ]);
});
