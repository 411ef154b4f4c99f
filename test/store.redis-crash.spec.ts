import Redis from 'ioredis';
import { RedisStore } from '../src/store/redis.store';
import type { FailpointName } from '../src/store/redis/failpoint';
import { REPAIR_WITHIN_MS } from '../src/store/redis/redis-client.store';
import { redisKeys } from '../src/store/redis/redis-keys';
import { loadScripts, type ScriptName } from '../src/store/redis/script-loader';
import { initialStatus } from '../src/store/store.types';
import { CERTIFICATE_WARNING_INTERVAL_MS, type WebhookRecord } from '../src/store/webhook.types';
import { RedisMonitor } from './support/redis-monitor';
import { startRedisServer, type RedisServerHandle } from './support/redis-server';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import { UNSCHEDULED, eventually, expectCountersExact, isoAt, makeEntry, statusIn } from './store-contract';

/**
 * The counters of /health/tokens live in another Redis Cluster slot than a
 * client, so a write and its counting are two steps. Here a process dies
 * between them (TEST_FAILPOINT's in-process form: the store stops there for
 * good and is closed), and the repair (the next claim, write or removeDue of
 * that client, or the rebuild at start) must make tokenStats exact again.
 */
const IDS = ['cl_a', 'cl_b'];

describe('RedisStore counters after a crash between a client write and its counting', () => {
  let admin: Redis;
  let prefix: string;
  let store: RedisStore;
  const opened: RedisStore[] = [];

  const connect = async (failpoint?: FailpointName, onFailpoint?: () => void) => {
    const logger = { warn: (details: object) => ('failpoint' in details ? onFailpoint?.() : undefined) };
    const connected = await RedisStore.connect({ url: testRedisUrl(), keyPrefix: prefix, failpoint, logger });
    opened.push(connected);
    return connected;
  };

  /** Runs `write` on a store that stops at the failpoint, then "kills" it: its second step never runs. */
  const crashDuring = async (
    write: (dying: RedisStore) => Promise<unknown>,
    failpoint: FailpointName = 'after-client-write',
  ) => {
    let reached!: () => void;
    const atFailpoint = new Promise<void>((resolve) => (reached = resolve));
    const dying = await connect(failpoint, reached);
    void write(dying);
    await atFailpoint;
    await dying.close();
  };

  const runScript = (name: ScriptName, keys: string[], argv: string[]) =>
    admin.eval(loadScripts().get(name)!.lua, keys.length, ...keys, ...argv);

  beforeAll(() => {
    admin = new Redis(testRedisUrl());
  });

  beforeEach(async () => {
    prefix = uniquePrefix('crash');
    store = await connect();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  afterAll(async () => {
    await admin.quit();
  });

  async function claimAndLock(id: string): Promise<void> {
    const { due } = await store.claimDue(Date.now() + REPAIR_WITHIN_MS + 1, Date.now() + 60_000, 10);
    expect(due.map((client) => client.id)).toContain(id);
    const read = await store.lockAndRead(id, 'survivor', 10_000);
    expect(read.locked).toBe(true);
    if (read.locked && read.entry === null) await store.removeDue(id);
  }

  it('a change of state cut off before its counting is counted by the next claim of the client', async () => {
    await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
    await store.insertClient(makeEntry('cl_b', { status: statusIn('ready') }), UNSCHEDULED);

    await crashDuring((dying) => dying.updateClient('cl_a', 1, { status: statusIn('rejected', isoAt(4)) }));

    // The crash is real: the client says rejected, the counters still say pending.
    expect((await store.getClient('cl_a'))?.status.state).toBe('rejected');
    expect((await store.tokenStats(10)).byState).toEqual({ pending: 1, ready: 1, failing: 0, rejected: 0 });
    // The write pulled the client's schedule entry in, so a replica claims it soon.
    const due = Number(await admin.zscore(redisKeys(prefix).schedule('cl_a'), 'cl_a'));
    expect(due).toBeLessThanOrEqual(Date.now() + REPAIR_WITHIN_MS);

    await claimAndLock('cl_a');

    await expectCountersExact(store, IDS);
    expect(await store.tokenStats(10)).toMatchObject({
      byState: { pending: 0, ready: 1, rejected: 1 },
      failingIds: ['cl_a'],
    });
    expect(await admin.hexists(`${prefix}{c:cl_a}`, 'unindexed')).toBe(0);
  });

  it('is counted by the next write of the client, even one that changes no state', async () => {
    await store.insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
    await crashDuring((dying) => dying.updateClient('cl_a', 1, { status: statusIn('ready') }));
    expect((await store.tokenStats(10)).failingIds).toEqual(['cl_a']);

    await store.updateClient('cl_a', 1, { token: null });

    await expectCountersExact(store, IDS);
    expect((await store.tokenStats(10)).failingIds).toEqual([]);
  });

  it('a delete cut off after removing the client is finished when a claim finds it gone', async () => {
    await store.insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
    await store.insertClient(makeEntry('cl_b'), UNSCHEDULED);

    await crashDuring((dying) => dying.deleteClient('cl_a'));
    expect(await store.getClient('cl_a')).toBeNull();
    expect(await store.tokenStats(10)).toMatchObject({ total: 2, failingIds: ['cl_a'] });

    await claimAndLock('cl_a');

    await expectCountersExact(store, IDS);
    expect(await store.tokenStats(10)).toMatchObject({ total: 1, byState: { pending: 1, failing: 0 }, failingIds: [] });
    expect(await admin.zscore(redisKeys(prefix).schedule('cl_a'), 'cl_a')).toBeNull();
  });

  it('a late counting step, of a write cut off before a delete, does not count the deleted client again', async () => {
    await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
    await crashDuring((dying) => dying.updateClient('cl_a', 1, { status: statusIn('failing', isoAt(1)) }));
    const seq = await admin.hget(`${prefix}{c:cl_a}`, 'unindexed');
    await store.deleteClient('cl_a');

    const { byState, counted, failing, removed } = redisKeys(prefix).stats('cl_a');
    const keys = [byState, counted, failing, removed];
    const late = { id: 'cl_a', state: 'failing', seq, failing: true, score: 1, now: Date.now(), removedKeepMs: 60_000 };
    expect(await runScript('indexClient', keys, [JSON.stringify(late)])).toBe(0);

    await expectCountersExact(store, IDS);
    expect(await store.tokenStats(10)).toMatchObject({ total: 0, failingIds: [] });
  });

  it('an insert cut off right after its hash is scheduled within REPAIR_WITHIN_MS, then listed and counted', async () => {
    const insertedAt = Date.now();
    await crashDuring(
      (dying) => dying.insertClient(makeEntry('cl_a', { status: statusIn('ready') }), insertedAt),
      'after-client-insert',
    );
    const due = Number(await admin.zscore(redisKeys(prefix).schedule('cl_a'), 'cl_a'));
    expect(due).toBeGreaterThan(insertedAt);
    expect(due).toBeLessThanOrEqual(Date.now() + REPAIR_WITHIN_MS);
    expect(await store.listClients({ limit: 10 })).toEqual([]);

    await claimAndLock('cl_a');

    expect((await store.listClients({ limit: 10 })).map((listed) => listed.client.id)).toEqual(['cl_a']);
    expect(await store.tokenStats(10)).toMatchObject({ total: 1, byState: { ready: 1 } });
  });

  it('an insert whose OAuth client id is taken leaves nothing behind, not even its repair entry', async () => {
    await store.insertClient(makeEntry('cl_a', { clientId: 'pd_same' }), UNSCHEDULED);
    await expect(store.insertClient(makeEntry('cl_b', { clientId: 'pd_same' }), Date.now())).rejects.toThrow();
    expect(await admin.zscore(redisKeys(prefix).schedule('cl_b'), 'cl_b')).toBeNull();
    expect(await admin.exists(redisKeys(prefix).client('cl_b'))).toBe(0);
    expect(await store.tokenStats(10)).toMatchObject({ total: 1, nextDueAt: UNSCHEDULED });
  });

  it('an insert cut off after its hash and schedule entry is listed and counted by the first claim', async () => {
    const entry = makeEntry('cl_a', { status: statusIn('rejected', isoAt(2)) });
    const args = {
      client: JSON.stringify(entry.client),
      generation: '1',
      state: 'rejected',
      status: JSON.stringify(entry.status),
      seq: String(Date.now() * 1_000),
    };
    await runScript('insertClient', [`${prefix}{c:cl_a}`], [JSON.stringify(args)]);
    await admin.zadd(redisKeys(prefix).schedule('cl_a'), Date.now(), 'cl_a');
    expect((await store.tokenStats(10)).total).toBe(0);

    await claimAndLock('cl_a');

    expect((await store.listClients({ limit: 10 })).map((listed) => listed.client.id)).toEqual(['cl_a']);
    expect(await store.tokenStats(10)).toMatchObject({ total: 1, byState: { rejected: 1 }, failingIds: ['cl_a'] });
  });

  it('a webhook event cut off before its queuing is queued by the next claim of the client, once', async () => {
    await store.insertWebhook(webhookRecord('wh_a'));
    await store.insertClient(makeEntry('cl_a', { status: statusIn('ready') }), UNSCHEDULED);
    await crashDuring((dying) => dying.updateClient('cl_a', 1, { status: statusIn('failing', isoAt(1)) }));
    expect(await store.claimDeliveries(Date.now(), Date.now() + 60_000, 10)).toEqual([]);
    expect(
      Object.keys(await admin.hgetall(`${prefix}{c:cl_a}`)).filter((field) => field.startsWith('ev:')),
    ).toHaveLength(1);

    await claimAndLock('cl_a');
    // A second repair (another replica's, late) queues nothing more.
    await store.updateClient('cl_a', 1, { token: null });

    const claimed = await store.claimDeliveries(Date.now(), Date.now() + 60_000, 10);
    expect(claimed.map((delivery) => [delivery.webhookId, delivery.type])).toEqual([['wh_a', 'client.failing']]);
    expect(await store.countPendingDeliveries()).toBe(1);
    expect(Object.keys(await admin.hgetall(`${prefix}{c:cl_a}`)).filter((field) => field.startsWith('ev:'))).toEqual(
      [],
    );
    await expectCountersExact(store, ['cl_a']);
  });

  it('a certificate_expiring event recorded by a replica that died before queuing it is queued by the next claim', async () => {
    await store.insertWebhook(webhookRecord('wh_a'));
    await store.insertClient(makeEntry('cl_a', { status: statusIn('ready') }), UNSCHEDULED);
    const now = Date.now();
    // The first step alone, as the dying replica ran it: the guard and the outbox record.
    const args = [String(now), new Date(now).toISOString(), String(CERTIFICATE_WARNING_INTERVAL_MS), 'cl_a'];
    expect(await runScript('raiseCertificateExpiring', [`${prefix}{c:cl_a}`], args)).toEqual(expect.any(String));
    expect(await store.claimDeliveries(Date.now(), Date.now() + 60_000, 10)).toEqual([]);
    // Another replica within the day records nothing: the guard was written with the event.
    expect(await store.raiseCertificateExpiring('cl_a', now + 1_000)).toBe(false);

    // The client's next scheduled refresh takes its lock, which queues what the outbox holds.
    expect((await store.lockAndRead('cl_a', 'survivor', 10_000)).locked).toBe(true);

    const claimed = await store.claimDeliveries(Date.now(), Date.now() + 60_000, 10);
    expect(claimed.map((delivery) => [delivery.webhookId, delivery.type])).toEqual([
      ['wh_a', 'client.certificate_expiring'],
    ]);
    expect(Object.keys(await admin.hgetall(`${prefix}{c:cl_a}`)).filter((field) => field.startsWith('ev:'))).toEqual(
      [],
    );
  });

  /** What each earlier layout of the counters left: their keys (here with wrong counts), not the shards. */
  const earlierLayouts = [
    {
      version: 1,
      // No index sequence on the clients yet, and no version key.
      write: async () => {
        for (const id of ['cl_a', 'cl_b']) await admin.hdel(`${prefix}{c:${id}}`, 'iseq', 'unindexed');
        await admin.hset(`${prefix}stats`, { ready: '-1', failing: '3' });
        await admin.zadd(`${prefix}failing`, 1, 'cl_gone');
      },
      keys: () => [`${prefix}stats`, `${prefix}failing`],
    },
    {
      version: 2,
      // One {stats} slot for every client's counting.
      write: async () => {
        await admin.hset(`${prefix}{stats}:by-state`, { ready: '-1', failing: '3' });
        await admin.hset(`${prefix}{stats}:counted`, { cl_a: '1:failing' });
        await admin.zadd(`${prefix}{stats}:failing`, 1, 'cl_gone');
        await admin.zadd(`${prefix}{stats}:removed`, Date.now(), 'cl_deleted');
        await admin.set(`${prefix}{stats}:version`, '2');
      },
      keys: () => ['by-state', 'counted', 'failing', 'removed'].map((name) => `${prefix}{stats}:${name}`),
    },
  ];

  it.each(earlierLayouts)(
    'counts a prefix of counters layout $version once, at start, into the shards, and drops the old counters',
    async ({ write, keys }) => {
      await store.insertClient(makeEntry('cl_a', { status: statusIn('ready') }), UNSCHEDULED);
      const failing = { ...initialStatus(), state: 'failing' as const, failingSince: isoAt(7) };
      await store.insertClient(makeEntry('cl_b', { status: failing }), UNSCHEDULED);
      await store.close();
      const shards = redisKeys(prefix).statsShards.flatMap(({ byState, counted, failing: list }) => [
        byState,
        counted,
        list,
      ]);
      await admin.del(...shards, `${prefix}{stats}:version`);
      await write();

      store = await connect();

      await expectCountersExact(store, IDS);
      expect(await store.tokenStats(10)).toMatchObject({ total: 2, failingIds: ['cl_b'] });
      expect(await admin.exists(...keys())).toBe(0);
      // Later changes of the old clients are counted on top of the rebuilt counts.
      await store.updateClient('cl_b', 1, { status: statusIn('ready') });
      await expectCountersExact(store, IDS);
    },
  );
});

/**
 * What the counters cost a write. On a redis-server of its own: MONITOR
 * shows every client's commands, and the shared test server has other test
 * files' traffic.
 */
describe('RedisStore counters cost', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let store: RedisStore;
  const prefix = 'cost:';

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    store = await RedisStore.connect({ url: server.url, keyPrefix: prefix });
  });

  afterAll(async () => {
    await store.close();
    await admin.quit();
    await server.stop();
  });

  it('sends no counters command for a write that keeps the state, one index step for a change of state', async () => {
    await store.insertClient(makeEntry('cl_a', { status: statusIn('ready') }), UNSCHEDULED);
    const commands = await monitored(admin, async () => {
      await store.updateClient('cl_a', 1, { status: statusIn('ready') });
    });
    // One round trip: the schedule entry pulled in, then the client script (EVAL the first time on a connection).
    expect(commands.map(([name, key]) => `${name.toLowerCase()} ${key}`)).toEqual([
      `zadd ${redisKeys(prefix).schedule('cl_a')}`,
      expect.stringMatching(/^eval(sha)? /),
      // The status is written as one HSET of its chunks and state, then one HDEL of what an older layout or a
      // longer status left; OBJECT ENCODING: whether the hash must be made a listpack again (redis-entry-codec.ts).
      ...['exists', 'hget', 'hget', 'hset', 'hdel'].map((name) => `${name} ${key(name)}`),
      'object ENCODING',
      ...['publish', 'hget'].map((name) => `${name} ${key(name)}`),
    ]);

    const changed = await monitored(admin, async () => {
      await store.updateClient('cl_a', 1, { status: statusIn('failing', isoAt(1)) });
    });
    const scripts = changed.filter(([name]) => /^eval(sha)?$/i.test(name));
    // ready -> failing raises client.failing: its queuing step ({webhooks}) runs before the index step.
    expect(scripts.map((args) => args[3])).toEqual([
      `${prefix}{c:cl_a}`,
      `${prefix}{webhooks}:hooks`,
      redisKeys(prefix).stats('cl_a').byState,
      `${prefix}{c:cl_a}`,
    ]);
    await expectCountersExact(store, ['cl_a']);

    function key(command: string): string {
      return command === 'publish' ? `${prefix}events` : `${prefix}{c:cl_a}`;
    }
  });
});

function webhookRecord(id: string): WebhookRecord {
  return {
    id,
    url: 'https://hooks.example.com/x',
    events: ['*'],
    workspaces: ['*'],
    sealedSecret: 'v1.k.sealed',
    createdAt: isoAt(0),
  };
}

/** The commands Redis ran while `action` ran, as MONITOR shows them (a script's own commands after it). */
async function monitored(admin: Redis, action: () => Promise<void>): Promise<string[][]> {
  const monitor = await RedisMonitor.start(admin);
  const commands: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => commands.push(args));
  try {
    await action();
    await admin.echo('monitor-end');
    await eventually(() => expect(commands.map(([name]) => name.toLowerCase())).toContain('echo'));
  } finally {
    monitor.disconnect();
  }
  return commands.filter(([name]) => name.toLowerCase() !== 'echo');
}
