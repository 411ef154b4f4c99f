import Redis from 'ioredis';
import { createLogger } from '../src/common/logger';
import { DuplicateClientError, StoreUnavailableError } from '../src/store/broker-store';
import { RedisStore } from '../src/store/redis.store';
import { StoreCommandError } from '../src/store/redis/redis-errors';
import { redisKeys } from '../src/store/redis/redis-keys';
import type { StoreEvent } from '../src/store/store.types';
import { freePort, startRedisServer, type RedisServerHandle } from './support/redis-server';
import { RedisMonitor } from './support/redis-monitor';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import {
  UNSCHEDULED,
  describeStoreContract,
  eventually,
  expectCountersExact,
  isoAt,
  makeEntry,
  makeToken,
  statusIn,
  subscribed,
} from './store-contract';

const usedPrefixes: string[] = [];

function connectStore(prefix = uniquePrefix('store')): Promise<RedisStore> {
  usedPrefixes.push(prefix);
  return RedisStore.connect({ url: testRedisUrl(), keyPrefix: prefix });
}

/** Leaves the shared test server as it was found. */
async function deleteUsedKeys(): Promise<void> {
  const admin = new Redis(testRedisUrl());
  try {
    for (const prefix of usedPrefixes.splice(0)) {
      const keys = await keysUnder(admin, prefix);
      if (keys.length > 0) await admin.del(...keys);
    }
  } finally {
    await admin.quit();
  }
}

async function keysUnder(admin: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1_000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
}

