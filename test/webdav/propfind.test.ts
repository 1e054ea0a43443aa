import test from 'ava';
import { PersoniumError } from '../../lib/errors.js';
import { checkPropfindBody, parseDepth } from '../../lib/webdav/propfind.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof PersoniumError ? `${error.code} ${error.message}` : `not a PersoniumError: ${String(error)}`;
  }
}

test('Depth: 0 and 1 only; missing → DV-0003 [null]; infinity → 403 DV-0001', (t) => {
  t.is(parseDepth('0'), 0);
  t.is(parseDepth('1'), 1);
  t.is(codeOf(() => parseDepth(undefined)), 'PR400-DV-0003 Invalid depth header value:[null].');
  for (const value of ['', '2', '01', '1, 1', 'one', '-1']) {
    t.is(codeOf(() => parseDepth(value)), `PR400-DV-0003 Invalid depth header value:[${value}].`, value);
  }
  for (const value of ['infinity', 'Infinity', 'INFINITY']) {
    t.is(codeOf(() => parseDepth(value)), 'PR403-DV-0001 Infinite depth is not supported.', value);
  }
});

const accepted = [
  '',
  '  \r\n ',
  '<propfind xmlns="DAV:"/>',
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n',
  '\ufeff<propfind xmlns="DAV:"><prop><getetag/><getcontentlength/></prop></propfind>',
  '<propfind xmlns="DAV:"><propname/></propfind>',
  '<!-- a comment --><a:propfind xmlns:a="DAV:" xmlns:p="urn:x-personium:xmlns"><a:prop><p:cellstatus/></a:prop></a:propfind>',
  '<propfind xmlns="DAV:"><prop><x xmlns="urn:x">&amp;&lt;&#65;&#x42;<![CDATA[& raw <x>]]></x></prop></propfind>',
];

test('well-formed propfind bodies in the DAV: namespace are accepted (and their content ignored)', (t) => {
  for (const body of accepted) t.notThrows(() => checkPropfindBody(Buffer.from(body)), JSON.stringify(body));
});

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<propfind xmlns="DAV:"><prop><lol>&lol9;</lol></prop></propfind>`;

const rejected: Array<[string, string | Buffer]> = [
  ['billion laughs', BILLION_LAUGHS],
  ['external entity', '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><propfind xmlns="DAV:">&x;</propfind>'],
  ['parameter entity', '<!DOCTYPE p [<!ENTITY % x SYSTEM "http://127.0.0.1:1/x.dtd"> %x;]><propfind xmlns="DAV:"/>'],
  ['doctype alone', '<!DOCTYPE propfind><propfind xmlns="DAV:"/>'],
  ['lower-case doctype', '<!doctype propfind><propfind xmlns="DAV:"/>'],
  ['undeclared entity', '<propfind xmlns="DAV:">&lol;</propfind>'],
  ['bare ampersand', '<propfind xmlns="DAV:">a & b</propfind>'],
  ['unclosed', '<propfind xmlns="DAV:"><prop>'],
  ['mismatched', '<propfind xmlns="DAV:"><prop></allprop></propfind>'],
  ['two roots', '<propfind xmlns="DAV:"/><propfind xmlns="DAV:"/>'],
  ['text after the root', '<propfind xmlns="DAV:"/> junk'],
  ['text before the root', 'junk <propfind xmlns="DAV:"/>'],
  ['not XML', '{"propfind":true}'],
  ['no namespace', '<propfind/>'],
  ['another namespace', '<propfind xmlns="urn:not-dav"/>'],
  ['undeclared prefix', '<D:propfind xmlns:X="DAV:"/>'],
  ['another root', '<propertyupdate xmlns="DAV:"/>'],
  ['repeated attribute', '<propfind xmlns="DAV:" a="1" a="2"/>'],
  ['invalid UTF-8', Buffer.from([0x3c, 0x70, 0xff, 0xfe, 0x3e])],
];

test('malformed or hostile bodies → 400 PR400-DV-0001', (t) => {
  for (const [label, body] of rejected) {
    t.is(codeOf(() => checkPropfindBody(Buffer.isBuffer(body) ? body : Buffer.from(body))), 'PR400-DV-0001 XML parse error.', label);
  }
});
