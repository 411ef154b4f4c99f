import Redis from 'ioredis';
import { redisKeys } from '../src/store/redis/redis-keys';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import {
  masterPorts,
  replicaNodes,
  startRedisCluster,
  topologyEnv,
  type RedisTopologyHandle,
} from './support/redis-topologies';
import { uniquePrefix } from './support/test-redis';

/**
 * Two brokers (replicas of one deployment) on a 3-master, 3-replica Redis
 * Cluster: tokens are served and refreshed, changes reach the other replica
 * within the contract's 1 s, the data and the schedule spread over every
 * master, and REDIS_WAIT_REPLICAS holds an admin write to its replica.
 */
describe('brokers on a Redis Cluster (3 masters, 3 replicas)', () => {
  const WORKSPACE = 'o_cluster';
  const prefix = uniquePrefix('cluster_e2e');
  let cluster: RedisTopologyHandle;
  let upstream: FakePipedream;
  let a: TestBroker;
  let b: TestBroker;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
    upstream = await FakePipedream.start({ expiresIn: 6 });
    const env = { ...topologyEnv(cluster), MIN_TOKEN_TTL_SECONDS: '1' };
    a = await startBroker({ upstream, prefix, store: 'topology', env });
    b = await startBroker({ upstream, prefix, store: 'topology', env: { ...env, REDIS_WAIT_REPLICAS: '1' } });
  }, 90_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.stop();
    await cluster?.stop();
  });

  async function register(on: TestBroker, expected = 201) {
    const clientId = `pd_${randomSecret('client')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await on
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WORKSPACE, name: 'On a cluster', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(res.status).toBe(expected);
    return { id: res.body.id as string, clientId, body: res.body };
  }

  const token = (on: TestBroker, id: string) => on.http().get(`/v1/clients/${id}/token`).set(admin);

  it('serves tokens from both replicas and refreshes them before they expire', async () => {
    const client = await register(a);
    const first = await eventually(async () => {
      const res = await token(b, client.id);
      return res.status === 200 ? (res.body.access_token as string) : null;
    });
    expect((await token(a, client.id)).body.access_token).toBe(first);
    await eventually(() => upstream.issued.filter((t) => t.clientId === client.clientId).length >= 2, 8_000);
    const second = upstream.issued.filter((t) => t.clientId === client.clientId)[1].accessToken;
    await eventually(async () => (await token(b, client.id)).body.access_token === second, 2_000);
  });

  it('a deleted client is not served by the other replica after 1 s', async () => {
    const client = await register(a);
    await eventually(async () => (await token(b, client.id)).status === 200);
    expect((await a.http().delete(`/v1/clients/${client.id}`).set(admin)).status).toBe(204);
    const deletedAt = Date.now();
    await eventually(async () => (await token(b, client.id)).status === 404, 1_000);
    expect(Date.now() - deletedAt).toBeLessThan(1_000);
  });

  it('spreads client keys and schedule entries over all 3 masters', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 30; index += 1) ids.push((await register(a)).id);
    const keys = redisKeys(prefix);
    const perMaster: { clients: number; scheduled: number }[] = [];
    for (const port of await masterPorts(cluster)) {
      const redis = new Redis({ port, host: '127.0.0.1' });
      try {
        let clients = 0;
        let scheduled = 0;
        for (const id of ids) {
          const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', keys.client(id)));
          clients += Number(await redis.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0 ? 1 : 0;
        }
        for (const shard of keys.scheduleShards) {
          const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', shard));
          if (Number(await redis.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0) scheduled += await redis.zcard(shard);
        }
        perMaster.push({ clients, scheduled });
      } finally {
        redis.disconnect();
      }
    }
    expect(perMaster).toHaveLength(3);
    for (const { clients, scheduled } of perMaster) {
      expect(clients).toBeGreaterThan(0);
      expect(scheduled).toBeGreaterThan(0);
    }
  });

  it('with REDIS_WAIT_REPLICAS=1: 201 while the replicas run, 503 store_unavailable once they are stopped', async () => {
    await register(b, 201);
    const replicas = await replicaNodes(cluster);
    expect(replicas).toHaveLength(3);
    await Promise.all(replicas.map((replica) => replica.stop()));
    const refused = await register(b, 503);
    expect(refused.body.code).toBe('store_unavailable');
    // Broker a waits for no replica: its writes go on.
    await register(a, 201);
  });
});