/** A part of a client hash (c, s or t) as written: its chunks joined. */
function joinedPart(fields: Record<string, string>, part: string): string {
  let json = fields[part];
  for (let index = 1; fields[part + index] !== undefined; index++) json += fields[part + index];
  return json;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The part of a key Redis Cluster hashes to pick its slot, or null when the whole key is hashed. */
function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

describeStoreContract('RedisStore', () => connectStore(uniquePrefix('contract')), deleteUsedKeys);

describe('RedisStore on Redis', () => {
  let admin: Redis;
  let store: RedisStore;
  let prefix: string;

  beforeAll(() => {
    admin = new Redis(testRedisUrl());
  });

  beforeEach(async () => {
    prefix = uniquePrefix('redis');
    store = await connectStore(prefix);
  });

  afterEach(async () => {
    await store.close();
  });

  afterAll(async () => {
    await admin.quit();
    await deleteUsedKeys();
  });

  it('is the redis kind', () => {
    expect(store.kind).toBe('redis');
  });

  it('keeps every key under the prefix, one client per hash tag, one workspace per hash tag, usage times, schedule and counter shards in theirs', async () => {
    const shardKey = redisKeys(prefix).schedule('cl_a').slice(prefix.length);
    const shardTag = hashTag(shardKey);
    const stats = redisKeys(prefix).stats('cl_a');
    const [byState, counted, failing] = [stats.byState, stats.counted, stats.failing].map((key) =>
      key.slice(prefix.length),
    );
    const statsTag = hashTag(byState);
    await store.insertClient(makeEntry('cl_a', { workspaceId: 'o_one', token: makeToken(1) }), UNSCHEDULED);
    await store.updateClient('cl_a', 1, { status: statusIn('failing', '2025-01-01T00:00:00.000Z') });
    await store.setDue('cl_a', 1_000);
    await store.lockAndRead('cl_a', 'owner-1', 60_000);
    await store.insertServiceKey({
      id: 'sk_a',
      name: 'k',
      workspaces: ['*'],
      keyHash: 'ab'.repeat(32),
      createdAt: '2025-01-01T00:00:00.000Z',
    });
    await store.appendAudit(
      {
        at: '2025-01-01T00:00:00.000Z',
        actor: 'admin:0123abcd',
        action: 'client.create',
        clientId: 'cl_a',
        workspaceId: 'o_one',
      },
      10,
    );
    await store.recordUsage({ clients: new Map([['cl_a', 1_000]]), serviceKeys: new Map([['sk_a', 1_000]]) });

    const keys = await keysUnder(admin, prefix);
    expect(keys).toEqual(
      [
        'audit',
        'clients',
        shardKey,
        'service-keys',
        byState,
        counted,
        failing,
        '{stats}:version',
        '{c:cl_a}',
        '{c:cl_a}:lock',
        '{ws:o_one}:client-ids',
        '{ws:o_one}:clients',
        '{usage}:clients',
        '{usage}:service-keys',
      ]
        .map((name) => `${prefix}${name}`)
        .sort(),
    );
    const tags = Object.fromEntries(keys.map((key) => [key.slice(prefix.length), hashTag(key)]));
    expect(tags).toEqual({
      audit: null,
      clients: null,
      [shardKey]: shardTag,
      'service-keys': null,
      [byState]: statsTag,
      [counted]: statsTag,
      [failing]: statsTag,
      '{stats}:version': 'stats',
      '{c:cl_a}': 'c:cl_a',
      '{c:cl_a}:lock': 'c:cl_a',
      '{ws:o_one}:client-ids': 'ws:o_one',
      '{ws:o_one}:clients': 'ws:o_one',
      '{usage}:clients': 'usage',
      '{usage}:service-keys': 'usage',
    });
    expect(await admin.type(`${prefix}audit`)).toBe('stream');
    expect(await admin.type(`${prefix}{c:cl_a}`)).toBe('hash');
    expect(shardTag).toMatch(/^sched:\d+:\d+$/);
    expect(await admin.type(`${prefix}${shardKey}`)).toBe('zset');
    expect(statsTag).toMatch(/^stats:\d+:\d+$/);
    expect(await admin.hgetall(stats.byState)).toEqual({ pending: '0', failing: '1' });
    const iseq = await admin.hget(`${prefix}{c:cl_a}`, 'iseq');
    expect(await admin.hgetall(stats.counted)).toEqual({ cl_a: `${iseq}:failing` });
    expect(await admin.hgetall(`${prefix}{usage}:clients`)).toEqual({ cl_a: '1000' });
  });

  it('counts a batch in the shard of each client and nowhere else, through changes of state after it', async () => {
    const keys = redisKeys(prefix);
    const ids = Array.from({ length: 40 }, (_, index) => `cl_batch${index}`);
    expect(new Set(ids.map((id) => keys.stats(id).byState)).size).toBeGreaterThan(4);
    await store.insertClients(
      ids.map((id) => makeEntry(id)),
      UNSCHEDULED,
    );
    for (const id of ids.slice(0, 20)) await store.updateClient(id, 1, { status: statusIn('failing', isoAt(1)) });
    for (const id of ids.slice(20, 30)) await store.updateClient(id, 1, { status: statusIn('ready') });

    await expectCountersExact(store, ids);
    for (const id of ids) {
      const held = await Promise.all(keys.statsShards.map(({ counted }) => admin.hexists(counted, id)));
      const shards = held.flatMap((holds, shard) => (holds === 1 ? [shard] : []));
      expect(shards).toEqual([keys.statsShards.indexOf(keys.stats(id))]);
    }
  });

  it('records a batch of usage times of both kinds in one script call', async () => {
    const monitor = await RedisMonitor.start(admin);
    const commands: string[][] = [];
    // Other test files share this redis-server: keep only this test's commands.
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.startsWith(prefix))) commands.push(args);
    });
    try {
      const clients = new Map(['cl_a', 'cl_b', 'cl_c'].map((id) => [id, 5_000]));
      await store.recordUsage({ clients, serviceKeys: new Map([['sk_a', 5_000]]) });
      await eventually(() => expect(commands.filter(([name]) => /^hset$/i.test(name))).toHaveLength(4));
    } finally {
      monitor.disconnect();
    }
    // The script ran once: one HGET per id. (A script not yet cached on the server is tried by EVALSHA,
    // refused, then sent by EVAL: still one run.)
    expect(commands.filter(([name]) => /^hget$/i.test(name))).toHaveLength(4);
    for (const call of commands.filter(([name]) => /^eval(sha)?$/i.test(name))) {
      expect(call.slice(2, 5)).toEqual(['2', `${prefix}{usage}:clients`, `${prefix}{usage}:service-keys`]);
    }
    expect(commands.filter(([name]) => !/^(eval|evalsha|hget|hset)$/i.test(name))).toEqual([]);
  });

  it('spreads the schedule over its shards and claims across them, earliest first', async () => {
    const ids = Array.from({ length: 64 }, (_, index) => `cl_${index}`);
    for (const [index, id] of ids.entries()) await store.setDue(id, 1_000 + index);
    const shardSizes = await Promise.all(redisKeys(prefix).scheduleShards.map((key) => admin.zcard(key)));
    expect(shardSizes.filter((size) => size > 0).length).toBeGreaterThanOrEqual(12);
    const claimed: string[] = [];
    for (;;) {
      const { due } = await store.claimDue(5_000, 60_000, 5);
      if (due.length === 0) break;
      expect(due.length).toBeLessThanOrEqual(5);
      claimed.push(...due.map(({ id }) => id));
    }
    expect(claimed).toEqual(ids);
  });

  it('moves the schedule of the layout before shards into the shards at start, keeping newer shard entries', async () => {
    const legacy = `${prefix}schedule`;
    const entries = Array.from({ length: 1_200 }, (_, index) => [String(10_000 + index), `cl_old${index}`]);
    await admin.zadd(legacy, ...entries.flat());
    await store.setDue('cl_old0', 99_999);
    const upgraded = await connectStore(prefix);
    try {
      expect(await admin.exists(legacy)).toBe(0);
      expect(await admin.zscore(redisKeys(prefix).schedule('cl_old0'), 'cl_old0')).toBe('99999');
      expect(await admin.zscore(redisKeys(prefix).schedule('cl_old7'), 'cl_old7')).toBe('10007');
      const { due } = await upgraded.claimDue(10_002, 60_000, 10);
      expect(due).toEqual([
        { id: 'cl_old1', dueAt: 10_001 },
        { id: 'cl_old2', dueAt: 10_002 },
      ]);
      // An older replica still writing the old schedule (a rolling upgrade): the next replica to start moves it
      // (and every replica looks again each minute, in claimDue).
      await admin.zadd(legacy, 10_003, 'cl_written_late');
      await (await connectStore(prefix)).close();
      expect(await admin.zscore(redisKeys(prefix).schedule('cl_written_late'), 'cl_written_late')).toBe('10003');
    } finally {
      await upgraded.close();
    }
  });

  it('stores the sealed secret and token exactly as given: sealing is the caller’s job', async () => {
    const entry = makeEntry('cl_a', { token: makeToken(1, { sealedAccessToken: 'v1:k1:opaque+/=token' }) });
    await store.insertClient(entry, UNSCHEDULED);

    const fields = await admin.hgetall(`${prefix}{c:cl_a}`);
    // iseq: the index sequence the counters count it at (see redis-client.store.ts). c, s, t: the record, status
    // and token as compact JSON, split in chunks (c1, c2, ...) short enough for a listpack (redis-entry-codec.ts).
    expect(
      Object.keys(fields)
        .filter((field) => !/^[cst]\d+$/.test(field))
        .sort(),
    ).toEqual(['c', 'gen', 'iseq', 's', 'state', 't']);
    expect(fields.gen).toBe('1');
    expect(Number(fields.iseq)).toBeGreaterThan(0);
    expect(fields.state).toBe('pending');
    expect(JSON.parse(joinedPart(fields, 'c')).s).toBe(entry.client.sealedSecret);
    expect(JSON.parse(joinedPart(fields, 't')).a).toBe('v1:k1:opaque+/=token');
    expect(await store.getClient('cl_a')).toEqual(entry);

    await store.updateClient('cl_a', 1, { token: null });
    expect(Object.keys(await admin.hgetall(`${prefix}{c:cl_a}`)).filter((field) => field.startsWith('t'))).toEqual([]);
  });

  it('shares clients, uniqueness and events between stores on one prefix (replicas)', async () => {
    const replica = await connectStore(prefix);
    try {
      const entry = makeEntry('cl_a', { clientId: 'shared' });
      await store.insertClient(entry, UNSCHEDULED);
      expect(await replica.getClient('cl_a')).toEqual(entry);
      await expect(replica.insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED)).rejects.toBeInstanceOf(
        DuplicateClientError,
      );

      const heard = await subscribed(replica);
      await store.publish({ kind: 'client', id: 'cl_a' });
      await eventually(() => expect(heard.events()).toEqual([{ kind: 'client', id: 'cl_a' }]));
    } finally {
      await replica.close();
    }
  });

  it('ignores channel messages that are not store events', async () => {
    const heard = await subscribed(store);
    for (const junk of [
      'not json',
      'null',
      '{"kind":"client"}',
      '{"kind":"other","id":"x"}',
      '{"kind":"client","id":7}',
    ]) {
      await admin.publish(`${prefix}events`, junk);
    }
    const valid: StoreEvent = { kind: 'service_key', id: 'sk_a' };
    await store.publish(valid);
    await eventually(() => expect(heard.events()).toEqual([valid]));
  });

  it('renews every lock in one script call', async () => {
    for (const id of ['cl_a', 'cl_b', 'cl_c']) await store.lockAndRead(id, 'owner-1', 60_000);
    const monitor = await RedisMonitor.start(admin);
    const commands: string[][] = [];
    // Other test files share this redis-server: keep only this test's commands.
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.startsWith(prefix))) commands.push(args);
    });
    try {
      const locks = ['cl_a', 'cl_b', 'cl_c'].map((id) => ({ id, owner: 'owner-1' }));
      expect(await store.extendLocks(locks, 90_000)).toEqual([]);
      // MONITOR shows the script call, then each command the script runs.
      await eventually(() => expect(commands.filter(([name]) => /^pexpire$/i.test(name))).toHaveLength(3));
    } finally {
      monitor.disconnect();
    }
    const calls = commands.filter(([name]) => /^eval(sha)?$/i.test(name));
    expect(calls).toHaveLength(1);
    expect(calls[0].slice(2, 6)).toEqual(['3', ...['cl_a', 'cl_b', 'cl_c'].map((id) => `${prefix}{c:${id}}:lock`)]);
    expect(await admin.pttl(`${prefix}{c:cl_c}:lock`)).toBeGreaterThan(60_000);
  });

  it("keeps a failing script's arguments (sealed values) out of its error, rethrown and logged", async () => {
    const entry = makeEntry('cl_a');
    await store.insertClient(entry, UNSCHEDULED);
    // No longer a hash: the script's HGET fails with WRONGTYPE after the arguments were sent.
    await admin.del(`${prefix}{c:cl_a}`);
    await admin.set(`${prefix}{c:cl_a}`, 'not a hash');
    const change = {
      client: { ...entry.client, sealedSecret: 'v1:k1:SEALED-SECRET-MARKER' },
      token: makeToken(1, { sealedAccessToken: 'v1:k1:SEALED-TOKEN-MARKER' }),
    };

    const error: unknown = await store.updateClient('cl_a', 1, change, 'LOCK-OWNER-MARKER').then(
      () => null,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(StoreCommandError);
    expect(error).toMatchObject({ command: 'updateClient', message: expect.stringContaining('WRONGTYPE') });
    const lines: string[] = [];
    createLogger('info', { write: (line: string) => lines.push(line) }).error({ err: error }, 'store write failed');
    const logged = lines.join('');
    expect(logged).toContain('WRONGTYPE');
    for (const marker of ['SEALED-SECRET-MARKER', 'SEALED-TOKEN-MARKER', 'LOCK-OWNER-MARKER', 'oauth-cl_a']) {
      expect(logged).not.toContain(marker);
    }
  });

  describe('after a crash between the steps of a write', () => {
    it('skips and drops list entries whose client hash is gone, still filling the page', async () => {
      for (const id of ['cl_a', 'cl_b', 'cl_c', 'cl_d']) await store.insertClient(makeEntry(id), UNSCHEDULED);
      // A delete that stopped after its first step: the hash is gone, the index entries remain.
      await admin.del(`${prefix}{c:cl_b}`);

      expect((await store.listClients({ limit: 2 })).map((entry) => entry.client.id)).toEqual(['cl_a', 'cl_c']);
      expect(await admin.zrange(`${prefix}clients`, 0, -1)).toEqual(['cl_a', 'cl_c', 'cl_d']);
      expect((await store.listClients({ workspaceId: 'o_one', limit: 10 })).map((entry) => entry.client.id)).toEqual([
        'cl_a',
        'cl_c',
        'cl_d',
      ]);
    });

    it('lets a new client take over an OAuth client id whose client is gone', async () => {
      await store.insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
      await admin.del(`${prefix}{c:cl_a}`);

      await store.insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED);
      expect(await admin.hget(`${prefix}{ws:o_one}:client-ids`, 'shared')).toBe('cl_b');
      // The old client's delete, finishing late, must not free the id the new client holds.
      expect(await store.deleteClient('cl_a')).toBeNull();
      await expect(store.insertClient(makeEntry('cl_c', { clientId: 'shared' }), UNSCHEDULED)).rejects.toMatchObject({
        existingId: 'cl_b',
      });
    });
  });
});

