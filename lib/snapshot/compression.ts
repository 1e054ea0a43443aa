/**
 * The snapshot writer's compression policy: a file whose content type names an already-compressed
 * format is stored; any other is deflated only when a trial deflate of its head saves enough.
 */
import { deflateRawSync } from 'node:zlib';

/** The content types that are already compressed: their content is stored, never deflated. */
const STORED_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/jpg',
  'image/pjpeg',
  'image/png',
  'image/apng',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/heic',
  'image/heif',
  'image/jp2',
  'image/jxl',
  'application/zip',
  'application/x-zip-compressed',
  'application/gzip',
  'application/x-gzip',
  'application/x-bzip2',
  'application/x-xz',
  'application/zstd',
  'application/x-7z-compressed',
  'application/x-rar-compressed',
  'application/vnd.rar',
  'application/java-archive',
  'application/epub+zip',
  'font/woff',
  'font/woff2',
]);

/** Content types whose whole family is stored. */
const STORED_FAMILIES: readonly string[] = ['video/', 'audio/'];

/**
 * Bytes of a file's head deflated on trial when its content type does not decide (at most 64 KiB).
 * 16 KiB costs a fifth of 64 KiB: deflating 64 KiB of incompressible data takes about 1.2 ms, which
 * dominated the export of thousands of 100 KB files of an unknown type; either way the file is
 * judged by its head.
 */
export const TRIAL_BYTES = 16 * 1024;
/** The trial must save at least this fraction for the content to be deflated. */
export const TRIAL_MIN_SAVING = 0.05;

/**
 * Whether a content type (`meta.ct`, parameters allowed) names an already-compressed format, whose
 * content the writer stores rather than deflates.
 */
export function isPrecompressedType(contentType: unknown): boolean {
  if (typeof contentType !== 'string') return false;
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (STORED_TYPES.has(type)) return true;
  if (STORED_FAMILIES.some((family) => type.startsWith(family))) return true;
  // The OOXML and ODF office formats are zip files.
  return type.startsWith('application/vnd.openxmlformats-officedocument.') || type.startsWith('application/vnd.oasis.opendocument.');
}

/**
 * Whether deflating `sample` saves at least {@link TRIAL_MIN_SAVING} of it: the rule for content
 * whose type does not decide.
 */
export function worthDeflating(sample: Buffer): boolean {
  return sample.length > 0 && deflateRawSync(sample).length < sample.length * (1 - TRIAL_MIN_SAVING);
}

/**
 * How to write a file of `contentType` whose first bytes are `head` (at least {@link TRIAL_BYTES}
 * of them, unless the file is shorter), as `ZipWriter.addBytes` takes it: `false` stores (an
 * already-compressed type, or an empty file); a file longer than {@link TRIAL_BYTES} is deflated
 * (`true`) when a trial deflate of its head saves {@link TRIAL_MIN_SAVING}; a file no longer than
 * that is its own trial, so it gets `'auto'`: deflated once, by the zip writer, and kept deflated
 * only if that saves {@link TRIAL_MIN_SAVING}, rather than deflated once on trial and again for the
 * archive.
 */
export function compressionOf(contentType: unknown, head: Buffer): boolean | 'auto' {
  if (isPrecompressedType(contentType) || head.length === 0) return false;
  return head.length <= TRIAL_BYTES ? 'auto' : worthDeflating(head.subarray(0, TRIAL_BYTES));
}
