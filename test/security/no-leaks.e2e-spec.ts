import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { Response } from 'supertest';
import { FakePipedream } from '../support/fake-pipedream';
import { ADMIN_KEY, admin, bearer, eventually, startBroker, type TestBroker } from '../support/broker';
import { testRedisUrl } from '../support/test-redis';
import { dumpRedis, dumpText, expectContractError } from './support';

/**
 * A full run with marker secrets, API keys, service keys and tokens, the
 * upstream echoing whatever it was sent back in its errors, and secrets in
 * fields that fail validation; then a scan of everything the broker wrote
 * (every Redis value of every type under its prefix, every log line) and
 * everything it answered: no marker appears in plaintext, and tokens (and
 * an api_key client's key, which is its token) appear only in token answers.
 */

/** A secret whose distinctive core survives JSON escaping and form encoding, with the characters that need both. */
const marker = (label: string) => {
  const core = `${label}_${randomBytes(12).toString('hex')}`;
  return { core, value: `${core}+/:%"\\é` };
};

interface Answer {
  label: string;
  res: Response;
  /** Markers this answer may carry: a token answer its token, a new service key its key. */
  mayCarry: string[];
}

// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('no secret leaks', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let redis: Redis;
  const answers: Answer[] = [];

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    upstream.echoSecretsInErrors = true;
    broker = await startBroker({ upstream, env: { LOG_LEVEL: 'trace', AUTH_FAILURE_LIMIT_PER_MINUTE: '1000000' } });
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    redis?.disconnect();
  });

  it('no marker appears in Redis, in a log line, in an error or in a non-token answer', async () => {
    const secrets: string[] = [];
    const base64Forms: string[] = [];
    const tokens = new Set<string>();
    const record = async (label: string, pending: PromiseLike<Response>, mayCarry: string[] = []) => {
      const res = await pending;
      answers.push({ label, res, mayCarry });
      return res;
    };
    const http = () => broker.http();

    // Clients of both formats and an API key client; the secrets are registered with the fake.
    const clients: { id: string; clientId: string; secret: { core: string; value: string } }[] = [];
    for (const format of ['json', 'form'] as const) {
      const clientId = `pd_client_${format}_${randomBytes(4).toString('hex')}`;
      const secret = marker(`CLIENTSECRET_${format}`);
      secrets.push(secret.core);
      base64Forms.push(Buffer.from(`${clientId}:${new URLSearchParams({ v: secret.value }).toString().slice(2)}`).toString('base64'));
      upstream.addClient(clientId, secret.value);
      const res = await record(`create ${format}`, http().post('/v1/clients').set(admin)
        .send({ workspaceId: 'o_leak', name: `Leak ${format}`, type: 'oauth_client_credentials', clientId, clientSecret: secret.value, tokenRequestFormat: format }));
      expect(res.status).toBe(201);
      clients.push({ id: res.body.id, clientId, secret });
    }
    const apiKey = marker('APIKEY');
    secrets.push(apiKey.core);
    upstream.addApiKey(apiKey.value);
    const apiKeyClient = await record('create api_key', http().post('/v1/clients').set(admin)
      .send({ workspaceId: 'o_leak', name: 'Leak key', type: 'api_key', apiKey: apiKey.value }));
    expect(apiKeyClient.status).toBe(201);

    // Service keys: one used, one deleted.
    const created = await record('service key', http().post('/v1/service-keys').set(admin).send({ name: 'leaky', workspaces: ['o_leak'] }));
    const serviceKey = created.body.key as string;
    answers[answers.length - 1].mayCarry.push(serviceKey, serviceKey.split('.')[2]);
    const doomed = await record('service key 2', http().post('/v1/service-keys').set(admin).send({ name: 'doomed', workspaces: ['*'] }));
    answers[answers.length - 1].mayCarry.push(doomed.body.key, doomed.body.key.split('.')[2]);
    await record('delete service key', http().delete(`/v1/service-keys/${doomed.body.id}`).set(admin));
    await record('deleted key refused', http().get(`/v1/clients/${clients[0].id}/token`).set(bearer(doomed.body.key)));

    // Tokens, served and force-refreshed; a rejected token sent back.
    for (const client of clients) {
      const token = await eventually(async () => {
        const res = await http().get(`/v1/clients/${client.id}/token`).set(bearer(serviceKey));
        return res.status === 200 ? res : null;
      });
      answers.push({ label: `token ${client.clientId}`, res: token, mayCarry: [token.body.access_token] });
      const refreshed = await http().post(`/v1/clients/${client.id}/token/refresh`).set(bearer(serviceKey)).send({ rejectedToken: token.body.access_token });
      answers.push({ label: `refresh ${client.clientId}`, res: refreshed, mayCarry: [refreshed.body.access_token] });
      expect(refreshed.status).toBe(200);
    }
    const keyToken = await record('api key token', http().get(`/v1/clients/${apiKeyClient.body.id}/token`).set(admin), [apiKey.core]);
    expect(keyToken.body.access_token).toBe(apiKey.value);

    // Rotation: refused by the upstream (which echoes the new secret), then accepted.
    const refusedSecret = marker('REFUSEDSECRET');
    secrets.push(refusedSecret.core);
    const refusedRotation = await record('rotation refused', http().put(`/v1/clients/${clients[0].id}/secret`).set(admin).send({ clientSecret: refusedSecret.value }));
    expect(refusedRotation.status).toBe(422);
    const newSecret = marker('NEWSECRET');
    secrets.push(newSecret.core);
    upstream.addClient(clients[0].clientId, newSecret.value);
    expect((await record('rotation', http().put(`/v1/clients/${clients[0].id}/secret`).set(admin).send({ clientSecret: newSecret.value }))).status).toBe(200);
    const newApiKey = marker('NEWAPIKEY');
    secrets.push(newApiKey.core);
    expect((await record('api key rotation refused', http().put(`/v1/clients/${apiKeyClient.body.id}/secret`).set(admin).send({ apiKey: newApiKey.value }))).status).toBe(422);

    // The upstream refuses the form client now, quoting its secret and Authorization header: the client becomes rejected.
    upstream.revokeClient(clients[1].clientId);
    // Past FORCE_REFRESH_MIN_INTERVAL_SECONDS (1 s here), so this forced refresh reaches the upstream.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const forced = await record('forced refresh of a revoked client', http().post(`/v1/clients/${clients[1].id}/token/refresh`).set(admin).send({}));
    expect([200, 502]).toContain(forced.status);
    await eventually(async () => (await http().get(`/v1/clients/${clients[1].id}`).set(admin)).body.status.state === 'rejected', 3_000);
    upstream.revokeApiKey(apiKey.value);

    // Validation errors on fields that hold secrets.
    const bad = marker('BADINPUT');
    secrets.push(bad.core);
    const badInputs: [string, string, string, object][] = [
      ['secret of a wrong type', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: { nested: bad.value } }],
      ['secret in an array', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: [bad.value] }],
      ['api key in an unknown field', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'api_key', apiKey: 5, [bad.value]: bad.value }],
      ['secret in a name', 'post', '/v1/clients', { workspaceId: 'o_leak', name: { v: bad.value }, type: 'api_key', apiKey: bad.value, unknown: bad.value }],
      ['secret in the token URL', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: bad.value, tokenUrl: `https://u:${bad.value}@api.pipedream.com/x` }],
      ['secret as the token URL', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: bad.value, tokenUrl: bad.value }],
      ['secret as a workspace', 'post', '/v1/clients', { workspaceId: bad.value, name: 'x', type: 'api_key', apiKey: bad.value }],
      ['rotation with both', 'put', `/v1/clients/${clients[0].id}/secret`, { clientSecret: bad.value, apiKey: bad.value }],
      ['rotation with a number', 'put', `/v1/clients/${clients[0].id}/secret`, { clientSecret: 12, extra: bad.value }],
      ['patch with a secret', 'patch', `/v1/clients/${clients[0].id}`, { clientSecret: bad.value }],
      ['patch tokenUrl', 'patch', `/v1/clients/${clients[0].id}`, { tokenUrl: `https://${bad.value}.evil.example/` }],
      ['refresh with a bad rejectedToken', 'post', `/v1/clients/${clients[0].id}/token/refresh`, { rejectedToken: { t: bad.value } }],
      ['service key with a secret name', 'post', '/v1/service-keys', { name: [bad.value], workspaces: [bad.value] }],
    ];
    for (const [label, method, path, body] of badInputs) {
      const res = await record(label, (http() as never as Record<string, (p: string) => ReturnType<ReturnType<TestBroker['http']>['post']>>)[method](path).set(admin).send(body));
      expect({ label, status: res.status }).toEqual({ label, status: 400 });
      expectContractError(res, label, 400);
    }
    for (const [label, path] of [
      ['secret in a query', `/v1/clients?workspaceId=${encodeURIComponent(bad.value)}`],
      ['secret in a cursor', `/v1/clients?cursor=${encodeURIComponent(bad.value)}`],
      ['secret as an id', `/v1/clients/${encodeURIComponent(bad.value)}`],
      ['secret as a token id', `/v1/clients/${encodeURIComponent(bad.value)}/token`],
      ['secret in an unknown route query', `/v1/nothing?key=${encodeURIComponent(bad.value)}`],
    ]) {
      const res = await record(label, http().get(path).set(admin));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    for (const key of [bad.value, `tbsk.sk_${'1'.repeat(24)}.${bad.core}`]) {
      await record('secret as a wrong key', http().get('/v1/clients').set(bearer(key)));
    }

    // Everything an operator or another service can read.
    for (const [label, path] of [
      ['list clients', '/v1/clients?limit=500'],
      ...clients.map((c) => [`get ${c.clientId}`, `/v1/clients/${c.id}`]),
      ['get api key client', `/v1/clients/${apiKeyClient.body.id}`],
      ['service keys', '/v1/service-keys'],
      ['audit', '/v1/audit-events?limit=500'],
      ['health tokens', '/health/tokens'],
      ['metrics', '/metrics'],
      ['ready', '/health/ready'],
      ['openapi', '/docs-json'],
    ]) {
      await record(label, http().get(path).set(admin));
    }
    // The upstream's echo reached the broker: the rejected client's lastError is there, with the secret cut out.
    const rejected = (await record('rejected client', http().get(`/v1/clients/${clients[1].id}`).set(admin))).body;
    expect(rejected.status.state).toBe('rejected');
    expect(rejected.status.lastError).toContain('[redacted]');
    expect(upstream.requests.some((r) => r.status === 401)).toBe(true);

    for (const issued of upstream.issued) tokens.add(issued.accessToken);
    expect(tokens.size).toBeGreaterThanOrEqual(4);
    const forbidden = [...secrets, ...base64Forms, ...tokens, ADMIN_KEY, serviceKey, doomed.body.key, serviceKey.split('.')[2]];

    // 1. Redis: every value of every type under the prefix.
    const dump = await dumpRedis(redis, broker.config.redisKeyPrefix);
    const types = new Set(Object.values(dump).map((entry) => entry.type));
    for (const type of ['hash', 'zset', 'stream']) expect(types).toContain(type);
    const stored = dumpText(dump);
    expect(stored).toContain('v1.k1.'); // sealed values are there, under the key that sealed them
    expect(forbidden.filter((secret) => stored.includes(secret))).toEqual([]);

    // 2. Every log line.
    expect(broker.logs.length).toBeGreaterThan(10);
    const logs = broker.logs.join('\n');
    expect(forbidden.filter((secret) => logs.includes(secret))).toEqual([]);

    // 3. Every answer: none but token answers carry a token, none carries a secret, errors are in the contract's shape.
    expect(answers.length).toBeGreaterThan(40);
    for (const { label, res, mayCarry } of answers) {
      const text = `${JSON.stringify(res.headers)}\n${res.text}`;
      const leaked = forbidden.filter((secret) => text.includes(secret) && !mayCarry.includes(secret));
      expect({ label, leaked }).toEqual({ label, leaked: [] });
      if (res.status >= 400) expectContractError(res, label);
      if (!['metrics', 'ready', 'openapi'].includes(label)) expect({ label, cache: res.headers['cache-control'] }).toEqual({ label, cache: 'no-store' });
    }
  });
});
