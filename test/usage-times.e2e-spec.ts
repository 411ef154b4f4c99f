import Redis from 'ioredis';
import { FakePipedream } from './support/fake-pipedream';
import { admin, bearer, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { RedisMonitor } from './support/redis-monitor';
import { startRedisServer, type RedisServerHandle } from './support/redis-server';
import { uniquePrefix } from './support/test-redis';

/**
 * Usage times over HTTP: `status.lastServedAt` of clients and `lastUsedAt` of
 * service keys, written by each replica in one batch per
 * USAGE_FLUSH_INTERVAL_MS (short here), on a private redis-server so its
 * commands can be counted.
 */
describe('usage times (lastServedAt, lastUsedAt)', () => {
  const WORKSPACE = 'o_usage';
  const FLUSH_MS = 200;
  let redis: RedisServerHandle;
  let upstream: FakePipedream;
  const brokers: TestBroker[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await FakePipedream.start({ expiresIn: 3600 });
  });
  afterAll(async () => {
    for (const broker of brokers.splice(0)) await broker.close();
    await upstream?.stop();
    await redis?.stop();
  });

  async function replica(prefix: string, flushMs = FLUSH_MS): Promise<TestBroker> {
    const broker = await startBroker({
      upstream,
      prefix,
      env: { REDIS_URL: redis.url, USAGE_FLUSH_INTERVAL_MS: String(flushMs) },
    });
    brokers.push(broker);
    return broker;
  }

  /** A registered client holding its first token (fetched in the background: not a token served). */
  async function readyClient(on: TestBroker): Promise<string> {
    const clientId = `pd_${randomSecret('usage')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await on
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WORKSPACE, name: 'Usage', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await eventually(async () => (await view(on, id)).status.state === 'ready');
    return id;
  }

  async function newServiceKey(on: TestBroker): Promise<{ id: string; key: string }> {
    const res = await on
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'usage', workspaces: [WORKSPACE] });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'id', 'key', 'name', 'workspaces']);
    return { id: res.body.id, key: res.body.key };
  }

  async function view(on: TestBroker, id: string) {
    const res = await on.http().get(`/v1/clients/${id}`).set(admin);
    expect(res.status).toBe(200);
    return res.body as { status: { state: string; lastServedAt: string | null } };
  }

  async function lastServed(on: TestBroker, id: string): Promise<number | null> {
    const at = (await view(on, id)).status.lastServedAt;
    return at === null ? null : Date.parse(at);
  }

  async function lastUsed(on: TestBroker, keyId: string): Promise<number | null> {
    const res = await on.http().get('/v1/service-keys').set(admin);
    expect(res.status).toBe(200);
    const item = (res.body.items as { id: string; lastUsedAt: string | null }[]).find((key) => key.id === keyId);
    if (!item) throw new Error(`service key ${keyId} is not listed`);
    return item.lastUsedAt === null ? null : Date.parse(item.lastUsedAt);
  }

  /** Serves a token; returns the window the broker's serve time falls in. */
  async function serve(on: TestBroker, id: string, key: string): Promise<{ from: number; to: number }> {
    const from = Date.now();
    const res = await on.http().get(`/v1/clients/${id}/token`).set(bearer(key));
    expect(res.status).toBe(200);
    return { from, to: Date.now() };
  }

  it('are null before use, set within the flush interval once a token is served (store path then memory), for what was used only', async () => {
    const broker = await replica(uniquePrefix('usage'));
    const used = await readyClient(broker);
    const unused = await readyClient(broker);
    const key = await newServiceKey(broker);
    const idleKey = await newServiceKey(broker);
    expect(await lastServed(broker, used)).toBeNull();
    expect(await lastUsed(broker, key.id)).toBeNull();

    // The first request takes the store path (nothing in this replica's memory yet), the second is a hit.
    for (const path of ['store', 'memory']) {
      const served = await serve(broker, used, key.key);
      const since = Date.now();
      const at = await eventually(
        async () => {
          const time = await lastServed(broker, used);
          return time !== null && time >= served.from ? time : null;
        },
        5_000,
        20,
      );
      expect({ path, at, within: at <= served.to }).toEqual({ path, at, within: true });
      // Written by the next flush: within the interval, with room for a loaded machine.
      expect(Date.now() - since).toBeLessThan(FLUSH_MS + 1_000);
      expect(await lastUsed(broker, key.id)).toBe(at);
    }

    expect(await lastServed(broker, unused)).toBeNull();
    expect(await lastUsed(broker, idleKey.id)).toBeNull();
    const listed = await broker.http().get(`/v1/clients?workspaceId=${WORKSPACE}&limit=500`).set(admin);
    const byId = new Map(
      (listed.body.items as { id: string; status: { lastServedAt: string | null } }[]).map((item) => [item.id, item]),
    );
    expect(byId.get(used)?.status.lastServedAt).toEqual((await view(broker, used)).status.lastServedAt);
    expect(byId.get(unused)?.status.lastServedAt).toBeNull();
  });

  it('never move back with two replicas: a late batch of an older time leaves the later one', async () => {
    const prefix = uniquePrefix('usage2');
    const fast = await replica(prefix, 100);
    const slow = await replica(prefix, 2_000);
    const client = await readyClient(fast);
    const [tick, written] = [await readyClient(fast), await readyClient(fast)];
    const key = await newServiceKey(fast);
    const seen: number[] = [];
    /** Polls until `marker` (served on the slow replica only) shows: the slow replica wrote its batch. */
    const untilSlowWrote = (marker: string) =>
      eventually(
        async () => {
          const time = await lastServed(fast, client);
          if (time !== null) seen.push(time);
          return (await lastServed(fast, marker)) !== null;
        },
        8_000,
        25,
      );

    // The slow replica has just written a batch: its next one is about 2 s away.
    await serve(slow, tick, key.key);
    await untilSlowWrote(tick);

    const older = await serve(slow, client, key.key);
    await serve(slow, written, key.key);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = await serve(fast, client, key.key);
    expect(older.to).toBeLessThan(later.from);
    await eventually(async () => ((await lastServed(fast, client)) ?? 0) >= later.from, 1_500, 20);
    // The fast replica's later time is in before the slow replica's batch, which carries the older one.
    expect(await lastServed(fast, written)).toBeNull();
    await untilSlowWrote(written);

    for (let sample = 0; sample < 5; sample += 1) seen.push((await lastServed(slow, client)) ?? 0);
    expect(seen.every((time, index) => index === 0 || time >= seen[index - 1])).toBe(true);
    const final = seen[seen.length - 1];
    expect(final).toBeGreaterThanOrEqual(later.from);
    expect(final).toBeLessThanOrEqual(later.to);
    expect(await lastUsed(slow, key.id)).toBe(final);
  });

  it('writes what a replica gathered when it shuts down, and drops the times of deleted clients and keys', async () => {
    const prefix = uniquePrefix('usage3');
    const survivor = await replica(prefix);
    const leaving = await replica(prefix, 30_000);
    const client = await readyClient(survivor);
    const key = await newServiceKey(survivor);

    const served = await serve(leaving, client, key.key);
    await leaving.close();
    brokers.splice(brokers.indexOf(leaving), 1);

    const at = await lastServed(survivor, client);
    expect(at).toBeGreaterThanOrEqual(served.from);
    expect(at).toBeLessThanOrEqual(served.to);

    const admin_ = new Redis(redis.url);
    try {
      expect(await admin_.hget(`${prefix}{usage}:clients`, client)).toBe(String(at));
      expect((await survivor.http().delete(`/v1/clients/${client}`).set(admin)).status).toBe(204);
      expect((await survivor.http().delete(`/v1/service-keys/${key.id}`).set(admin)).status).toBe(204);
      expect(await admin_.hget(`${prefix}{usage}:clients`, client)).toBeNull();
      expect(await admin_.hget(`${prefix}{usage}:service-keys`, key.id)).toBeNull();
    } finally {
      await admin_.quit();
    }
  });

  it('1,000 tokens served make at most one usage write per replica per interval', async () => {
    const INTERVAL_MS = 1_000;
    const prefix = uniquePrefix('usage4');
    const replicas = [await replica(prefix, INTERVAL_MS), await replica(prefix, INTERVAL_MS)];
    const client = await readyClient(replicas[0]);
    const key = await newServiceKey(replicas[0]);
    // Each replica serves once and writes it, so the script is cached on the server before counting.
    for (const on of replicas) {
      const served = await serve(on, client, key.key);
      await eventually(async () => ((await lastServed(on, client)) ?? 0) >= served.from, 5_000, 50);
    }

    const probe = new Redis(redis.url);
    const monitor = await RedisMonitor.start(probe);
    const writes: { source: string; args: string[] }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (
        /^(eval|evalsha|hset|hdel|hsetnx|hincrby|del)$/i.test(args[0]) &&
        args.some((arg) => arg.includes(`${prefix}{usage}`))
      ) {
        writes.push({ source, args });
      }
    });
    let window: number;
    try {
      await eventually(async () => {
        await probe.hset(`${prefix}{usage}:probe`, 'probe', '1');
        return writes.length > 0;
      });
      writes.splice(0);
      const start = Date.now();
      let last = { from: 0, to: 0 };
      for (let batch = 0; batch < 50; batch += 1) {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, index) => serve(replicas[(batch * 20 + index) % 2], client, key.key)),
        );
        last = answers[answers.length - 1];
      }
      // Both replicas write what they gathered within one more interval.
      await eventually(async () => ((await lastServed(replicas[0], client)) ?? 0) >= last.from, 5_000, 50);
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + 200));
      window = Date.now() - start;
    } finally {
      await probe.quit();
      monitor.disconnect();
    }

    // The HSETs a script runs show with the source "lua"; what a replica sends itself are script calls only.
    const bySource = new Map<string, number>();
    for (const { source, args } of writes.filter((write) => write.source !== 'lua')) {
      expect(args[0].toLowerCase()).toMatch(/^eval(sha)?$/);
      bySource.set(source, (bySource.get(source) ?? 0) + 1);
    }
    // A write per request would be 500 per replica; a write per interval is a handful.
    const intervals = Math.floor(window / INTERVAL_MS) + 1;
    expect(bySource.size).toBe(2);
    for (const count of bySource.values()) {
      expect(count).toBeGreaterThanOrEqual(1);
      expect(count).toBeLessThanOrEqual(intervals);
    }
    expect(intervals).toBeLessThan(20);
  });
});
