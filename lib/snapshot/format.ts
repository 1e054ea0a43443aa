/**
 * The snapshot format, Personium export_version 2 (`docs/protocol.md`, The snapshot file): entry paths, the manifest and
 * the record serialisation. The writer and the reader both take their names from here.
 */
import type { ODataRecord, ODataType } from '../types.js';

/** The only format version this module writes and reads. */
export const EXPORT_VERSION = 2;

/** Entry path of the manifest. */
export const MANIFEST_PATH = '00_manifest.json';
/** Folder of the OData part. */
export const ODATA_DIR = '10_odata/';
/** Entry path of the cell record. */
export const CELL_PATH = '10_odata/00_cell.json';
/** Folder of the WebDAV part. */
export const WEBDAV_DIR = '20_webdav/';
/** Entry path of the integrity list (an extension; Personium readers ignore it). */
export const INTEGRITY_PATH = '99_integrity.json';
/** Name of a resource's metadata file inside its folder. */
export const PMETA_NAME = '.pmeta';
/** Name of a file resource's bytes inside its folder. */
export const CONTENT_NAME = 'content';

/** Whether a type's records are imported before the WebDAV tree (cell level) or after it (box level). */
export type ODataLevel = 'cell' | 'box';

/** One of the 16 `.pjson` files. */
export interface ODataFile {
  /** The entry path, e.g. `10_odata/10_box.pjson`. */
  readonly path: string;
  /** The entity type its records hold. */
  readonly type: ODataType;
  /** When it is imported. */
  readonly level: ODataLevel;
}

const file = (name: string, type: ODataType, level: ODataLevel): ODataFile =>
  Object.freeze({ path: `${ODATA_DIR}${name}.pjson`, type, level });

/** The 16 `.pjson` files, in writing order. */
export const ODATA_FILES: readonly ODataFile[] = Object.freeze([
  file('10_box', 'Box', 'cell'),
  file('11_account', 'Account', 'cell'),
  file('12_extcell', 'ExtCell', 'cell'),
  file('20_role', 'Role', 'cell'),
  file('21_rule', 'Rule', 'cell'),
  file('22_relation', 'Relation', 'cell'),
  file('23_sentmessage', 'SentMessage', 'cell'),
  file('24_receivedmessage', 'ReceivedMessage', 'cell'),
  file('30_extrole', 'ExtRole', 'cell'),
  file('40_entitytype', 'EntityType', 'box'),
  file('41_complextype', 'ComplexType', 'box'),
  file('50_property', 'Property', 'box'),
  file('51_complextypeproperty', 'ComplexTypeProperty', 'box'),
  file('60_associationend', 'AssociationEnd', 'box'),
  file('70_userdata', 'UserData', 'box'),
  file('80_link', 'link', 'box'),
]);

/** The 16 types, in writing order. */
export const ODATA_TYPES: readonly ODataType[] = Object.freeze(ODATA_FILES.map((f) => f.type));

/** Entries every snapshot must hold (the WebDAV part may be empty). */
export const REQUIRED_PATHS: readonly string[] = Object.freeze([
  MANIFEST_PATH,
  CELL_PATH,
  ...ODATA_FILES.map((f) => f.path),
]);

/** The manifest, `00_manifest.json`. */
export interface Manifest {
  /** Always 2. */
  readonly export_version: number;
  /** The unit the snapshot was made on, ending in `/`. Informational. */
  readonly unit_url: string;
  /** When it was made, epoch ms. */
  readonly create_date: number;
}

/** The manifest's bytes: keys in Personium's order, no trailing newline. */
export function manifestJson(unitUrl: string, createDate: number): string {
  return JSON.stringify({ export_version: EXPORT_VERSION, unit_url: unitUrl, create_date: createDate });
}

/** One record's bytes, keys in Personium's order, without the newline. */
export function recordJson(record: ODataRecord): string {
  return JSON.stringify({ _index: record._index, _type: record._type, _source: record._source, _id: record._id });
}

/** The folder entry path of a WebDAV resource, e.g. `20_webdav/__/a.txt/` (`20_webdav/` for the root). */
export function davFolder(path: string): string {
  return path === '' ? WEBDAV_DIR : `${WEBDAV_DIR}${path}/`;
}
