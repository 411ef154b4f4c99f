import { generateKeyPairSync } from 'node:crypto';
import Redis from 'ioredis';
import type { Response } from 'supertest';
import { FakePipedream } from '../support/fake-pipedream';
import { ADMIN_KEY, admin, eventually, randomSecret, startBroker, type TestBroker } from '../support/broker';
import { testRedisUrl } from '../support/test-redis';
import {
  dumpRedis,
  expectContractError,
  expectSecurityHeaders,
  liveRoutes,
  routeKey,
  type HttpMethod,
  type LiveRoute,
} from './support';

/**
 * The authorisation matrix, generated from the routes the running broker
 * serves (Fastify's own route table): every route, with every kind of
 * caller, against SPEC.md. A route the table below does not classify fails
 * the test, so a new route joins the matrix by construction.
 */

type Access = 'admin' | 'token' | 'public';
interface Fixture {
  id: string;
  serviceKeyId: string;
  webhookId: string;
}
interface RouteCase {
  access: Access;
  request: (f: Fixture) => { path: string; body?: object };
  /** What success looks like for a caller who may call the route. */
  success: (status: number) => boolean;
}

const WS_OWN = 'o_matrix_b';
const PRIVATE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const WS_OTHER = 'o_matrix_a';
/** A name that never resolves: a test delivery fails at once and is retried only an hour later, so Redis stays still. */
const WEBHOOK_URL = 'https://hooks.matrix.invalid/x';
const is = (expected: number) => (status: number) => status === expected;
/** Public routes answer anyone: never 401 or 403 (Swagger UI's static assets may 404 or redirect), never 5xx. */
const answersAnyone = (status: number) => status < 500 && status !== 401 && status !== 403;
const publicRoute = (path: string): RouteCase => ({
  access: 'public',
  request: () => ({ path }),
  success: answersAnyone,
});

