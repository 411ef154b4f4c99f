import Redis from 'ioredis';
import { FakePipedream } from './support/fake-pipedream';
import { admin, bearer, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { testRedisUrl } from './support/test-redis';
import { dumpRedis, expectContractError } from './security/support';

jest.setTimeout(60_000);

const WS = 'o_batch';

describe('POST /v1/clients/batch (Redis store, fake upstream)', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let redis: Redis;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({ upstream });
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    redis?.disconnect();
  });

  function oauth(overrides: Record<string, unknown> = {}) {
    const clientId = `pd_${randomSecret('batch')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    return { workspaceId: WS, name: 'Batch', type: 'oauth_client_credentials', clientId, clientSecret, ...overrides };
  }
  const batch = (body: unknown) =>
    broker
      .http()
      .post('/v1/clients/batch')
      .set(admin)
      .send(body as object);

  it('stores each item on its own: 201 with the client view, or the error POST /v1/clients would give, in order', async () => {
    const existing = oauth();
    expect((await broker.http().post('/v1/clients').set(admin).send(existing)).status).toBe(201);
    const first = oauth();
    const apiKey = randomSecret('pd_key');
    const items = [
      first,
      { workspaceId: WS, type: 'oauth_client_credentials', clientId: 'pd_x', clientSecret: randomSecret() },
      { workspaceId: WS, name: 'Key', type: 'api_key', apiKey },
      { ...oauth(), clientId: existing.clientId },
      { ...oauth(), surprise: 1 },
      oauth({ tokenUrl: 'https://evil.example/token' }),
      { ...oauth(), clientId: 'pd_in_batch_twice' },
      { ...oauth(), clientId: 'pd_in_batch_twice' },
      // Bad text inside one item is that item's 400, never the whole body's.
      { ...oauth(), clientSecret: `${randomSecret()}\n` },
      { ...oauth(), name: 'Acme \ud83d' },
      { ...oauth(), scope: null },
    ];
    const res = await batch({ items });
    expect(res.status).toBe(200);
    expect(res.body.items.map((item: { index: number; status: number }) => [item.index, item.status])).toEqual([
      [0, 201],
      [1, 400],
      [2, 201],
      [3, 409],
      [4, 400],
      [5, 400],
      [6, expect.any(Number)],
      [7, expect.any(Number)],
      [8, 400],
      [9, 400],
      [10, 400],
    ]);
    expect([res.body.items[6].status, res.body.items[7].status].sort()).toEqual([201, 409]);
    expect(res.body.items[0].client).toMatchObject({
      workspaceId: WS,
      clientId: first.clientId,
      secretHint: first.clientSecret.slice(-4),
    });
    expect(res.body.items[2].client).toMatchObject({ type: 'api_key', clientId: null, secretHint: apiKey.slice(-4) });
    // Each failing item's error is what the single route answers for the same body.
    for (const index of [1, 3, 4, 5, 8, 9, 10]) {
      const single = await broker.http().post('/v1/clients').set(admin).send(items[index]);
      expect({ index, error: res.body.items[index].error }).toEqual({ index, error: single.body });
      expect(res.body.items[index]).not.toHaveProperty('client');
    }
    expect(res.body.items[3].error).toMatchObject({ statusCode: 409, code: 'conflict' });
    expect(res.body.items[1].error).toMatchObject({
      statusCode: 400,
      code: 'bad_request',
      details: [expect.objectContaining({ field: 'name' })],
    });
    for (const secret of [first.clientSecret, apiKey, ...items.map((item) => String(item.clientSecret))])
      expect(res.text).not.toContain(secret);
  });

  it('audits every stored client as client.create and schedules its first token, as if registered alone', async () => {
    const items = Array.from({ length: 20 }, () => oauth());
    const res = await batch({ items });
    expect(res.body.items.every((item: { status: number }) => item.status === 201)).toBe(true);
    const ids: string[] = res.body.items.map((item: { client: { id: string } }) => item.client.id);
    for (const id of ids) {
      const audit = await broker.http().get(`/v1/audit-events?clientId=${id}`).set(admin);
      expect(audit.body.items).toEqual([
        expect.objectContaining({
          action: 'client.create',
          clientId: id,
          workspaceId: WS,
          actor: expect.stringMatching(/^admin:[0-9a-f]{8}$/),
        }),
      ]);
    }
    await eventually(async () => {
      const views = await Promise.all(ids.map((id) => broker.http().get(`/v1/clients/${id}`).set(admin)));
      return views.every((view) => view.body.status.state === 'ready');
    });
    for (const item of items) expect(upstream.tokenRequestCount(item.clientId)).toBe(1);
  });

  it('takes 1000 items with PEM-sized secrets in one body of nearly 4 MB', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      workspaceId: `o_batch_big_${i % 7}`,
      name: `Big ${i}`,
      type: 'api_key',
      apiKey: `pd_${randomSecret('pem')}${'K'.repeat(3500)}`,
    }));
    const body = JSON.stringify({ items });
    expect(body.length).toBeGreaterThan(3_500_000);
    const startedAt = Date.now();
    const res = await broker
      .http()
      .post('/v1/clients/batch')
      .set(admin)
      .set('content-type', 'application/json')
      .send(body);
    const elapsedMs = Date.now() - startedAt;
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1000);
    expect(res.body.items.filter((item: { status: number }) => item.status !== 201)).toEqual([]);
    expect(res.body.items.map((item: { index: number }) => item.index)).toEqual(items.map((_, i) => i));
    process.stdout.write(`batch: 1000 api_key clients (3.6 MB) in ${elapsedMs} ms\n`);
    // Their first checks run in the background: let them settle, so the next tests see a quiet Redis.
    await eventually(
      async () => (await broker.http().get('/health/tokens').set(admin)).body.byState.pending === 0,
      60_000,
      200,
    );
  });

  it.each([
    ['no items', { items: [] }],
    [
      '1001 items',
      { items: Array.from({ length: 1001 }, () => ({ workspaceId: WS, name: 'n', type: 'api_key', apiKey: 'k' })) },
    ],
    [
      'items that are not objects',
      { items: [{ workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() }, 1, 'x'] },
    ],
    ['a null item', { items: [{ workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() }, null] }],
    ['an array item', { items: [[{ workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() }]] }],
    [
      'items that is an object',
      { items: { 0: { workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() } } },
    ],
    ['no items field', {}],
    [
      'a field beside items',
      { items: [{ workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() }], dryRun: true },
    ],
    ['a bare array', [{ workspaceId: WS, name: 'n', type: 'api_key', apiKey: randomSecret() }]],
  ])('refuses a body with %s with 400 and stores nothing', async (_label, body) => {
    const before = await dumpRedis(redis, broker.config.redisKeyPrefix);
    const res = await batch(body);
    expectContractError(res, String(_label), 400);
    expect(res.body.code).toBe('bad_request');
    expect(await dumpRedis(redis, broker.config.redisKeyPrefix)).toEqual(before);
  });

  it('refuses a body over 4 MB with 413, while every other route keeps its 64 KB limit', async () => {
    const before = await dumpRedis(redis, broker.config.redisKeyPrefix);
    const huge = JSON.stringify({
      items: [{ workspaceId: WS, name: 'n'.repeat(4 * 1024 * 1024), type: 'api_key', apiKey: 'k' }],
    });
    const res = await broker
      .http()
      .post('/v1/clients/batch')
      .set(admin)
      .set('content-type', 'application/json')
      .send(huge);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
    const single = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send(oauth({ name: 'x'.repeat(70 * 1024) }));
    expect(single.status).toBe(413);
    expect(await dumpRedis(redis, broker.config.redisKeyPrefix)).toEqual(before);
  });

  it('answers 401 without a key and 403 to a service key, storing nothing', async () => {
    const key = await broker
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'svc', workspaces: ['*'] });
    const before = await dumpRedis(redis, broker.config.redisKeyPrefix);
    const body = { items: [oauth()] };
    const anonymous = await broker.http().post('/v1/clients/batch').send(body);
    expectContractError(anonymous, 'no key', 401);
    const service = await broker.http().post('/v1/clients/batch').set(bearer(key.body.key)).send(body);
    expectContractError(service, 'service key', 403);
    expect(await dumpRedis(redis, broker.config.redisKeyPrefix)).toEqual(before);
  });
});
