import { setTimeout as sleep } from 'node:timers/promises';
import avaTest, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { RedisClusterType } from 'redis';
import type { RedisClientLike } from '../../../lib/adapters/redis/client.js';
import { JOB_KEY_GRACE_MS, RedisJobStore } from '../../../lib/adapters/redis/job-store.js';
import { LUA_HELPERS } from '../../../lib/adapters/redis/scripts.js';
import { type ErrorBody, PersoniumError } from '../../../lib/errors.js';
import type { JobStore } from '../../../lib/types.js';
import { COMFORTABLE, EXPIRY_WAIT_MS, LONG, SHORT_MS, claimed, jobStoreContract, request } from '../../../lib/contract/job-store.js';
import {
  type ConnectedClient,
  type RedisServer,
  type TestRedisClient,
  connectClient,
  fileRedisServer,
  redisClient,
  redisServer,
} from '../../helpers/redis-server.js';
import { HANG_MS, unlessHung } from '../../helpers/wait.js';
import { needing } from '../../helpers/tools.js';

const test = needing(avaTest, 'redis-server');

// Both node-redis shapes fit the structural client type the store takes (checked by tsc).
const fitsClient: (client: TestRedisClient) => RedisClientLike = (client) => client;
const fitsCluster: (cluster: RedisClusterType) => RedisClientLike = (cluster) => cluster;
void fitsClient;
void fitsCluster;

const BROKEN: ErrorBody = { code: 'PR400-SN-0003', message: { lang: 'en', value: 'Snapshot integrity check failed. [x]' } };

let server: (RedisServer & { close(): Promise<void> }) | undefined;
let shared: ConnectedClient | undefined;
let prefixes = 0;

test.before(async () => {
  server = await fileRedisServer();
  shared = await connectClient(server.url);
});

test.after.always(async () => {
  await shared?.close();
  await server?.close();
});

function sharedClient(): TestRedisClient {
  if (shared === undefined) throw new Error('no shared client');
  return shared.client;
}

function serverUrl(): string {
  if (server === undefined) throw new Error('no shared server');
  return server.url;
}

/** A key prefix no other test uses. */
function uniquePrefix(): string {
  prefixes += 1;
  return `kcs-test-${process.pid}-${prefixes}:`;
}

/** Every key under a prefix. */
async function keysUnder(client: TestRedisClient, prefix: string): Promise<string[]> {
  return (await client.keys(`${prefix}*`)).sort();
}

/** Asserts that a promise rejects with `PR503-SV-0003` (a promise that never settles fails as hung). */
async function rejects503(t: ExecutionContext, promise: Promise<unknown>, what: string): Promise<void> {
  const error = await t.throwsAsync(unlessHung(promise, what), { instanceOf: PersoniumError }, what);
  t.is(error?.code, 'PR503-SV-0003', what);
  t.is(error?.status, 503, what);
  t.truthy(error?.cause, `${what}: the cause is kept`);
}

jobStoreContract(test, () => new RedisJobStore({ client: sharedClient(), prefix: uniquePrefix() }));

test('redis: two stores on separate clients racing 100 claims of one cell: one winner; the limit is shared', async (t) => {
  const prefix = uniquePrefix();
  const a = new RedisJobStore({ client: await redisClient(t, serverUrl()), prefix });
  const b = new RedisJobStore({ client: await redisClient(t, serverUrl()), prefix });
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).claim(request('shared', i % 3 ? 'export' : 'import'), LONG)),
  );
  const won = results.filter((r) => r.status === 'claimed');
  t.is(won.length, 1);
  t.is(results.filter((r) => r.status === 'busy').length, 99);
  t.deepEqual((await b.get('shared')).running, won[0]?.status === 'claimed' ? won[0].job : undefined);
  const limited = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claim(request(`cell-${i}`), { leaseMs: 60_000, maxRunning: 4 })),
  );
  t.is(limited.filter((r) => r.status === 'claimed').length, 3, 'the shared claim counts too');
  t.is(await a.countRunning(), 4);
  t.is(await b.countRunning(), 4);
});