/** Every route the broker may serve, by `METHOD pattern` as Fastify prints it; HEAD is classified as its GET. */
const TABLE: Record<string, RouteCase> = {
  'POST /v1/clients': {
    access: 'admin',
    // A private_key_jwt client: key material in the body of every caller, refused or not.
    request: () => ({
      path: '/v1/clients',
      body: {
        workspaceId: WS_OWN,
        name: 'New',
        type: 'oauth_client_credentials',
        clientId: randomSecret('pd_jwt'),
        tokenEndpointAuthMethod: 'private_key_jwt',
        privateKey: PRIVATE_KEY,
        keyId: 'kid-matrix',
        extraParams: { audience: 'https://api.example.com' },
        defaultExpiresInSeconds: 1800,
      },
    }),
    success: is(201),
  },
  'POST /v1/clients/batch': {
    access: 'admin',
    request: () => ({
      path: '/v1/clients/batch',
      body: { items: [{ workspaceId: WS_OWN, name: 'Batch', type: 'api_key', apiKey: randomSecret('pd_key') }] },
    }),
    success: is(200),
  },
  'GET /v1/clients': {
    access: 'admin',
    request: () => ({ path: `/v1/clients?workspaceId=${WS_OWN}&limit=10` }),
    success: is(200),
  },
  'GET /v1/clients/:id': { access: 'admin', request: (f) => ({ path: `/v1/clients/${f.id}` }), success: is(200) },
  'PATCH /v1/clients/:id': {
    access: 'admin',
    // Provider settings too: a change an admin makes drops the token, one a refused caller sends changes nothing.
    request: (f) => ({
      path: `/v1/clients/${f.id}`,
      body: { name: 'Renamed', extraParams: { resource: 'https://api.example.com' }, defaultExpiresInSeconds: 900 },
    }),
    success: is(200),
  },
  'DELETE /v1/clients/:id': { access: 'admin', request: (f) => ({ path: `/v1/clients/${f.id}` }), success: is(204) },
  'PUT /v1/clients/:id/secret': {
    access: 'admin',
    request: (f) => ({
      path: `/v1/clients/${f.id}/secret?verify=false`,
      body: { clientSecret: randomSecret('rotated') },
    }),
    success: is(200),
  },
  'GET /v1/clients/:id/token': {
    access: 'token',
    request: (f) => ({ path: `/v1/clients/${f.id}/token` }),
    success: is(200),
  },
  'POST /v1/clients/:id/token/refresh': {
    access: 'token',
    request: (f) => ({ path: `/v1/clients/${f.id}/token/refresh`, body: {} }),
    success: is(200),
  },
  'POST /v1/service-keys': {
    access: 'admin',
    request: () => ({ path: '/v1/service-keys', body: { name: 'svc', workspaces: [WS_OTHER] } }),
    success: is(201),
  },
  'GET /v1/service-keys': { access: 'admin', request: () => ({ path: '/v1/service-keys' }), success: is(200) },
  'DELETE /v1/service-keys/:id': {
    access: 'admin',
    request: (f) => ({ path: `/v1/service-keys/${f.serviceKeyId}` }),
    success: is(204),
  },
  'POST /v1/webhooks': {
    access: 'admin',
    request: () => ({ path: '/v1/webhooks', body: { url: WEBHOOK_URL, events: ['*'] } }),
    success: is(201),
  },
  'GET /v1/webhooks': { access: 'admin', request: () => ({ path: '/v1/webhooks' }), success: is(200) },
  'DELETE /v1/webhooks/:id': {
    access: 'admin',
    request: (f) => ({ path: `/v1/webhooks/${f.webhookId}` }),
    success: is(204),
  },
  'GET /v1/webhooks/:id/deliveries': {
    access: 'admin',
    request: (f) => ({ path: `/v1/webhooks/${f.webhookId}/deliveries?limit=5` }),
    success: is(200),
  },
  'POST /v1/webhooks/:id/test': {
    access: 'admin',
    request: (f) => ({ path: `/v1/webhooks/${f.webhookId}/test`, body: {} }),
    success: is(202),
  },
  'GET /v1/audit-events': {
    access: 'admin',
    request: () => ({ path: `/v1/audit-events?workspaceId=${WS_OWN}&limit=5` }),
    success: is(200),
  },
  'GET /health/tokens': { access: 'admin', request: () => ({ path: '/health/tokens' }), success: is(200) },
  'GET /health/live': publicRoute('/health/live'),
  'GET /health/ready': publicRoute('/health/ready'),
  'GET /metrics': publicRoute('/metrics'),
  'GET /docs': publicRoute('/docs'),
  'GET /docs/': publicRoute('/docs/'),
  'GET /docs/swagger-ui-init.js': publicRoute('/docs/swagger-ui-init.js'),
  'GET /docs/docs/swagger-ui-init.js': publicRoute('/docs/docs/swagger-ui-init.js'),
  'GET /docs/index.html': publicRoute('/docs/index.html'),
  'GET /docs/LICENSE': publicRoute('/docs/LICENSE'),
  'GET /docs/*': publicRoute('/docs/swagger-ui.css'),
  'GET /docs-json': publicRoute('/docs-json'),
  'GET /docs-yaml': publicRoute('/docs-yaml'),
  // The admin console's static files: public, like /docs; every API call it makes carries the admin key.
  'GET /console': publicRoute('/console'),
  'GET /console*': publicRoute('/console/'),
};

const classify = (route: LiveRoute): RouteCase | undefined =>
  TABLE[routeKey({ ...route, method: route.method === 'HEAD' ? 'GET' : route.method })];

type Caller =
  | 'none'
  | 'malformed'
  | 'unknown'
  | 'deleted service key'
  | 'service key of another workspace'
  | 'service key of its workspace'
  | 'wildcard service key'
  | 'admin';

