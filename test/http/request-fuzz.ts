/**
 * Request fuzzing with bodies: fast-check arbitraries of raw HTTP/1.1 requests (PUT bodies truncated,
 * oversize or with a wrong `Content-Length`, chunked or not; PROPFIND bodies of random XML, entity
 * tricks and deep nesting included; JSON bodies for the job resources; method and header overrides;
 * content codings and charsets; odd percent-encodings in paths), and a raw socket client that sends
 * them byte for byte and reads what comes back.
 *
 * A request may legitimately get no answer (the client stopped sending a body it announced and the
 * server closed the connection), or Node's own answer before the router sees it (`400` to an
 * unparseable request, `417` to an unknown `Expect`); everything the router answers must be a specified status, never a 500, carry the
 * `X-Personium-Version` header, and come before the hang limit.
 */
import { connect } from 'node:net';
import { gzipSync, deflateSync, brotliCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { ROOT_TOKEN } from '../helpers/auth.js';

/** Statuses the protocol specifies (docs/protocol.md). */
export const SPECIFIED = new Set([200, 201, 202, 204, 206, 207, 304, 400, 401, 403, 404, 405, 409, 412, 413, 415, 416, 501, 503]);

/** One raw request. */
export interface RawRequest {
  /** What the request is about, for the outcome tally: `put`, `propfind`, `job`. */
  readonly kind: string;
  /** The request line and headers, without the blank line. */
  readonly head: string;
  /** The body bytes sent after the blank line. */
  readonly body: Buffer;
  /** Whether the client half-closes after sending (its announced body may then be incomplete). */
  readonly halfClose: boolean;
}

/** What came back. */
export interface RawResponse {
  /** The status of the first response, or undefined if the connection closed without one. */
  readonly status?: number;
  /** Its header lines, lower-cased names. */
  readonly headers: Map<string, string>;
  /** Whether it is Node's own answer, the router never asked (a request its parser refused, an unknown `Expect`). */
  readonly fromParser: boolean;
}

const auth = fc.constantFrom(`Bearer ${ROOT_TOKEN}`, `Bearer ${ROOT_TOKEN}`, `Bearer ${ROOT_TOKEN}`, `Bearer ${ROOT_TOKEN}`, 'Bearer wrong', 'Basic Zm9vOmJhcg==', '');
const CELLS = ['bob', 'bob', 'alice', 'nobody'];
const NAMES = ['f.zip', 'f.zip', 'g.zip', 'a%20b.zip', '%2e%2e', '..%2Ff.zip', '%C0%AE%C0%AE', '%ZZ.zip', '%E3%81%82.zip', 'x'.repeat(260), 'f.zip%00', ''];
const methodsForOverride = ['GET', 'PUT', 'DELETE', 'PROPFIND', 'POST', 'HEAD', 'MKCOL', 'put', ' PUT', 'PUT\t'];
const token = fc.string({ unit: fc.constantFrom(...'aZ09-_.: ,;=*/"\'!'.split('')), maxLength: 40 });

/** `arbitrary`'s value one time in `oneIn`, else `''` (the header left out). */
const sometimes = (arbitrary: fc.Arbitrary<string>, oneIn: number): fc.Arbitrary<string> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant('') }, { weight: 1, arbitrary });

