/**
 * The Lua scripts of `RedisJobStore`: one per transition of the job contract, each run atomically on
 * the Redis server with the server's own clock (`TIME`), so instances with skewed clocks agree on
 * which leases are live. They implement the rules of the pure transitions in
 * `jobs/transitions.ts` (`claimCell`, `renewJob`, `cancelJob`, `endJob`) over this layout:
 *
 * - `job` (hash, one per cell): the job holding the cell, live or expired: `cellId`, `kind`, `name`,
 *   `requestKey`, `subject` (JSON: `null` or a string), `token`, `startedAt` (ISO), `progress`,
 *   `leaseExpiresAt` (epoch ms; numbers as decimal strings) and `cancelRequested` (`0`/`1`). It
 *   carries a safety-net TTL far beyond the lease; correctness comes from `leaseExpiresAt` alone.
 * - `failure` (hash): the cell's import failure (`name`, `startedAt`, `progress`, `error` as JSON),
 *   without expiry, deleted when the next import is claimed.
 * - `live` (sorted set, one per store): member cell id, score `leaseExpiresAt`. Live jobs are the
 *   members with a score above the server's now; older members are pruned by the next claim.
 *
 * A lease is live strictly before `leaseExpiresAt`, as in `isLive`.
 */
import { createHash } from 'node:crypto';

/** A Lua script and its SHA-1, as `EVALSHA` wants it. */
export interface RedisScript {
  /** A short name, for error messages. */
  readonly name: string;
  /** The Lua source. */
  readonly source: string;
  /** The lowercase hex SHA-1 of the source. */
  readonly sha: string;
}

/**
 * Lua helpers every script starts with: `now_ms()` (the server's clock in epoch ms), `fmt(n)` (an
 * integral number as a decimal string, never in exponent notation) and `iso(ms)` (epoch ms as ISO
 * 8601 UTC with milliseconds, by the days-to-civil algorithm, since the script sandbox has no
 * `os.date`).
 */
export const LUA_HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(n)
  return string.format('%.0f', n)
end
local function iso(ms)
  local secs = math.floor(ms / 1000)
  local milli = ms - secs * 1000
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, milli)
end
`;

function script(name: string, body: string): RedisScript {
  const source = `${LUA_HELPERS}${body}`;
  return Object.freeze({ name, source, sha: createHash('sha1').update(source, 'utf8').digest('hex') });
}

/**
 * `claim`. KEYS: job, failure, live. ARGV: cellId, kind, name, requestKey, subject (JSON), token,
 * leaseMs (integer), maxRunning (a number, or `-1` for no limit), key TTL in ms.
 * Returns `{'busy'|'expired', job}` for a held cell, `{'limit'}`, or `{'claimed', job}`, a job being
 * the flat `HGETALL` of its hash. An import claim deletes the cell's failure.
 */
export const CLAIM = script(
  'claim',
  `
local now = now_ms()
if redis.call('EXISTS', KEYS[1]) == 1 then
  local held = tonumber(redis.call('HGET', KEYS[1], 'leaseExpiresAt'))
  if held == nil then return redis.error_reply('ERR job record without leaseExpiresAt: ' .. KEYS[1]) end
  local status = 'busy'
  if now >= held then status = 'expired' end
  return {status, redis.call('HGETALL', KEYS[1])}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now))
local max = tonumber(ARGV[8])
if max >= 0 and redis.call('ZCARD', KEYS[3]) >= max then return {'limit'} end
local expires = now + tonumber(ARGV[7])
redis.call('HSET', KEYS[1],
  'cellId', ARGV[1], 'kind', ARGV[2], 'name', ARGV[3], 'requestKey', ARGV[4], 'subject', ARGV[5],
  'token', ARGV[6], 'startedAt', iso(now), 'progress', '0', 'leaseExpiresAt', fmt(expires),
  'cancelRequested', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[3], fmt(expires), ARGV[1])
if ARGV[2] == 'import' then redis.call('DEL', KEYS[2]) end
return {'claimed', redis.call('HGETALL', KEYS[1])}
`,
);

/**
 * `renew`. KEYS: job, live. ARGV: cellId, token, offered progress (an integer at most 99, or empty
 * to keep the stored one), leaseMs (integer), key TTL in ms. Returns the renewed job, or nil when
 * the token does not hold the cell or its lease expired.
 */
export const RENEW = script(
  'renew',
  `
local now = now_ms()
local job = redis.call('HMGET', KEYS[1], 'token', 'leaseExpiresAt', 'progress')
if job[1] ~= ARGV[2] then return false end
local held = tonumber(job[2])
if held == nil or now >= held then return false end
local progress = tonumber(job[3]) or 0
local offered = tonumber(ARGV[3])
if offered ~= nil and offered > progress then progress = offered end
local expires = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'progress', fmt(progress), 'leaseExpiresAt', fmt(expires))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], fmt(expires), ARGV[1])
return redis.call('HGETALL', KEYS[1])
`,
);

/**
 * `requestCancel`. KEYS: job. ARGV: kind. Returns the marked job, or nil when no live job of that
 * kind holds the cell.
 */
export const CANCEL = script(
  'requestCancel',
  `
local now = now_ms()
local job = redis.call('HMGET', KEYS[1], 'kind', 'leaseExpiresAt')
if job[1] ~= ARGV[1] then return false end
local held = tonumber(job[2])
if held == nil or now >= held then return false end
redis.call('HSET', KEYS[1], 'cancelRequested', '1')
return redis.call('HGETALL', KEYS[1])
`,
);

/**
 * `finish` and `reap`. KEYS: job, failure, live. ARGV: cellId, token, `live` (finish) or `expired`
 * (reap), the failure's error body as JSON or empty. Ends the job holding `token` when its lease is
 * in the wanted state: an import with a failure replaces the cell's failure; the job and its live
 * entry are removed. Returns 1, or 0 when nothing changed.
 */
export const END = script(
  'end',
  `
local now = now_ms()
local job = redis.call('HMGET', KEYS[1], 'token', 'leaseExpiresAt', 'kind', 'name', 'startedAt', 'progress')
if job[1] ~= ARGV[2] then return 0 end
local held = tonumber(job[2])
if held == nil then return 0 end
if (now < held) ~= (ARGV[3] == 'live') then return 0 end
if job[3] == 'import' and ARGV[4] ~= '' then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'name', job[4], 'startedAt', job[5], 'progress', job[6], 'error', ARGV[4])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`,
);

/** `get`. KEYS: job, failure. Returns `{job, failure}`, each a flat `HGETALL` (empty when absent). */
export const GET = script(
  'get',
  `
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`,
);

/** `countRunning`. KEYS: live. Returns the number of members whose lease ends after the server's now. */
export const COUNT = script(
  'countRunning',
  `
return redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now_ms()), '+inf')
`,
);
