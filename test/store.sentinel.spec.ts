import type Redis from 'ioredis';
import type { Socket } from 'node:net';
import { StoreUnavailableError } from '../src/store/broker-store';
import { baseRedisOptions, createCommandClient } from '../src/store/redis/redis-clients';
import { closeConnection } from '../src/store/redis/redis-connection';
import { RedisStore } from '../src/store/redis.store';
import { describeStoreContract, makeEntry } from './store-contract';
import { startRedisSentinel, type RedisTopologyHandle } from './support/redis-topologies';
import { uniquePrefix } from './support/test-redis';

let sentinel: RedisTopologyHandle;

beforeAll(async () => {
  sentinel = await startRedisSentinel({ replicas: 2, sentinels: 3 });
}, 60_000);

afterAll(async () => {
  await sentinel?.stop();
});

function connectStore(prefix = uniquePrefix('sentinel'), waitReplicas = 0): Promise<RedisStore> {
  return RedisStore.connect({ topology: sentinel.topology, keyPrefix: prefix, waitReplicas });
}

describeStoreContract('RedisStore through 3 Sentinels (a master, 2 replicas)', () => connectStore());

describe('RedisStore through Sentinel with REDIS_WAIT_REPLICAS', () => {
  it('answers an admin write once the replicas have it; 503 (StoreUnavailableError) within about 1 s when they are gone', async () => {
    const store = await connectStore(uniquePrefix('wait'), 2);
    try {
      await expect(store.insertClient(makeEntry('cl_waited'), 1_000)).resolves.toBeUndefined();
      await Promise.all(sentinel.nodes.slice(1).map((replica) => replica.stop()));
      const started = Date.now();
      await expect(store.insertClient(makeEntry('cl_unacknowledged'), 1_000)).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      expect(Date.now() - started).toBeLessThan(1_800);
      // "May or may not be kept": here the master kept it.
      expect(await store.getClient('cl_unacknowledged')).not.toBeNull();
    } finally {
      await store.close();
    }
  });
});

describe('a Sentinel connection that ioredis ends in a failover', () => {
  it('comes back by itself: an end the store did not ask for is undone', async () => {
    const client = createCommandClient(sentinel.topology, baseRedisOptions()) as Redis;
    const statuses: string[] = [];
    for (const status of ['end', 'ready']) client.on(status, () => statuses.push(status));
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      // The race of a real failover, made certain: the lost master's connection closes, and while the reconnect
      // asks a Sentinel for the master, the old failover detector hears +switch-master and disconnects the
      // connector, which makes ioredis's connect fail and end the client.
      const internals = client as unknown as { connector: { disconnect(): void }; stream: Socket };
      client.once('connecting', () => internals.connector.disconnect());
      internals.stream.destroy();
      const deadline = Date.now() + 5_000;
      while (!(statuses.includes('end') && client.status === 'ready') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(statuses).toEqual(['ready', 'end', 'ready']);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await closeConnection(client);
    }
  });
});