/** Headers every fuzzed request may carry (an empty value: the header is left out). */
const commonHeaders = fc.record({
  authorization: auth,
  'x-http-method-override': sometimes(fc.oneof(fc.constantFrom(...methodsForOverride), token), 4),
  'x-override': sometimes(fc.oneof(fc.constantFrom('Depth: 0', 'Depth: infinity', 'Content-Length: 0', 'Content-Type: text/xml', 'If-Match: *', 'Authorization: Bearer x', ':', 'X-Override: Depth: 1'), token), 4),
  'content-type': sometimes(fc.constantFrom('application/zip', 'application/xml; charset=utf-8', 'text/xml; charset=utf-16', 'application/json', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded'), 2),
  'content-encoding': sometimes(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-bogus', 'gzip, identity', 'IDENTITY'), 4),
  'accept-encoding': sometimes(fc.constantFrom('gzip', 'br;q=0', '*', 'identity;q=0, *;q=0'), 3),
  'if-match': sometimes(fc.constantFrom('*', '"x"', 'W/"x"', 'garbage'), 6),
  'if-none-match': sometimes(fc.constantFrom('*', '"x"'), 6),
  expect: sometimes(fc.constantFrom('100-continue', '100-continue', '100-continue', 'something'), 5),
  range: sometimes(fc.constantFrom('bytes=0-1', 'bytes=-5', 'bytes=5-1', 'lines=1-2'), 5),
  'content-range': sometimes(fc.constantFrom('bytes 0-1/2', 'bytes */5'), 8),
});

/** How the body is framed. */
type Framing = 'exact' | 'short' | 'long' | 'oversize' | 'chunked' | 'bad-chunked' | 'none';
const framing = fc.constantFrom<Framing>('exact', 'exact', 'short', 'long', 'oversize', 'chunked', 'bad-chunked', 'none');

/** Random XML: elements from the DAV and Personium vocabularies and beyond, with entities, CDATA, comments. */
const xmlNode: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('text', '&amp;', '&lt;', '&#65;', '&#x0;', '&#xD800;', '&#1114112;', '&undefined;', '&xxe;', '&lol9;', '<![CDATA[<x>]]>', '<!-- c -->', '<?pi x?>', ']]>', '<', '&'),
    fc
      .tuple(
        fc.constantFrom('propfind', 'D:propfind', 'prop', 'D:prop', 'allprop', 'propname', 'getetag', 'resourcetype', 'x:y', 'a', 'propfind xmlns="DAV:"', 'D:propfind xmlns:D="DAV:"', 'p:cellstatus xmlns:p="urn:x-personium:xmlns"'),
        fc.constantFrom('', ' a="1"', ' xmlns="DAV:"', ' xmlns:D="urn:other"', ' a="1" a="2"', ` b="${'v'.repeat(200)}"`, ' xml:lang="en"', ' c=\'&xxe;\''),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.boolean(),
      )
      .map(([name, attrs, children, close]) => {
        const tag = name.split(' ')[0] as string;
        return `<${name}${attrs}>${children.join('')}${close ? `</${tag}>` : ''}`;
      }),
  ),
})).node;

const DOCTYPES = [
  '',
  '<!DOCTYPE propfind [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
  '<!DOCTYPE propfind [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>',
  '<!DOCTYPE propfind SYSTEM "http://127.0.0.1:1/dtd">',
  '<!DOCTYPE x [<!ELEMENT x ANY>',
];

const xmlBody: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom('', '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>', '\ufeff', '<?xml version="2.0"?>'), fc.constantFrom(...DOCTYPES), fc.array(xmlNode, { minLength: 1, maxLength: 2 })).map(([prolog, doctype, nodes]) => Buffer.from(`${prolog}${doctype}${nodes.join('')}`)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => Buffer.from(`<propfind xmlns="DAV:">${'<a>'.repeat(n)}${'</a>'.repeat(n)}</propfind>`)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('\ufeff<propfind xmlns="DAV:"><allprop/></propfind>', 'utf16le')) },
);

const jsonBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ Name: fc.oneof(fc.constantFrom('f', 'g', 'a.b', '', '..', 'x'.repeat(300), '\u0000', 'f.zip'), fc.integer(), fc.constant(null)) }, { requiredKeys: [] }).map((v) => Buffer.from(JSON.stringify(v))),
  fc.json({ maxDepth: 3 }).map((text) => Buffer.from(text)),
  fc.constantFrom('{', '{"Name":"f"', '{"Name":"f"}{}', '\u0000', '', '{"Name":"\ud800"}').map((text) => Buffer.from(text)),
);

const putBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'), 'latin1')),
  fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.alloc(n, 0x5a)),
);

/** Compresses `body` as `coding` says, or leaves it raw (a lie) when `honest` is false. */
function encode(body: Buffer, coding: string | undefined, honest: boolean): Buffer {
  if (!honest || coding === undefined) return body;
  if (coding === 'gzip') return gzipSync(body);
  if (coding === 'deflate') return deflateSync(body);
  if (coding === 'br') return brotliCompressSync(body);
  return body;
}

/** Frames a body: headers to add and the bytes to send. */
function frame(body: Buffer, how: Framing, limit: number): { headers: string[]; bytes: Buffer; halfClose: boolean } {
  switch (how) {
    case 'exact':
      return { headers: [`Content-Length: ${body.length}`], bytes: body, halfClose: false };
    case 'short':
      // Declares fewer bytes than follow: the rest is read as the next request on the connection.
      return { headers: [`Content-Length: ${Math.floor(body.length / 2)}`], bytes: body, halfClose: true };
    case 'long':
      // Declares more than is sent, then stops sending.
      return { headers: [`Content-Length: ${body.length + 1 + (body.length % 1000)}`], bytes: body, halfClose: true };
    case 'oversize':
      return { headers: [`Content-Length: ${limit + 1 + (body.length % 7)}`], bytes: body, halfClose: true };
    case 'chunked': {
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; at += 1000) {
        const part = body.subarray(at, at + 1000);
        chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
      }
      chunks.push(Buffer.from('0\r\n\r\n'));
      return { headers: ['Transfer-Encoding: chunked'], bytes: Buffer.concat(chunks), halfClose: false };
    }
    case 'bad-chunked':
      return { headers: ['Transfer-Encoding: chunked'], bytes: Buffer.concat([Buffer.from('zz\r\n'), body.subarray(0, 10), Buffer.from('\r\n')]), halfClose: true };
    case 'none':
      return { headers: [], bytes: Buffer.alloc(0), halfClose: false };
  }
}

