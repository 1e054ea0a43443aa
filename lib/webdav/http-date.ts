/** HTTP-dates (RFC 9110 section 5.6.7): parsing, rendering, and the one-second precision they carry. */

/** Parses an HTTP-date (IMF-fixdate and the obsolete forms `Date.parse` accepts); `undefined` if invalid. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** A date as an HTTP-date (RFC 1123 / IMF-fixdate), e.g. `Wed, 15 Feb 2017 01:52:34 GMT`. */
export function httpDate(date: Date): string {
  return date.toUTCString();
}

/** A time truncated to the second, the precision of an HTTP-date. */
export function toSecond(time: number): number {
  return Math.floor(time / 1000) * 1000;
}