test('redis: instances sharing a prefix share the state; another prefix is another store', async (t) => {
  const prefix = uniquePrefix();
  const a = new RedisJobStore({ client: sharedClient(), prefix });
  const b = new RedisJobStore({ client: await redisClient(t, serverUrl()), prefix });
  const other = new RedisJobStore({ client: sharedClient(), prefix: uniquePrefix() });
  const job = await claimed(t, a, request('c1', 'import'));
  t.deepEqual(await b.get('c1'), { running: job });
  t.like(await b.requestCancel('c1', 'import'), { token: job.token, cancelRequested: true });
  t.like(await a.renew('c1', job.token, 20, 60_000), { cancelRequested: true, progress: 20 });
  t.true(await b.finish('c1', job.token, BROKEN));
  t.is((await a.get('c1')).importFailure?.progress, 20);
  t.deepEqual(await other.get('c1'), {});
  t.is(await other.countRunning(), 0);
});

test.serial('redis: leases are set and judged by the server clock, whatever the instance clocks say', async (t) => {
  const realNow = Date.now.bind(Date);
  t.teardown(() => {
    Date.now = realNow;
  });
  const prefix = uniquePrefix();
  const ahead = new RedisJobStore({ client: sharedClient(), prefix });
  const behind = new RedisJobStore({ client: await redisClient(t, serverUrl()), prefix });
  const HOUR = 3_600_000;
  const serverNow = async (): Promise<number> => {
    const [seconds, micros] = await sharedClient().time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };

  // An instance an hour ahead claims: the record carries the server's time, not its own.
  Date.now = () => realNow() + HOUR;
  const before = await serverNow();
  const job = await claimed(t, ahead, request('skewed', 'import', 'restore'), COMFORTABLE);
  const after = await serverNow();
  const started = Date.parse(job.startedAt);
  t.true(started >= before - 1000 && started <= after + 1000, `startedAt ${job.startedAt} is the server's time`);
  t.true(job.leaseExpiresAt >= before + 30_000 - 1000 && job.leaseExpiresAt <= after + 30_000 + 1000);

  // An instance an hour behind sees the lease as live, and cannot reap it.
  Date.now = () => realNow() - HOUR;
  t.is((await behind.claim(request('skewed'), LONG)).status, 'busy');
  t.false(await behind.reap('skewed', job.token));
  t.is(await behind.countRunning(), 1);

  // The instance ahead (which would think a lease of 100 ms long gone) can still renew and cancel.
  Date.now = () => realNow() + HOUR;
  t.truthy(await ahead.renew('skewed', job.token, 40, SHORT_MS));
  await sleep(EXPIRY_WAIT_MS);

  // Once the server says it expired, the instance behind (which would think it live for an hour)
  // finds it expired and reaps it; the one ahead can neither renew nor finish it.
  Date.now = () => realNow() - HOUR;
  t.is((await behind.claim(request('skewed'), LONG)).status, 'expired');
  t.is(await behind.countRunning(), 0);
  Date.now = () => realNow() + HOUR;
  t.falsy(await ahead.renew('skewed', job.token, 50, 60_000));
  t.false(await ahead.finish('skewed', job.token));
  Date.now = () => realNow() - HOUR;
  t.true(await behind.reap('skewed', job.token, BROKEN));
  t.like((await ahead.get('skewed')).importFailure, { name: 'restore', progress: 40, startedAt: job.startedAt });
});

test('redis: an import failure has no TTL; a running job key has a safety-net TTL beyond its lease', async (t) => {
  const client = sharedClient();
  const prefix = uniquePrefix();
  const store = new RedisJobStore({ client, prefix });
  const job = await claimed(t, store, request('c1', 'import', 'restore'), COMFORTABLE);
  const jobKey = `${prefix}{jobs}:job:c1`;
  const failureKey = `${prefix}{jobs}:failure:c1`;
  const ttl = await client.pTTL(jobKey);
  t.true(ttl > 30_000 + JOB_KEY_GRACE_MS - 60_000 && ttl <= 30_000 + JOB_KEY_GRACE_MS, `job key PTTL ${ttl}`);
  t.truthy(await store.renew('c1', job.token, 10, 45_000));
  t.true((await client.pTTL(jobKey)) > 45_000 + JOB_KEY_GRACE_MS - 60_000, 'renew extends it');
  t.true(await store.finish('c1', job.token, BROKEN));
  t.is(await client.ttl(failureKey), -1, 'the failure never expires');
  t.is(await client.exists(jobKey), 0);
  t.deepEqual(await keysUnder(client, prefix), [failureKey], 'nothing else is left');
  const exp = await claimed(t, store, request('c1', 'export'));
  t.is(await client.ttl(failureKey), -1, 'an export claim leaves it alone');
  t.true(await store.finish('c1', exp.token));
  const next = await claimed(t, store, request('c1', 'import'));
  t.is(await client.exists(failureKey), 0, 'the next import claim deletes it');
  t.true(await store.finish('c1', next.token));
  t.deepEqual(await keysUnder(client, prefix), []);
});