/** Requests with bodies, for a host whose PUT limit (`maxSnapshotBytes`) is `limit`. */
export function requestArbitrary(limit: number): fc.Arbitrary<RawRequest> {
  const path = (resource: fc.Arbitrary<string>): fc.Arbitrary<string> =>
    fc.tuple(fc.constantFrom(...CELLS), resource, fc.constantFrom('', '', '?a=1', '?%zz', '#x')).map(([cell, rest, query]) => `/${cell}/${rest}${query}`);
  const put = fc.record({
    kind: fc.constant('put'),
    method: fc.constantFrom('PUT', 'PUT', 'POST'),
    path: path(fc.constantFrom(...NAMES).map((name) => `__snapshot/${name}`)),
    body: putBody,
  });
  const propfind = fc.record({
    kind: fc.constant('propfind'),
    method: fc.constantFrom('PROPFIND', 'PROPFIND', 'POST', 'PROPPATCH'),
    path: path(fc.constantFrom('__snapshot', '__snapshot/', '__snapshot/f.zip', '__snapshot/%2e%2e')),
    body: xmlBody,
  });
  const job = fc.record({
    kind: fc.constant('job'),
    method: fc.constantFrom('POST', 'POST', 'GET', 'DELETE'),
    path: path(fc.constantFrom('__export', '__import', '__snapshot/f.zip')),
    body: jsonBody,
  });
  return fc
    .tuple(fc.oneof(put, propfind, job), commonHeaders, framing, fc.boolean(), fc.constantFrom('0', '1', 'infinity', ''))
    .map(([request, headers, how, honestCoding, depth]) => {
      const coding = headers['content-encoding'];
      const framed = frame(encode(request.body, coding === '' ? undefined : coding, honestCoding), how, limit);
      const lines = [
        `${request.method} ${request.path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Connection: close',
        ...(request.kind === 'propfind' && depth !== '' ? [`Depth: ${depth}`] : []),
        ...Object.entries(headers)
          .filter(([, value]) => value !== '')
          .map(([name, value]) => `${name}: ${value}`),
        ...framed.headers,
      ];
      return { kind: request.kind, head: lines.join('\r\n'), body: framed.bytes, halfClose: framed.halfClose };
    });
}

/** Sends a raw request; resolves with the first response (if any) once the server closes the connection. */
export function sendRaw(port: number, request: RawRequest, hangMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and the connection still open after ${hangMs} ms`));
    }, hangMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {
      // A reset after the server answered or gave up: what was read so far counts.
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks)));
    });
    socket.write(`${request.head}\r\n\r\n`);
    socket.write(request.body);
    if (request.halfClose) socket.end();
  });
}

function parse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1');
  // Skip interim 100 Continue answers.
  const start = text.search(/HTTP\/1\.1 (?!100 )\d{3}/);
  if (start < 0) return { headers: new Map(), fromParser: false };
  const end = text.indexOf('\r\n\r\n', start);
  const lines = text.slice(start, end < 0 ? undefined : end).split('\r\n');
  const status = Number(lines[0]?.slice(9, 12));
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  // Node's parser refusing a request: a bare status line and `Connection: close`. Node's answer to an
  // `Expect` other than `100-continue`: 417, without the router's headers.
  const fromParser =
    ([400, 413, 431].includes(status) && headers.size <= 1 && (headers.get('connection') ?? 'close') === 'close') ||
    (status === 417 && !headers.has('x-personium-version') && !headers.has('content-type'));
  return { status, headers, fromParser };
}

/** Checks one response; resolves with its outcome label, or throws saying what is wrong. */
export function judge(request: RawRequest, response: RawResponse): string {
  const { status } = response;
  if (status === undefined) return `${request.kind}: closed without an answer`;
  if (response.fromParser) return `${request.kind}: ${status} from Node`;
  if (!SPECIFIED.has(status)) throw new Error(`status ${status} is not specified`);
  if (!response.headers.has('x-personium-version')) throw new Error(`status ${status} without X-Personium-Version`);
  return `${request.kind}: ${status}`;
}
