/** The one check of a plain JSON object, for every parser of the module. */

/** Whether a value is a plain JSON object: not null, not an array. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
