import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { startRedisServer, type RedisServerHandle } from './support/redis-server';

/** SPEC.md "Faults": Redis unreachable, then back, with one broker on a private redis-server. */
describe('Redis outage', () => {
  let upstream: FakePipedream;
  let redis: RedisServerHandle;
  let broker: TestBroker;
  const dir = mkdtempSync(join(tmpdir(), 'tb-outage-'));

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    redis = await startRedisServer({ appendonly: true, dir });
    broker = await startBroker({ upstream, env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await broker?.close();
    await redis?.stop();
    await upstream?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cacheHits(): Promise<number> {
    const metrics = await broker.http().get('/metrics');
    const line = metrics.text.split('\n').find((row) => row.startsWith('tb_token_cache_total{result="hit"}'));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('serves held tokens from memory, refuses admin writes with 503 store_unavailable, reports not ready, and recovers by itself with nothing lost', async () => {
    const clientId = randomSecret('outage');
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_outage', name: 'Outage', type: 'oauth_client_credentials', clientId, clientSecret });
    const id = created.body.id;
    const held = await eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body.access_token : null;
    });
    // A load that raced with the first fetch's change event is not cached: wait until this
    // replica answers from memory (its cache-hit counter moves), as it would in steady state.
    await eventually(async () => {
      const before = await cacheHits();
      await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return (await cacheHits()) > before;
    });

    const { port } = redis;
    await redis.stop();

    const served = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
    expect(served.status).toBe(200);
    expect(served.body.access_token).toBe(held);

    const write = await broker.http().post('/v1/clients').set(admin).send({
      workspaceId: 'o_outage',
      name: 'During',
      type: 'oauth_client_credentials',
      clientId: 'during',
      clientSecret: 'during-secret-01',
    });
    expect(write.status).toBe(503);
    expect(write.headers['retry-after']).toBeDefined();
    expect(write.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.any(String),
      code: 'store_unavailable',
    });

    const notReady = await broker.http().get('/health/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.body.error.store).toEqual({ status: 'down', kind: 'redis', message: 'store unreachable' });

    redis = await startRedisServer({ port, dir, appendonly: true });
    await eventually(async () => (await broker.http().get('/health/ready')).status === 200, 15_000);
    const list = await broker.http().get('/v1/clients').query({ workspaceId: 'o_outage' }).set(admin);
    expect(list.body.items.map((item: { id: string }) => item.id)).toEqual([id]);
    const after = await broker.http().post('/v1/clients').set(admin).send({
      workspaceId: 'o_outage',
      name: 'After',
      type: 'oauth_client_credentials',
      clientId: 'after',
      clientSecret: 'after-secret-01',
    });
    expect(after.status).toBe(201);
  });
});
