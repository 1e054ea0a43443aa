/**
 * Rendering of a WebDAV `multistatus` (RFC 4918 section 14.16) with the live properties of the
 * snapshot area, in the `DAV:` default namespace as Personium writes it, every property in one
 * `propstat` with `HTTP/1.1 200 OK`.
 */
import { httpDate } from './http-date.js';
import { escapeXml } from './xml-text.js';

/** The properties of one resource. Absent ones are not rendered. */
export interface DavProperties {
  /** `creationdate`, rendered as ISO 8601 / RFC 3339 in UTC with milliseconds. */
  readonly created: Date;
  /** `getlastmodified`, rendered as an RFC 1123 date. */
  readonly modified: Date;
  /** `resourcetype`: `<collection/>` for a collection, empty for a file. */
  readonly collection: boolean;
  /** `getcontentlength`, in bytes (files only). */
  readonly contentLength?: number;
  /** `getcontenttype` (files only). */
  readonly contentType?: string;
  /** `getetag`, quotes included (files only). */
  readonly etag?: string;
}

/** One `response` of a multistatus. */
export interface DavResponse {
  /** The resource's URL, already percent-encoded; it is XML-escaped here. */
  readonly href: string;
  /** Its properties. */
  readonly props: DavProperties;
}

/** The `Content-Type` of a multistatus answer. */
export const MULTISTATUS_TYPE = 'application/xml';

function element(name: string, text: string): string {
  return `<${name}>${escapeXml(text)}</${name}>`;
}

function renderProps(props: DavProperties): string[] {
  const lines = [element('creationdate', props.created.toISOString())];
  if (props.contentLength !== undefined) lines.push(element('getcontentlength', String(props.contentLength)));
  if (props.contentType !== undefined) lines.push(element('getcontenttype', props.contentType));
  if (props.etag !== undefined) lines.push(element('getetag', props.etag));
  lines.push(element('getlastmodified', httpDate(props.modified)));
  lines.push(props.collection ? '<resourcetype><collection/></resourcetype>' : '<resourcetype/>');
  return lines;
}

function renderResponse(response: DavResponse): string {
  const props = renderProps(response.props).map((line) => `        ${line}`);
  return [
    '  <response>',
    `    ${element('href', response.href)}`,
    '    <propstat>',
    '      <prop>',
    ...props,
    '      </prop>',
    '      <status>HTTP/1.1 200 OK</status>',
    '    </propstat>',
    '  </response>',
  ].join('\n');
}

/** Renders a complete `multistatus` document (with an XML declaration, UTF-8). */
export function renderMultistatus(responses: readonly DavResponse[]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<multistatus xmlns="DAV:">',
    ...responses.map(renderResponse),
    '</multistatus>',
    '',
  ].join('\n');
}
