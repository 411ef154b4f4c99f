import Redis from 'ioredis';
import { RedisStore } from '../src/store/redis.store';
import { redisKeys } from '../src/store/redis/redis-keys';
import { describeStoreContract, eventually, makeEntry, statusIn, subscribed } from './store-contract';
import { masterPorts, startRedisCluster, type RedisTopologyHandle } from './support/redis-topologies';
import { uniquePrefix } from './support/test-redis';

let cluster: RedisTopologyHandle;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function connectStore(prefix = uniquePrefix('cluster'), waitReplicas = 0): Promise<RedisStore> {
  return RedisStore.connect({ topology: cluster.topology, keyPrefix: prefix, waitReplicas });
}

describeStoreContract('RedisStore on a 3-master Redis Cluster', () => connectStore());

describe('RedisStore on a Redis Cluster', () => {
  it('spreads clients, the schedule and the counters over every master', async () => {
    const prefix = uniquePrefix('spread');
    const store = await connectStore(prefix);
    try {
      for (let index = 0; index < 90; index += 1) await store.insertClient(makeEntry(`cl_${index}`), 1_000 + index);
      const keys = redisKeys(prefix);
      const perMaster = await Promise.all(
        (await masterPorts(cluster)).map(async (port) => {
          const redis = new Redis({ port, host: '127.0.0.1' });
          try {
            const slotsOf = async (list: string[]) => {
              let held = 0;
              for (const key of list) {
                const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
                held += Number(await redis.call('CLUSTER', 'COUNTKEYSINSLOT', slot));
              }
              return held;
            };
            let countersShards = 0;
            for (const { byState } of keys.statsShards) {
              const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', byState));
              if (Number(await redis.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0) countersShards += 1;
            }
            return {
              clients: await slotsOf(Array.from({ length: 90 }, (_, index) => keys.client(`cl_${index}`))),
              scheduleShards: await slotsOf(keys.scheduleShards),
              countersShards,
            };
          } finally {
            redis.disconnect();
          }
        }),
      );
      expect(perMaster).toHaveLength(3);
      for (const { clients, scheduleShards, countersShards } of perMaster) {
        expect(clients).toBeGreaterThan(15);
        expect(scheduleShards).toBeGreaterThanOrEqual(5);
        expect(countersShards).toBeGreaterThanOrEqual(5);
      }
      expect((await store.tokenStats(0)).byState.pending).toBe(90);
      const claimed = await store.claimDue(5_000, 60_000, 200);
      expect(claimed.due.map(({ id }) => id)).toEqual(Array.from({ length: 90 }, (_, index) => `cl_${index}`));
    } finally {
      await store.close();
    }
  });

  it('delivers change events to a replica on another node well within 1 s (classic pub/sub crosses the cluster bus)', async () => {
    const prefix = uniquePrefix('events');
    const writer = await connectStore(prefix);
    const reader = await connectStore(prefix);
    try {
      const received = new Map<string, number>();
      reader.subscribe(
        (event) => {
          if (event.kind === 'client') received.set(event.id, Date.now());
        },
        () => undefined,
      );
      await subscribed(reader);
      const sentAt = new Map<string, number>();
      for (let index = 0; index < 200; index += 1) {
        const id = `cl_ev${index}`;
        await writer.insertClient(makeEntry(id), 1_000);
        sentAt.set(id, Date.now());
        await writer.updateClient(id, 1, { status: statusIn('ready') });
      }
      await eventually(() => expect([...sentAt.keys()].filter((id) => !received.has(id))).toEqual([]), 2_000);
      const delays = [...sentAt].map(([id, at]) => (received.get(id) ?? Infinity) - at).sort((x, y) => x - y);
      const figure = { p50: delays[100], p99: delays[198], max: delays[199] };
      process.stdout.write(
        `change event propagation on the cluster (ms, write to delivery): ${JSON.stringify(figure)}\n`,
      );
      expect(delays[Math.floor(delays.length * 0.99)]).toBeLessThan(250);
      expect(delays[delays.length - 1]).toBeLessThan(1_000);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('with REDIS_WAIT_REPLICAS=1 answers an admin write once a replica has it', async () => {
    const store = await connectStore(uniquePrefix('wait'), 1);
    try {
      await expect(store.insertClient(makeEntry('cl_waited'), 1_000)).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
