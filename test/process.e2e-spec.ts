import request from 'supertest';
import { FakePipedream } from './support/fake-pipedream';
import { ENCRYPTION_KEY, eventually } from './support/broker';
import { spawnBroker, waitForOutput, type BrokerProcess } from './support/broker-process';
import { freePort } from './support/redis-server';
import { testRedisUrl, uniquePrefix } from './support/test-redis';

/** The compiled broker as a process: first run, refusal to start, and SIGTERM. */
describe('node dist/main.js', () => {
  let broker: BrokerProcess | undefined;
  let upstream: FakePipedream;

  beforeAll(async () => {
    upstream = await FakePipedream.start();
  });
  afterEach(async () => {
    if (broker && broker.child.exitCode === null && broker.child.signalCode === null) {
      broker.child.kill('SIGKILL');
      await broker.exited;
    }
    broker = undefined;
  });
  afterAll(async () => {
    await upstream.stop();
  });

  it('first run: no REDIS_URL and no keys → memory store, one generated admin key printed, and the README calls work', async () => {
    const port = await freePort();
    broker = spawnBroker({
      PORT: String(port),
      HOST: '127.0.0.1',
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
    });
    const [, adminKey] = await waitForOutput(broker.stdout, /export ADMIN_KEY=(\S+)/);
    expect(broker.stdout()).toContain('in-process memory store');
    expect(broker.stdout().split(adminKey).length - 1).toBe(1);
    // Where to go, next to the key: the API, the console and the docs, each answering.
    expect(broker.stdout()).toContain(`API        http://127.0.0.1:${port}/v1\n`);
    expect(broker.stdout()).toContain(`Console    http://127.0.0.1:${port}/console/\n`);
    expect(broker.stdout()).toContain(`API docs   http://127.0.0.1:${port}/docs\n`);

    const http = request(`http://127.0.0.1:${port}`);
    expect((await http.get('/health/live')).body).toEqual({ status: 'ok' });
    expect((await http.get('/console/')).text).toContain('<title>token-broker console</title>');
    expect((await http.get('/docs')).status).toBe(200);
    upstream.addClient('first-run-client', 'first-run-secret-0001');
    const created = await http.post('/v1/clients').set('Authorization', `Bearer ${adminKey}`).send({
      workspaceId: 'o_first',
      name: 'First',
      type: 'oauth_client_credentials',
      clientId: 'first-run-client',
      clientSecret: 'first-run-secret-0001',
    });
    expect(created.status).toBe(201);
    const token = await eventually(async () => {
      const res = await http.get(`/v1/clients/${created.body.id}/token`).set('Authorization', `Bearer ${adminKey}`);
      return res.status === 200 ? res.body : null;
    });
    expect(token.token_type).toBe('Bearer');
    expect(broker.stdout()).not.toContain('first-run-secret-0001');
    expect(broker.stdout()).not.toContain(token.access_token);
  });

  it('production refuses to start without a store variable, BROKER_ADMIN_KEYS and BROKER_ENCRYPTION_KEYS, naming them', async () => {
    broker = spawnBroker({ NODE_ENV: 'production', PORT: String(await freePort()) });
    expect(await broker.exited).toBe(1);
    expect(broker.stderr()).toContain(
      'NODE_ENV=production requires REDIS_URL or REDIS_SENTINELS or REDIS_CLUSTER_NODES, BROKER_ADMIN_KEYS, BROKER_ENCRYPTION_KEYS',
    );
  });

  it('a bad value stops the process at start with a message naming the variable', async () => {
    broker = spawnBroker({ UPSTREAM_TIMEOUT_MS: 'soon', PORT: String(await freePort()) });
    expect(await broker.exited).toBe(1);
    expect(broker.stderr()).toContain('UPSTREAM_TIMEOUT_MS must be an integer');
  });

  it('on SIGTERM finishes in-flight requests and exits 0 within 10 s', async () => {
    const port = await freePort();
    upstream.setDelay(600);
    const adminKey = 'adm_process_test_key_0123456789';
    broker = spawnBroker({
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: uniquePrefix('proc'),
      BROKER_ADMIN_KEYS: adminKey,
      BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
      MIN_TOKEN_TTL_SECONDS: '1',
    });
    await waitForOutput(broker.stdout, /token-broker listening/);
    const http = request(`http://127.0.0.1:${port}`);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      upstream.addClient(`sigterm-${i}`, `sigterm-secret-${i}-0001`);
      const created = await http
        .post('/v1/clients')
        .set('Authorization', `Bearer ${adminKey}`)
        .send({
          workspaceId: 'o_term',
          name: `t${i}`,
          type: 'oauth_client_credentials',
          clientId: `sigterm-${i}`,
          clientSecret: `sigterm-secret-${i}-0001`,
        });
      ids.push(created.body.id);
    }
    // Requests that wait on the delayed upstream are in flight when SIGTERM arrives.
    const inFlight = ids.map((id) =>
      http
        .get(`/v1/clients/${id}/token`)
        .set('Authorization', `Bearer ${adminKey}`)
        .then((res) => res.status),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    const signalledAt = Date.now();
    broker.child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight);
    expect(await broker.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    upstream.setDelay(0);
  });
});