test('redis: cell ids of any shape are separate keys, and nothing is left behind', async (t) => {
  const client = sharedClient();
  const prefix = uniquePrefix();
  const store = new RedisJobStore({ client, prefix });
  const ids = ['../escape', 'a/b', 'Cell', 'cell', '', 'ünï\u0000code', '{jobs}', 'live', 'job:x', '*'];
  const jobs = await Promise.all(ids.map((id) => claimed(t, store, request(id))));
  t.is(await store.countRunning(), ids.length);
  for (const [i, id] of ids.entries()) t.deepEqual((await store.get(id)).running, jobs[i]);
  for (const [i, id] of ids.entries()) t.true(await store.finish(id, jobs[i]?.token ?? ''));
  t.is(await store.countRunning(), 0);
  t.deepEqual(await keysUnder(client, prefix), []);
});

/** The part of a key Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

test('redis: every key of a store has one cluster hash tag, so each script runs on one slot', async (t) => {
  const client = sharedClient();
  for (const prefix of [uniquePrefix(), 'x{tenant-1}:', 'a{', '']) {
    const store = new RedisJobStore({ client, prefix });
    const imp = await claimed(t, store, request('{a}', 'import'));
    t.true(await store.finish('{a}', imp.token, BROKEN));
    const exp = await claimed(t, store, request('b}'));
    const keys = await keysUnder(client, `${prefix}{jobs}`.replace(/[*?[\]\\]/g, '\\$&'));
    t.is(keys.length, 3, keys.join(', '));
    t.is(new Set(keys.map(hashTag)).size, 1, keys.join(', '));
    t.true(await store.finish('b}', exp.token));
    await client.del(keys);
  }
});

test('redis: scripts flushed from the server (restart, failover) are loaded again', async (t) => {
  const client = sharedClient();
  const store = new RedisJobStore({ client, prefix: uniquePrefix() });
  const job = await claimed(t, store, request('c1'));
  await client.scriptFlush();
  t.like(await store.renew('c1', job.token, 5, 60_000), { progress: 5 });
  await client.scriptFlush();
  t.is(await store.countRunning(), 1);
  await client.scriptFlush();
  t.true(await store.finish('c1', job.token));
});

test('redis: the Lua ISO formatter agrees with Date.toISOString', async (t) => {
  const client = sharedClient();
  const iso = (ms: number): Promise<unknown> =>
    client.eval(`${LUA_HELPERS}\nreturn iso(tonumber(ARGV[1]))`, { keys: [], arguments: [String(ms)] });
  const fixed = [0, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 1_709_164_800_123, 253_402_300_799_999];
  for (const ms of fixed) t.is(await iso(ms), new Date(ms).toISOString(), String(ms));
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 253_402_300_799_999 }), async (ms) => (await iso(ms)) === new Date(ms).toISOString()),
    { numRuns: 300 },
  );
  t.pass();
});

test('redis: records written by something else are refused, not half read', async (t) => {
  const client = sharedClient();
  const prefix = uniquePrefix();
  const store = new RedisJobStore({ client, prefix });
  await client.hSet(`${prefix}{jobs}:job:bad`, { token: 't', leaseExpiresAt: 'soon' });
  await t.throwsAsync(store.get('bad'), { name: 'RedisReplyError' });
  await client.set(`${prefix}{jobs}:job:wrongtype`, 'x');
  const error = await t.throwsAsync(store.claim(request('wrongtype'), LONG), { instanceOf: PersoniumError });
  t.is(error?.code, 'PR503-SV-0003', 'an error reply of the server is a 503 too');
});

test('redis: bad options are refused', (t) => {
  t.throws(() => new RedisJobStore({ client: {} as RedisClientLike }), { instanceOf: TypeError });
  t.throws(() => new RedisJobStore({ client: sharedClient(), commandTimeoutMs: 0 }), { instanceOf: RangeError });
  t.is(new RedisJobStore({ client: sharedClient() }).prefix, 'kcs:');
});

test('redis: stopped server: every method rejects with PR503-SV-0003 within the deadline; no job starts twice; back after a restart', async (t) => {
  const redis = await redisServer(t);
  const client = await redisClient(t, redis.url);
  const store = new RedisJobStore({ client, prefix: 'outage:' });
  const job = await claimed(t, store, request('held', 'import'), COMFORTABLE);
  t.truthy(await store.renew('held', job.token, 30, 30_000));

  await redis.stop({ save: true });
  // Each call rejects while the server is still down: none waits for it to come back.
  await Promise.all([
    rejects503(t, store.claim(request('held'), LONG), 'claim of the held cell'),
    rejects503(t, store.claim(request('free', 'import'), LONG), 'claim of a free cell'),
    rejects503(t, store.renew('held', job.token, 40, 30_000), 'renew'),
    rejects503(t, store.requestCancel('held', 'import'), 'requestCancel'),
    rejects503(t, store.finish('held', job.token), 'finish'),
    rejects503(t, store.reap('held', job.token), 'reap'),
    rejects503(t, store.get('held'), 'get'),
    rejects503(t, store.countRunning(), 'countRunning'),
  ]);

  await redis.start();
  await waitUntilAnswering(store);
  const state = await store.get('held');
  t.is(state.running?.token, job.token, 'the held job survived');
  t.is(state.running?.progress, 30, 'the failed renew changed nothing');
  t.false(state.running?.cancelRequested, 'the failed cancel changed nothing');
  t.deepEqual(await store.get('free'), {}, 'a claim reported as failed was never sent after the reconnect');
  t.is((await store.claim(request('held'), LONG)).status, 'busy', 'no second job on the held cell');
  t.is(await store.countRunning(), 1);
  t.like(await store.renew('held', job.token, 50, 30_000), { progress: 50 });
  t.true(await store.finish('held', job.token));
  await claimed(t, store, request('free', 'import'));
});

test('redis: a server that stops answering: calls reject within the deadline; all is well once it answers again', async (t) => {
  const redis = await redisServer(t);
  const client = await redisClient(t, redis.url);
  const store = new RedisJobStore({ client, prefix: 'frozen:', commandTimeoutMs: 500 });
  const job = await claimed(t, store, request('c1'), COMFORTABLE);
  redis.pause();
  try {
    const started = Date.now();
    await Promise.all([
      rejects503(t, store.get('c1'), 'get'),
      rejects503(t, store.countRunning(), 'countRunning'),
      rejects503(t, store.renew('c1', job.token, 10, 30_000), 'renew'),
    ]);
    // Rejected while the server is still paused, and not before the 500 ms deadline.
    const took = Date.now() - started;
    t.true(took >= 450, `rejected after ${took} ms`);
  } finally {
    redis.resume();
  }
  await waitUntilAnswering(store);
  t.is((await store.get('c1')).running?.token, job.token);
  t.true(await store.finish('c1', job.token));
});

/** Polls `countRunning` until it answers (a store that never reconnects fails as hung). */
async function waitUntilAnswering(store: JobStore): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await store.countRunning();
      return;
    } catch (error) {
      if (!(error instanceof PersoniumError) || Date.now() - started > HANG_MS) throw error;
      await sleep(50);
    }
  }
}