describe('RedisStore while Redis is unreachable', () => {
  let server: RedisServerHandle | undefined;
  let store: RedisStore | undefined;

  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('throws StoreUnavailableError, recovers by itself, and resyncs subscribers after a reconnect', async () => {
    const port = await freePort();
    const startedAt = Date.now();
    store = await RedisStore.connect({ url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix('outage') });
    const live = store;
    expect(Date.now() - startedAt).toBeLessThan(5_000);

    await expect(live.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(live.insertClient(makeEntry('cl_a'), UNSCHEDULED)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(live.getClient('cl_a')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(live.tokenStats(10)).rejects.toBeInstanceOf(StoreUnavailableError);

    // Subscribed before Redis is there at all.
    const received: StoreEvent[] = [];
    let resyncs = 0;
    live.subscribe(
      (event) => received.push(event),
      () => (resyncs += 1),
    );

    server = await startRedisServer({ port });
    await eventually(() => live.ping());
    await live.insertClient(makeEntry('cl_a'), UNSCHEDULED);
    expect((await live.getClient('cl_a'))?.client.id).toBe('cl_a');
    await eventually(async () => {
      await live.publish({ kind: 'client', id: 'first' });
      expect(received).toContainEqual({ kind: 'client', id: 'first' });
    });
    expect(resyncs).toBe(0);

    await server.stop();
    await eventually(() => expect(live.ping()).rejects.toBeInstanceOf(StoreUnavailableError));
    await expect(live.setDue('cl_a', 1_000)).rejects.toBeInstanceOf(StoreUnavailableError);

    server = await startRedisServer({ port });
    await eventually(() => expect(resyncs).toBe(1));
    // The command and subscriber connections reconnect independently.
    await eventually(() => live.ping());
    await eventually(async () => {
      await live.publish({ kind: 'client', id: 'after-reconnect' });
      expect(received).toContainEqual({ kind: 'client', id: 'after-reconnect' });
    });
  });
});
