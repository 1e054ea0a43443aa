import { DOMParser, type Element } from '@xmldom/xmldom';
import test from 'ava';
import { renderMultistatus } from '../../lib/webdav/multistatus.js';
import { escapeXml } from '../../lib/webdav/xml-text.js';

const DAV = 'DAV:';

function parseStrict(xml: string) {
  return new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(xml, 'application/xml');
}

function child(parent: Element, local: string): Element {
  const found = parent.getElementsByTagNameNS(DAV, local)[0];
  if (found === undefined) throw new Error(`no DAV:${local}`);
  return found;
}

test('escapeXml escapes markup and replaces characters XML cannot carry', (t) => {
  t.is(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;');
  t.is(escapeXml('tab\tnl\ncr\r'), 'tab\tnl\ncr\r');
  t.is(escapeXml('nul\u0000bell\u0007\ud800'), 'nul\ufffdbell\ufffd\ufffd');
  t.is(escapeXml('日本語 ✓ 😀'), '日本語 ✓ 😀');
});

test('a multistatus with a collection and a file parses namespace-aware, every value intact', (t) => {
  const created = new Date(Date.UTC(2017, 1, 15, 1, 52, 34, 635));
  const modified = new Date(Date.UTC(2017, 1, 16, 2, 3, 4, 5));
  const xml = renderMultistatus([
    { href: 'https://u.example/c/__snapshot', props: { created, modified, collection: true } },
    {
      href: 'https://u.example/c/__snapshot/a%26b%3Cc%3E.zip',
      props: {
        created,
        modified,
        collection: false,
        contentLength: 2_000_000,
        contentType: 'application/x-"odd"; a=<b>&c',
        etag: '"1-2-abc"',
      },
    },
  ]);
  t.true(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<multistatus xmlns="DAV:">'));
  const doc = parseStrict(xml);
  const root = doc.documentElement;
  if (root === null) return t.fail('no root');
  t.is(root.namespaceURI, DAV);
  t.is(root.localName, 'multistatus');
  const responses = Array.from(root.getElementsByTagNameNS(DAV, 'response'));
  t.is(responses.length, 2);
  const [collection, file] = responses as [Element, Element];
  t.is(child(collection, 'href').textContent, 'https://u.example/c/__snapshot');
  t.is(child(collection, 'creationdate').textContent, '2017-02-15T01:52:34.635Z');
  t.is(child(collection, 'getlastmodified').textContent, 'Thu, 16 Feb 2017 02:03:04 GMT');
  t.is(child(child(collection, 'resourcetype'), 'collection').namespaceURI, DAV);
  t.is(collection.getElementsByTagNameNS(DAV, 'getetag').length, 0);
  t.is(child(child(collection, 'propstat'), 'status').textContent, 'HTTP/1.1 200 OK');
  t.is(child(file, 'href').textContent, 'https://u.example/c/__snapshot/a%26b%3Cc%3E.zip');
  t.is(child(file, 'getcontentlength').textContent, '2000000');
  t.is(child(file, 'getcontenttype').textContent, 'application/x-"odd"; a=<b>&c');
  t.is(child(file, 'getetag').textContent, '"1-2-abc"');
  t.is(child(file, 'resourcetype').childNodes.length, 0);
  t.is(child(child(file, 'propstat'), 'status').textContent, 'HTTP/1.1 200 OK');
});
