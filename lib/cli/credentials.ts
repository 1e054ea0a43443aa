/**
 * The options every client command shares: the credentials (a bearer token, or Personium's cookie
 * pair) from flags or the environment. A flag wins over the environment. Secrets are never echoed.
 */
import type { Credentials } from './remote.js';
import { UsageError } from './usage.js';

/** The parseArgs options for credentials. */
export const CREDENTIAL_OPTIONS = {
  token: { type: 'string' },
  'cookie-peer': { type: 'string' },
  cookie: { type: 'string' },
} as const;

/** The help lines for {@link CREDENTIAL_OPTIONS}. */
export const CREDENTIAL_HELP = `  --token T           the bearer token, sent as Authorization: Bearer [TOKEN]; prefer the
                      environment variable, which other users of the machine cannot see
  --cookie-peer P     Personium cookie auth: the p_cookie_peer value [P_COOKIE_PEER]
  --cookie C          Personium cookie auth: the p_cookie cookie [P_COOKIE]`;

/** The credentials from the parsed flags and the environment. */
export function credentialsOf(values: { token?: string; 'cookie-peer'?: string; cookie?: string }, env: NodeJS.ProcessEnv = process.env): Credentials {
  const token = values.token ?? env['TOKEN'];
  const peer = values['cookie-peer'] ?? env['P_COOKIE_PEER'];
  const cookie = values.cookie ?? env['P_COOKIE'];
  if (values.token !== undefined && (values['cookie-peer'] !== undefined || values.cookie !== undefined)) {
    throw new UsageError('pass either --token or --cookie-peer with --cookie, not both');
  }
  if (values.token === undefined && (peer !== undefined || cookie !== undefined)) {
    if (peer === undefined || cookie === undefined) throw new UsageError('cookie auth needs both --cookie-peer and --cookie (or P_COOKIE_PEER and P_COOKIE)');
    return { kind: 'cookie', peer, cookie };
  }
  if (token !== undefined) {
    if (token === '') throw new UsageError('--token (or TOKEN) is empty');
    return { kind: 'bearer', token };
  }
  return { kind: 'none' };
}