/** What SPEC.md says each caller gets on a route of each access level. */
function expected(access: Access, caller: Caller): 'success' | 401 | 403 {
  if (access === 'public' || caller === 'admin') return 'success';
  if (caller === 'none' || caller === 'malformed' || caller === 'unknown' || caller === 'deleted service key')
    return 401;
  if (access === 'admin' || caller === 'service key of another workspace') return 403;
  return 'success';
}

/** Secret-bearing or authenticated answers must not be cached anywhere. */
const mustNotBeCached = (pattern: string) => pattern.startsWith('/v1/') || pattern === '/health/tokens';

// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('authorisation matrix over the live route table', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let redis: Redis;
  let routes: LiveRoute[];
  const keys: Partial<Record<Caller, string[]>> = {};

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({
      upstream,
      env: {
        AUTH_FAILURE_LIMIT_PER_MINUTE: '1000000',
        WEBHOOK_URL_ALLOWLIST: 'hooks.matrix.invalid',
        WEBHOOK_RETRY_SECONDS: '3600',
      },
    });
    redis = new Redis(testRedisUrl());
    routes = liveRoutes(broker.app);
    const serviceKey = async (workspaces: string[]) => {
      const res = await broker.http().post('/v1/service-keys').set(admin).send({ name: 'matrix', workspaces });
      expect(res.status).toBe(201);
      return res.body as { id: string; key: string };
    };
    const deleted = await serviceKey([WS_OWN]);
    expect((await broker.http().delete(`/v1/service-keys/${deleted.id}`).set(admin)).status).toBe(204);
    keys.none = [];
    keys.malformed = [
      'Basic eDp5',
      'Bearer',
      'Bearer ',
      `Bearer  ${ADMIN_KEY}`,
      `Bearer ${ADMIN_KEY} x`,
      ADMIN_KEY,
      `Bearer ${'k'.repeat(600)}`,
    ];
    keys.unknown = [
      randomSecret('unknown'),
      `tbsk.sk_${'0'.repeat(24)}.${randomSecret()}`,
      `${ADMIN_KEY.slice(0, -1)}X`,
    ];
    keys['deleted service key'] = [deleted.key];
    keys['service key of another workspace'] = [(await serviceKey([WS_OTHER])).key];
    keys['service key of its workspace'] = [(await serviceKey([WS_OWN])).key];
    keys['wildcard service key'] = [(await serviceKey(['*'])).key];
    keys.admin = [ADMIN_KEY];
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    redis?.disconnect();
  });

  /** An oauth client of WS_OWN that holds a token, and a service key to act on. */
  async function fixture(): Promise<Fixture> {
    const clientId = `pd_${randomSecret('matrix')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WS_OWN, name: 'Matrix', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(created.status).toBe(201);
    await eventually(
      async () => (await broker.http().get(`/v1/clients/${created.body.id}`).set(admin)).body.status.state === 'ready',
    );
    const key = await broker
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'victim', workspaces: [WS_OTHER] });
    const webhook = await broker
      .http()
      .post('/v1/webhooks')
      .set(admin)
      .send({ url: WEBHOOK_URL, events: ['*'] });
    expect(webhook.status).toBe(201);
    return { id: created.body.id, serviceKeyId: key.body.id, webhookId: webhook.body.id };
  }

  async function call(route: LiveRoute, f: Fixture, authorization: string | undefined): Promise<Response> {
    const { path, body } = classify(route)!.request(f);
    const method = route.method.toLowerCase() as Lowercase<HttpMethod>;
    let req = broker.http()[method](path);
    if (authorization !== undefined) req = req.set('Authorization', authorization);
    return body === undefined ? req : req.send(body);
  }

  function checkAnswer(route: LiveRoute, caller: Caller, res: Response): void {
    const label = `${routeKey(route)} as ${caller}`;
    const want = expected(classify(route)!.access, caller);
    if (want === 'success')
      expect({ label, ok: classify(route)!.success(res.status), status: res.status }).toEqual({
        label,
        ok: true,
        status: res.status,
      });
    else expect({ label, status: res.status }).toEqual({ label, status: want });
    expectSecurityHeaders(res, label);
    if (mustNotBeCached(route.pattern) || res.status >= 400)
      expect({ label, cache: res.headers['cache-control'] }).toEqual({ label, cache: 'no-store' });
    if (res.status >= 400 && route.method !== 'HEAD') expectContractError(res, label, res.status);
  }

  it('classifies every route the broker serves, and only those', () => {
    const unknown = routes.filter((route) => !classify(route)).map(routeKey);
    expect(unknown).toEqual([]);
    const live = new Set(routes.map(routeKey));
    expect(Object.keys(TABLE).filter((key) => !live.has(key))).toEqual([]);
    // SPEC.md: every /v1 route needs a key, and so does /health/tokens.
    for (const route of routes) {
      if (route.pattern.startsWith('/v1') || route.pattern === '/health/tokens')
        expect({ route: routeKey(route), access: classify(route)!.access }).not.toMatchObject({ access: 'public' });
    }
    // Both token routes are there, wherever they are registered.
    expect([...live]).toEqual(
      expect.arrayContaining(['GET /v1/clients/:id/token', 'POST /v1/clients/:id/token/refresh']),
    );
  });

  it('refuses every caller who does not belong with 401 or 403, and the refusals change nothing in Redis', async () => {
    const f = await fixture();
    const before = await dumpRedis(redis, broker.config.redisKeyPrefix);
    let refusals = 0;
    for (const route of routes) {
      for (const caller of Object.keys(keys) as Caller[]) {
        if (expected(classify(route)!.access, caller) === 'success') continue;
        for (const key of caller === 'none' ? [undefined] : keys[caller]!) {
          const authorization = caller === 'malformed' || key === undefined ? key : `Bearer ${key}`;
          checkAnswer(route, caller, await call(route, f, authorization));
          refusals += 1;
        }
      }
    }
    expect(refusals).toBeGreaterThan(100);
    expect(await dumpRedis(redis, broker.config.redisKeyPrefix)).toEqual(before);
    // The fixture is intact: nothing a refused caller sent reached it.
    expect((await broker.http().get(`/v1/clients/${f.id}`).set(admin)).status).toBe(200);
  });

  it('serves every caller who belongs: public routes to anyone, token routes to keys of the workspace and wildcard keys, everything to the admin key', async () => {
    const shared = await fixture();
    for (const route of routes) {
      for (const caller of Object.keys(keys) as Caller[]) {
        if (expected(classify(route)!.access, caller) !== 'success') continue;
        for (const key of caller === 'none' ? [undefined] : keys[caller]!) {
          // Admin calls may delete or rotate: each gets its own fixture.
          const f = caller === 'admin' && classify(route)!.access !== 'public' ? await fixture() : shared;
          const authorization = caller === 'malformed' || key === undefined ? key : `Bearer ${key}`;
          const res = await call(route, f, authorization);
          checkAnswer(route, caller, res);
          if (route.pattern.startsWith('/v1/clients/:id/token') && route.method !== 'HEAD') {
            expect(res.body).toEqual({
              access_token: expect.any(String),
              token_type: 'Bearer',
              expires_at: expect.any(String),
              expires_in: expect.any(Number),
            });
          }
        }
      }
    }
  });

  it('gives Cache-Control: no-store and the security headers to the answers of unknown routes and methods too', async () => {
    for (const [method, path] of [
      ['get', '/'],
      ['get', '/v1'],
      ['post', '/health/live'],
      ['options', '/v1/clients'],
      ['get', '/v2/clients'],
      ['trace', '/v1/clients'],
    ] as const) {
      const res = await broker.http()[method](path).set(admin);
      const label = `${method.toUpperCase()} ${path}`;
      expect({ label, status: res.status >= 400 && res.status < 500 }).toEqual({ label, status: true });
      expectSecurityHeaders(res, label);
      expect(res.headers['cache-control']).toBe('no-store');
      expectContractError(res, label);
    }
  });
});
