/**
 * PROPFIND requests: the `Depth` header (required, `0` or `1`) and the optional body, which must be
 * one well-formed `propfind` element in the `DAV:` namespace. The body is checked, never obeyed: the
 * answer is always allprop.
 *
 * The body is untrusted XML. Document type declarations are refused outright (so no entity can be
 * declared, expanded or fetched: no billion laughs, no external entities), only the five predefined
 * and numeric character references are accepted, and fast-xml-parser runs with entity processing off.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PersoniumError } from '../errors.js';

/** A PROPFIND depth this module serves. */
export type Depth = 0 | 1;

/**
 * Parses the `Depth` header: `0` or `1`. Missing or anything else: 400 `PR400-DV-0003` with the
 * value (`null` when missing); `infinity` (any case): 403 `PR403-DV-0001`.
 */
export function parseDepth(value: string | undefined): Depth {
  if (value === '0') return 0;
  if (value === '1') return 1;
  if (value !== undefined && value.trim().toLowerCase() === 'infinity') throw new PersoniumError('PR403-DV-0001');
  throw new PersoniumError('PR400-DV-0003', [value ?? 'null']);
}

/** The error of every unacceptable body. */
function xmlError(): PersoniumError {
  return new PersoniumError('PR400-DV-0001');
}

/** A document type or entity declaration, anywhere. */
const DECLARATION = /<!\s*(?:DOCTYPE|ENTITY)/i;
/** Sections where `&` is literal text. */
const LITERAL_SECTIONS = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g;
/** An `&` that does not start a predefined or numeric character reference. */
const BAD_REFERENCE = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  preserveOrder: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  parseAttributeValue: false,
});

/** One node of fast-xml-parser's `preserveOrder` output. */
type OrderedNode = Record<string, unknown>;

function isNode(value: unknown): value is OrderedNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes UTF-8 strictly (a byte-order mark is dropped); `undefined` for invalid bytes. */
function decodeUtf8(body: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    return undefined;
  }
}

/**
 * Checks an optional PROPFIND body. An empty (or all-whitespace) body is fine. Otherwise it must be
 * UTF-8, free of document type declarations and unknown entity references, well-formed, with exactly
 * one root element, which is `propfind` in the `DAV:` namespace (default or prefixed). Throws 400
 * `PR400-DV-0001` otherwise.
 */
export function checkPropfindBody(body: Buffer): void {
  const text = decodeUtf8(body);
  if (text === undefined) throw xmlError();
  const trimmed = text.trim();
  if (trimmed === '') return;
  if (DECLARATION.test(trimmed)) throw xmlError();
  if (BAD_REFERENCE.test(trimmed.replace(LITERAL_SECTIONS, ''))) throw xmlError();
  // Nothing but markup around the root: text outside it is not XML (the validator lets it pass).
  const skeleton = trimmed.replace(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g, '').trim();
  if (!skeleton.startsWith('<') || !skeleton.endsWith('>')) throw xmlError();
  if (XMLValidator.validate(trimmed) !== true) throw xmlError();
  let parsed: unknown;
  try {
    parsed = parser.parse(trimmed);
  } catch {
    throw xmlError();
  }
  if (!Array.isArray(parsed)) throw xmlError();
  const roots = parsed.filter(isNode).filter((node) => Object.keys(node).some((key) => key !== ':@'));
  const [root] = roots;
  if (roots.length !== 1 || root === undefined) throw xmlError();
  const tag = Object.keys(root).find((key) => key !== ':@');
  if (tag === undefined) throw xmlError();
  const colon = tag.indexOf(':');
  const prefix = colon < 0 ? undefined : tag.slice(0, colon);
  const local = colon < 0 ? tag : tag.slice(colon + 1);
  const attributes = isNode(root[':@']) ? root[':@'] : {};
  const namespace = attributes[prefix === undefined ? 'xmlns' : `xmlns:${prefix}`];
  if (local !== 'propfind' || namespace !== 'DAV:') throw xmlError();
}
