/** The snapshot area's listing, read from a PROPFIND Depth 1 multistatus as Personium and this module answer it. */
import { XMLParser } from 'fast-xml-parser';

/** One file of the snapshot area. */
export interface SnapshotEntry {
  /** The file name, e.g. `backup-1.zip` or `backup-1.error`. */
  readonly name: string;
  /** `getcontentlength`, in bytes. */
  readonly size: number | undefined;
  /** `getcontenttype`. */
  readonly contentType: string | undefined;
  /** `getlastmodified`, an HTTP-date. */
  readonly lastModified: string | undefined;
  /** `getetag`. */
  readonly etag: string | undefined;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  parseTagValue: false,
  isArray: (name) => name === 'response' || name === 'propstat',
});

type Xml = Record<string, unknown>;
const ENTITIES: Readonly<Record<string, string>> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };
/** A text node with XML's predefined entities decoded (the parser runs with entity processing off). */
const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value.replace(/&(quot|amp|lt|gt|apos);/g, (_, name: string) => ENTITIES[name] ?? '') : undefined;

/** The files of a PROPFIND Depth 1 multistatus of the snapshot area (the collection itself left out). */
export function parseListing(xml: string): SnapshotEntry[] {
  const doc = parser.parse(xml) as Xml;
  const responses = ((doc['multistatus'] as Xml | undefined)?.['response'] as Xml[] | undefined) ?? [];
  const entries: SnapshotEntry[] = [];
  for (const response of responses) {
    const propstats = (response['propstat'] as Xml[] | undefined) ?? [];
    const found = propstats.find((p) => /\s200\s/.test(`${text(p['status']) ?? ''} `)) ?? propstats[0];
    const prop = (found?.['prop'] as Xml | undefined) ?? {};
    const type = prop['resourcetype'];
    if (typeof type === 'object' && type !== null && 'collection' in type) continue;
    const href = text(response['href']) ?? '';
    const name = decodeURIComponent(href.replace(/\/+$/, '').split('/').at(-1) ?? '');
    if (name === '' || name === '__snapshot') continue;
    const length = text(prop['getcontentlength']);
    entries.push({
      name,
      size: length === undefined ? undefined : Number(length),
      contentType: text(prop['getcontenttype']),
      lastModified: text(prop['getlastmodified']),
      etag: text(prop['getetag']),
    });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
