/** Escaping of text and attribute values for XML 1.0 output. */

/** Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, U+FFFE/U+FFFF, lone surrogates). */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|\p{Cs}/gu;

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/**
 * Escapes a string for use as XML character data or as a quoted attribute value: markup characters
 * become entity references, and characters XML 1.0 cannot represent become U+FFFD.
 */
export function escapeXml(value: string): string {
  return value.replace(NOT_XML, '\ufffd').replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}
