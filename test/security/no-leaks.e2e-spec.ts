import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { Response } from 'supertest';
import { FakePipedream } from '../support/fake-pipedream';
import { ADMIN_KEY, admin, bearer, eventually, startBroker, type TestBroker } from '../support/broker';
import { DISGUISE_NAMES, LeakScanner, type SecretToFind } from '../support/leak-scanner';
import { testRedisUrl } from '../support/test-redis';
import { WebhookReceiver } from '../support/webhook-receiver';
import { dumpRedis, dumpText, expectContractError } from './support';

/**
 * A full run with marker secrets, API keys, service keys and tokens, the
 * upstream echoing whatever it was sent back in its errors, plainly and in
 * every disguise (cut to 190 characters of a 406-character secret, split,
 * base64, base64url, percent-encoded, form-encoded, HTML- and JSON-escaped,
 * lower and upper case), and secrets in fields that fail validation; then a
 * scan of everything the broker wrote (every Redis value of every type under
 * its prefix, every log line) and everything it answered for any run of 8
 * characters of any encoding of any secret, in any case: none appears, and
 * tokens (and an api_key client's key, which is its token) appear only in
 * token answers.
 */

/**
 * A random secret with the characters that need JSON escaping, form and
 * percent encoding and HTML escaping, each between random runs, so no run of
 * 8 characters of any encoding is shared by two markers or with ordinary text.
 */
const marker = (): string => {
  const random = () => randomBytes(4).toString('hex');
  return `${random()}+${random()}/${random()}:${random()}%${random()}"${random()}\\${random()}é${random()}'${random()}<${random()}&${random()}`;
};
const longMarker = (length: number): string => Array.from({ length: Math.ceil(length / 60) }, marker).join('').slice(0, length);
const basicCredential = (clientId: string, secret: string): string =>
  Buffer.from(`${clientId}:${new URLSearchParams({ v: secret }).toString().slice(2)}`).toString('base64');

interface Answer {
  label: string;
  res: Response;
  /** Labels of the secrets this answer may carry: a token answer its token, a new service key its key. */
  mayCarry: string[];
}

// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('no secret leaks', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let redis: Redis;
  let receiver: WebhookReceiver;
  const answers: Answer[] = [];

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    upstream.echoSecretsInErrors = true;
    receiver = await WebhookReceiver.start();
    broker = await startBroker({
      upstream,
      env: { LOG_LEVEL: 'trace', AUTH_FAILURE_LIMIT_PER_MINUTE: '1000000', WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1' },
    });
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    await receiver?.stop();
    redis?.disconnect();
  });

  it('no run of 8 characters of any form of a secret appears in Redis, a log line, an error or a non-token answer', async () => {
    const secrets: SecretToFind[] = [];
    const secret = (label: string, value: string = marker()): string => {
      secrets.push({ label, value });
      return value;
    };
    const record = async (label: string, pending: PromiseLike<Response>, mayCarry: string[] = []) => {
      const res = await pending;
      answers.push({ label, res, mayCarry });
      return res;
    };
    const http = () => broker.http();

    // A webhook for every event: its payloads (lastError of rejected clients) and delivery records are scanned too.
    const webhook = await record('webhook', http().post('/v1/webhooks').set(admin).send({ url: receiver.url, events: ['*'] }), ['webhook secret']);
    expect(webhook.status).toBe(201);
    secret('webhook secret', webhook.body.secret.slice('whsec_'.length));

    // Clients of both formats and an API key client; the secrets are registered with the fake.
    const clients: { id: string; clientId: string }[] = [];
    for (const format of ['json', 'form'] as const) {
      const clientId = `pd_client_${format}_${randomBytes(4).toString('hex')}`;
      const value = secret(`client secret (${format})`);
      secret(`Basic credential (${format})`, basicCredential(clientId, value));
      upstream.addClient(clientId, value);
      const res = await record(`create ${format}`, http().post('/v1/clients').set(admin)
        .send({ workspaceId: 'o_leak', name: `Leak ${format}`, type: 'oauth_client_credentials', clientId, clientSecret: value, tokenRequestFormat: format }));
      expect(res.status).toBe(201);
      clients.push({ id: res.body.id, clientId });
    }
    const apiKey = secret('api key');
    upstream.addApiKey(apiKey);
    const apiKeyClient = await record('create api_key', http().post('/v1/clients').set(admin)
      .send({ workspaceId: 'o_leak', name: 'Leak key', type: 'api_key', apiKey }));
    expect(apiKeyClient.status).toBe(201);

    // Service keys: one used, one deleted. Their ids are public; the part after the second dot is the secret.
    const created = await record('service key', http().post('/v1/service-keys').set(admin).send({ name: 'leaky', workspaces: ['o_leak'] }), ['service key']);
    const serviceKey = created.body.key as string;
    secret('service key', serviceKey.split('.')[2]);
    const doomed = await record('service key 2', http().post('/v1/service-keys').set(admin).send({ name: 'doomed', workspaces: ['*'] }), ['deleted service key']);
    secret('deleted service key', doomed.body.key.split('.')[2]);
    await record('delete service key', http().delete(`/v1/service-keys/${doomed.body.id}`).set(admin));
    await record('deleted key refused', http().get(`/v1/clients/${clients[0].id}/token`).set(bearer(doomed.body.key)));

    // Tokens, served and force-refreshed; a rejected token sent back.
    const tokenLabel = (token: string) => `token ${upstream.issued.findIndex((issued) => issued.accessToken === token)}`;
    for (const client of clients) {
      const token = await eventually(async () => {
        const res = await http().get(`/v1/clients/${client.id}/token`).set(bearer(serviceKey));
        return res.status === 200 ? res : null;
      });
      answers.push({ label: `token ${client.clientId}`, res: token, mayCarry: [tokenLabel(token.body.access_token)] });
      const refreshed = await http().post(`/v1/clients/${client.id}/token/refresh`).set(bearer(serviceKey)).send({ rejectedToken: token.body.access_token });
      expect(refreshed.status).toBe(200);
      answers.push({ label: `refresh ${client.clientId}`, res: refreshed, mayCarry: [tokenLabel(refreshed.body.access_token)] });
    }
    const keyToken = await record('api key token', http().get(`/v1/clients/${apiKeyClient.body.id}/token`).set(admin), ['api key']);
    expect(keyToken.body.access_token).toBe(apiKey);

    // Rotation: refused by the upstream (which echoes the new secret), then accepted.
    const refusedRotation = await record('rotation refused', http().put(`/v1/clients/${clients[0].id}/secret`).set(admin).send({ clientSecret: secret('refused secret') }));
    expect(refusedRotation.status).toBe(422);
    const newSecret = secret('new secret');
    upstream.addClient(clients[0].clientId, newSecret);
    expect((await record('rotation', http().put(`/v1/clients/${clients[0].id}/secret`).set(admin).send({ clientSecret: newSecret }))).status).toBe(200);
    expect((await record('api key rotation refused', http().put(`/v1/clients/${apiKeyClient.body.id}/secret`).set(admin).send({ apiKey: secret('refused api key') }))).status).toBe(422);

    // The upstream refuses the form client now, quoting its secret and Authorization header: the client becomes rejected.
    upstream.revokeClient(clients[1].clientId);
    // Past FORCE_REFRESH_MIN_INTERVAL_SECONDS (1 s here), so this forced refresh reaches the upstream.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const forced = await record('forced refresh of a revoked client', http().post(`/v1/clients/${clients[1].id}/token/refresh`).set(admin).send({}));
    expect([200, 502]).toContain(forced.status);
    await eventually(async () => (await http().get(`/v1/clients/${clients[1].id}`).set(admin)).body.status.state === 'rejected', 3_000);
    upstream.revokeApiKey(apiKey);

    const disguised = await refusalsInDisguise(secret, record, serviceKey);

    // Validation errors on fields that hold secrets.
    const bad = secret('bad input');
    const badInputs: [string, string, string, object][] = [
      ['secret of a wrong type', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: { nested: bad } }],
      ['secret in an array', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: [bad] }],
      ['api key in an unknown field', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'api_key', apiKey: 5, [bad]: bad }],
      ['secret in a name', 'post', '/v1/clients', { workspaceId: 'o_leak', name: { v: bad }, type: 'api_key', apiKey: bad, unknown: bad }],
      ['secret in the token URL', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: bad, tokenUrl: `https://u:${bad}@api.pipedream.com/x` }],
      ['secret as the token URL', 'post', '/v1/clients', { workspaceId: 'o_leak', name: 'x', type: 'oauth_client_credentials', clientId: 'c', clientSecret: bad, tokenUrl: bad }],
      ['secret as a workspace', 'post', '/v1/clients', { workspaceId: bad, name: 'x', type: 'api_key', apiKey: bad }],
      ['rotation with both', 'put', `/v1/clients/${clients[0].id}/secret`, { clientSecret: bad, apiKey: bad }],
      ['rotation with a number', 'put', `/v1/clients/${clients[0].id}/secret`, { clientSecret: 12, extra: bad }],
      ['patch with a secret', 'patch', `/v1/clients/${clients[0].id}`, { clientSecret: bad }],
      ['patch tokenUrl', 'patch', `/v1/clients/${clients[0].id}`, { tokenUrl: `https://${bad}.evil.example/` }],
      ['refresh with a bad rejectedToken', 'post', `/v1/clients/${clients[0].id}/token/refresh`, { rejectedToken: { t: bad } }],
      ['service key with a secret name', 'post', '/v1/service-keys', { name: [bad], workspaces: [bad] }],
    ];
    for (const [label, method, path, body] of badInputs) {
      const res = await record(label, (http() as never as Record<string, (p: string) => ReturnType<ReturnType<TestBroker['http']>['post']>>)[method](path).set(admin).send(body));
      expect({ label, status: res.status }).toEqual({ label, status: 400 });
      expectContractError(res, label, 400);
    }
    for (const [label, path] of [
      ['secret in a query', `/v1/clients?workspaceId=${encodeURIComponent(bad)}`],
      ['secret in a cursor', `/v1/clients?cursor=${encodeURIComponent(bad)}`],
      ['secret as an id', `/v1/clients/${encodeURIComponent(bad)}`],
      ['secret as a token id', `/v1/clients/${encodeURIComponent(bad)}/token`],
      ['secret in an unknown route query', `/v1/nothing?key=${encodeURIComponent(bad)}`],
    ]) {
      const res = await record(label, http().get(path).set(admin));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    for (const key of [bad, `tbsk.sk_${'1'.repeat(24)}.${secret('wrong service key secret')}`]) {
      await record('secret as a wrong key', http().get('/v1/clients').set(bearer(key)));
    }

    // Everything an operator or another service can read.
    for (const [label, path] of [
      ['list clients', '/v1/clients?limit=500'],
      ...[...clients, ...disguised].map((c) => [`get ${c.clientId}`, `/v1/clients/${c.id}`]),
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
    // Every disguised echo reached the admin views, cut: each client is rejected, its lastError redacted, in /health/tokens too.
    const health = answers.find((answer) => answer.label === 'health tokens')?.res.body;
    for (const { id, clientId } of disguised) {
      const view = answers.find((answer) => answer.label === `get ${clientId}`)?.res.body;
      const listed = health.failing.find((entry: { id: string }) => entry.id === id);
      expect({ clientId, state: view.status.state, redacted: view.status.lastError.includes('[redacted]'), listed: listed?.lastError === view.status.lastError })
        .toEqual({ clientId, state: 'rejected', redacted: true, listed: true });
    }
    // The upstream's echo reached the broker: the rejected client's lastError is there, with the secret cut out.
    const rejected = (await record('rejected client', http().get(`/v1/clients/${clients[1].id}`).set(admin))).body;
    expect(rejected.status.state).toBe('rejected');
    expect(rejected.status.lastError).toContain('[redacted]');
    expect(upstream.requests.some((r) => r.status === 401)).toBe(true);

    // The webhook heard of the rejections; its test event too. Its deliveries listing is an answer like any other.
    await record('webhook test', http().post(`/v1/webhooks/${webhook.body.id}/test`).set(admin));
    await eventually(() => receiver.events().some((event) => event.type === 'webhook.test') && receiver.events().some((event) => event.type === 'client.rejected'));
    await record('webhook deliveries', http().get(`/v1/webhooks/${webhook.body.id}/deliveries?limit=500`).set(admin));
    await record('webhooks', http().get('/v1/webhooks').set(admin));

    upstream.issued.forEach((issued, index) => secrets.push({ label: `token ${index}`, value: issued.accessToken }));
    expect(upstream.issued.length).toBeGreaterThanOrEqual(4);
    const scanner = new LeakScanner(secrets);
    const leaksIn = (text: string, allowed: string[] = []) =>
      scanner.scan(text, allowed).map(({ label, window }) => ({ label, window, around: text.slice(Math.max(0, text.indexOf(window) - 40), text.indexOf(window) + 48) }));

    // 1. Redis: every value of every type under the prefix.
    const dump = await dumpRedis(redis, broker.config.redisKeyPrefix);
    const types = new Set(Object.values(dump).map((entry) => entry.type));
    for (const type of ['hash', 'zset', 'stream']) expect(types).toContain(type);
    const stored = dumpText(dump);
    expect(stored).toContain('v1.k1.'); // sealed values are there, under the key that sealed them
    expect(stored).toContain('[redacted]'); // and so are the upstream's echoes, cut
    expect(leaksIn(stored)).toEqual([]);
    expect(stored).not.toContain(ADMIN_KEY);

    // 2. Every log line.
    expect(broker.logs.length).toBeGreaterThan(10);
    const logs = broker.logs.join('\n');
    expect(leaksIn(logs)).toEqual([]);
    expect(logs).not.toContain(ADMIN_KEY);

    // 3. Every webhook delivery the receiver got: payload and headers.
    expect(receiver.received.length).toBeGreaterThan(1);
    for (const delivery of receiver.received) {
      const text = `${JSON.stringify(delivery.headers)}\n${delivery.body}`;
      expect({ delivery: delivery.body.slice(0, 60), leaked: leaksIn(text) }).toEqual({ delivery: delivery.body.slice(0, 60), leaked: [] });
      expect(text).not.toContain(ADMIN_KEY);
    }
    expect(stored).toContain('client.rejected'); // the delivery records were in the Redis scan

    // 4. Every answer: none but token answers carry a token, none carries a secret, errors are in the contract's shape.
    expect(answers.length).toBeGreaterThan(40);
    for (const { label, res, mayCarry } of answers) {
      const text = `${JSON.stringify(res.headers)}\n${res.text}`;
      expect({ label, leaked: leaksIn(text, mayCarry) }).toEqual({ label, leaked: [] });
      expect({ label, adminKey: text.includes(ADMIN_KEY) }).toEqual({ label, adminKey: false });
      if (res.status >= 400) expectContractError(res, label);
      if (!['metrics', 'ready', 'openapi'].includes(label)) expect({ label, cache: res.headers['cache-control'] }).toEqual({ label, cache: 'no-store' });
    }
  });

  /**
   * For each disguise, three clients the upstream refuses on their first token
   * request, echoing what they presented: a 406-character secret with a scope
   * it does not grant (400 invalid_scope), a form client it does not know
   * (401 invalid_client, with the Basic credential) and an unknown API key
   * (401 with a code of its own); then a refused rotation. Each first token
   * asked for by a service key is a 502 that names the kind of refusal only.
   */
  async function refusalsInDisguise(
    secret: (label: string, value?: string) => string,
    record: (label: string, pending: PromiseLike<Response>, mayCarry?: string[]) => Promise<Response>,
    serviceKey: string,
  ): Promise<{ id: string; clientId: string }[]> {
    const http = () => broker.http();
    const disguised: { id: string; clientId: string }[] = [];
    /** An api_key client's key is its token, served until the check finds it refused. */
    const refusedOnFirstToken = async (label: string, body: object, kind: string, servedKey: string[] = []) => {
      const res = await record(`create ${label}`, http().post('/v1/clients').set(admin).send({ workspaceId: 'o_leak', name: label, ...body }));
      expect({ label, status: res.status }).toEqual({ label, status: 201 });
      disguised.push({ id: res.body.id, clientId: label });
      const refused = await eventually(async () => {
        const answer = await record(`first token of ${label}`, http().get(`/v1/clients/${res.body.id}/token`).set(bearer(serviceKey)), servedKey);
        return answer.status === 502 ? answer : null;
      });
      const message = `The upstream refused this client's credentials (${kind}). Rotate its secret.`;
      expect({ label, body: refused.body }).toEqual({ label, body: { statusCode: 502, error: 'Bad Gateway', code: 'credentials_rejected', message } });
    };
    for (const disguise of DISGUISE_NAMES) {
      upstream.echoDisguise = disguise;
      const longClientId = `pd_long_${disguise}_${randomBytes(4).toString('hex')}`;
      const longSecret = secret(`406-character secret (${disguise})`, longMarker(406));
      upstream.addClient(longClientId, longSecret, { scopes: ['read'] });
      await refusedOnFirstToken(`long ${disguise}`, { type: 'oauth_client_credentials', clientId: longClientId, clientSecret: longSecret, scope: 'write' }, 'invalid_scope');
      const formClientId = `pd_unknown_${disguise}_${randomBytes(4).toString('hex')}`;
      const formSecret = secret(`unknown form client's secret (${disguise})`);
      secret(`unknown form client's Basic credential (${disguise})`, basicCredential(formClientId, formSecret));
      await refusedOnFirstToken(`form ${disguise}`, { type: 'oauth_client_credentials', clientId: formClientId, clientSecret: formSecret, tokenRequestFormat: 'form' }, 'invalid_client');
      const keyLabel = `unknown api key (${disguise})`;
      await refusedOnFirstToken(`api key ${disguise}`, { type: 'api_key', apiKey: secret(keyLabel) }, 'HTTP 401', [keyLabel]);
      const rotation = await record(`rotation refused (${disguise})`, http().put(`/v1/clients/${disguised.at(-3)?.id}/secret`).set(admin).send({ clientSecret: secret(`refused rotation (${disguise})`, longMarker(406)) }));
      expect({ disguise, status: rotation.status }).toEqual({ disguise, status: 422 });
    }
    upstream.echoDisguise = null;
    return disguised;
  }
});