test("redis: out of memory (maxmemory reached) rejects with PR503-SN-0003, changes nothing, and works once memory is back", async (t) => {
  // A server of its own: the shared one must never be out of memory for the other tests.
  const client = await redisClient(t, (await redisServer(t)).url);
  const prefix = uniquePrefix();
  const store = new RedisJobStore({ client, prefix });
  const job = await claimed(t, store, request('c1', 'import'));
  const before = await keysUnder(client, prefix);
  const maxmemory = (await client.configGet('maxmemory'))['maxmemory'] ?? '0';
  await client.configSet('maxmemory', '1');
  // Redis refuses a script at its first write that needs memory: the renewal and the cancel (a claim
  // or an end deletes first, and Redis then lets the whole script run).
  for (const [what, call] of [
    ['renew', (): Promise<unknown> => store.renew('c1', job.token, 50, 60_000)],
    ['cancel', (): Promise<unknown> => store.requestCancel('c1', 'import')],
  ] as const) {
    const error = await t.throwsAsync(unlessHung(call(), what), { instanceOf: PersoniumError }, what);
    t.is(error?.code, 'PR503-SN-0003', what);
    t.is(error?.status, 503, what);
    t.is(error?.message, 'The [job store] is out of memory.', what);
    t.regex(String((error?.cause as Error | undefined)?.message), /^OOM command not allowed/, `${what}: the cause is kept`);
  }
  t.deepEqual(await keysUnder(client, prefix), before, 'nothing was written');
  t.deepEqual((await store.get('c1')).running, job, 'reading still works');
  await client.configSet('maxmemory', maxmemory);
  t.like(await store.renew('c1', job.token, 50, 60_000), { progress: 50 });
  t.like(await store.requestCancel('c1', 'import'), { cancelRequested: true });
});
