import { createHash } from 'node:crypto';
import type { Response } from 'supertest';
import { FakePipedream } from './support/fake-pipedream';
import {
  ADMIN_KEY,
  admin,
  bearer,
  eventually,
  randomSecret,
  startBroker,
  withoutUsageTimes,
  type TestBroker,
} from './support/broker';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
type Headers = Record<string, string>;

/** What the routes of a table entry act on: a client of workspace o_b that has a token, and a service key. */
interface Fixture {
  id: string;
  clientId: string;
  serviceKeyId: string;
}

interface RouteCase {
  method: Method;
  path: (f: Fixture) => string;
  body?: (f: Fixture) => object;
  access: 'admin' | 'token';
  success: number;
}

const WS_A = 'o_a';
const WS_B = 'o_b';

/** Every authenticated route of SPEC.md. */
const ROUTES: RouteCase[] = [
  {
    method: 'post',
    path: () => '/v1/clients',
    body: () => ({
      workspaceId: WS_B,
      name: 'New',
      type: 'oauth_client_credentials',
      clientId: `pd_${randomSecret('new')}`,
      clientSecret: randomSecret(),
    }),
    access: 'admin',
    success: 201,
  },
  { method: 'get', path: () => `/v1/clients?workspaceId=${WS_B}&limit=10`, access: 'admin', success: 200 },
  { method: 'get', path: (f) => `/v1/clients/${f.id}`, access: 'admin', success: 200 },
  {
    method: 'patch',
    path: (f) => `/v1/clients/${f.id}`,
    body: () => ({ name: 'Renamed' }),
    access: 'admin',
    success: 200,
  },
  {
    method: 'put',
    path: (f) => `/v1/clients/${f.id}/secret?verify=false`,
    body: () => ({ clientSecret: randomSecret('rotated') }),
    access: 'admin',
    success: 200,
  },
  { method: 'delete', path: (f) => `/v1/clients/${f.id}`, access: 'admin', success: 204 },
  {
    method: 'post',
    path: () => '/v1/service-keys',
    body: () => ({ name: 'svc', workspaces: [WS_A] }),
    access: 'admin',
    success: 201,
  },
  { method: 'get', path: () => '/v1/service-keys', access: 'admin', success: 200 },
  { method: 'delete', path: (f) => `/v1/service-keys/${f.serviceKeyId}`, access: 'admin', success: 204 },
  { method: 'get', path: () => `/v1/audit-events?workspaceId=${WS_B}&limit=5`, access: 'admin', success: 200 },
  { method: 'get', path: () => '/health/tokens', access: 'admin', success: 200 },
  { method: 'get', path: (f) => `/v1/clients/${f.id}/token`, access: 'token', success: 200 },
  { method: 'post', path: (f) => `/v1/clients/${f.id}/token/refresh`, body: () => ({}), access: 'token', success: 200 },
];

const routeName = (route: RouteCase) =>
  `${route.method.toUpperCase()} ${route.path({ id: ':id', clientId: '', serviceKeyId: ':id' }).split('?')[0]}`;

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode'];

/** The contract's error shape, exactly: no stack, no extra keys; `details` on (and only on) a 400. */
function expectErrorShape(res: Response, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const keys = Object.keys(res.body).sort();
  expect(keys).toEqual(status === 400 ? [...ERROR_KEYS, 'details'].sort() : ERROR_KEYS);
  expect(res.body.statusCode).toBe(status);
  expect(typeof res.body.error).toBe('string');
  expect(typeof res.body.message).toBe('string');
  expect(res.body.message.length).toBeGreaterThan(0);
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+|stack|FST_/);
  if (status === 400) {
    expect(Array.isArray(res.body.details)).toBe(true);
    expect(res.body.details.length).toBeGreaterThan(0);
    for (const detail of res.body.details) {
      expect(Object.keys(detail).sort()).toEqual(['field', 'problems']);
      expect(typeof detail.field).toBe('string');
      expect(detail.problems.length).toBeGreaterThan(0);
      for (const problem of detail.problems) expect(typeof problem).toBe('string');
      expect(new Set(detail.problems).size).toBe(detail.problems.length);
    }
  }
}

describe('authentication, authorisation and input validation', () => {
  let upstream: FakePipedream;
  /** The main broker: failed authentications are not limited in practice, so the tables can run. */
  let broker: TestBroker;
  /** AUTH_FAILURE_LIMIT_PER_MINUTE=5. */
  let authLimited: TestBroker;
  /** TOKEN_REQUESTS_PER_SECOND_PER_KEY=5. */
  let tokenLimited: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    [broker, authLimited, tokenLimited] = await Promise.all([
      startBroker({
        upstream,
        env: { AUTH_FAILURE_LIMIT_PER_MINUTE: '1000000', TOKEN_URL_ALLOWLIST: 'api.pipedream.com,http://127.0.0.1' },
      }),
      startBroker({ upstream, env: { AUTH_FAILURE_LIMIT_PER_MINUTE: '5' } }),
      startBroker({ upstream, env: { TOKEN_REQUESTS_PER_SECOND_PER_KEY: '5' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([broker?.close(), authLimited?.close(), tokenLimited?.close()]);
    await upstream?.stop();
  });

  const send = (on: TestBroker, method: Method, path: string, headers: Headers, body?: object) => {
    const req = on.http()[method](path).set(headers);
    return body === undefined ? req : req.send(body);
  };

  /** Registers an oauth client the fake knows and waits until it holds a token. */
  async function readyClient(on: TestBroker, workspaceId = WS_B) {
    const clientId = `pd_${randomSecret('client')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await send(on, 'post', '/v1/clients', admin, {
      workspaceId,
      name: 'Fixture',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret,
    });
    expect(res.status).toBe(201);
    await eventually(
      async () => (await send(on, 'get', `/v1/clients/${res.body.id}`, admin)).body.status.state === 'ready',
    );
    return { id: res.body.id as string, clientId, clientSecret };
  }

  async function serviceKey(on: TestBroker, workspaces: string[]) {
    const res = await send(on, 'post', '/v1/service-keys', admin, { name: `svc-${workspaces.join('-')}`, workspaces });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, key: res.body.key as string };
  }

  async function fixture(on: TestBroker): Promise<Fixture> {
    const client = await readyClient(on);
    const key = await serviceKey(on, [WS_A]);
    return { id: client.id, clientId: client.clientId, serviceKeyId: key.id };
  }

  describe('every route needs the right key', () => {
    let shared: Fixture;
    let keyForA: string;
    let keyForB: string;
    let wildcardKey: string;

    beforeAll(async () => {
      shared = await fixture(broker);
      keyForA = (await serviceKey(broker, [WS_A])).key;
      keyForB = (await serviceKey(broker, [WS_B])).key;
      wildcardKey = (await serviceKey(broker, ['*'])).key;
    });

    const unauthenticated: [string, Headers][] = [
      ['no Authorization header', {}],
      ['Basic credentials', { Authorization: 'Basic x' }],
      ['Bearer with no key', { Authorization: 'Bearer' }],
      ['Bearer and a space with no key', { Authorization: 'Bearer ' }],
      ['a key with spaces', { Authorization: `Bearer ${ADMIN_KEY} ${ADMIN_KEY}` }],
      ['the admin key without the Bearer scheme', { Authorization: ADMIN_KEY }],
      ['an unknown key', bearer(randomSecret('unknown_key'))],
      ['an unknown key shaped like a service key', bearer(`tbsk.sk_${'0'.repeat(24)}.${randomSecret()}`)],
      ['the admin key with a character changed', bearer(`${ADMIN_KEY.slice(0, -1)}X`)],
    ];

    it.each(ROUTES.map((route) => [routeName(route), route] as const))(
      '%s: 401 unauthorized without a valid key',
      async (_, route) => {
        for (const [label, headers] of unauthenticated) {
          const res = await send(broker, route.method, route.path(shared), headers, route.body?.(shared));
          expect({ label, status: res.status }).toEqual({ label, status: 401 });
          expectErrorShape(res, 401, 'unauthorized');
          expect(res.body.error).toBe('Unauthorized');
        }
      },
    );

    it.each(ROUTES.filter((r) => r.access === 'admin').map((route) => [routeName(route), route] as const))(
      '%s: 403 forbidden for any service key, even a wildcard one',
      async (_, route) => {
        for (const key of [keyForA, keyForB, wildcardKey]) {
          const res = await send(broker, route.method, route.path(shared), bearer(key), route.body?.(shared));
          expectErrorShape(res, 403, 'forbidden');
          expect(res.body.error).toBe('Forbidden');
        }
      },
    );

    it.each(ROUTES.filter((r) => r.access === 'token').map((route) => [routeName(route), route] as const))(
      '%s: a service key of another workspace gets 403; its own workspace and a wildcard key are served',
      async (_, route) => {
        const refused = await send(broker, route.method, route.path(shared), bearer(keyForA), route.body?.(shared));
        expectErrorShape(refused, 403, 'forbidden');
        for (const key of [keyForB, wildcardKey]) {
          const res = await send(broker, route.method, route.path(shared), bearer(key), route.body?.(shared));
          expect(res.status).toBe(200);
          expect(res.body).toEqual({
            access_token: expect.stringMatching(/^pd_at_/),
            token_type: 'Bearer',
            expires_at: expect.any(String),
            expires_in: expect.any(Number),
          });
          expect(res.headers['cache-control']).toBe('no-store');
        }
      },
    );

    it.each(ROUTES.map((route) => [routeName(route), route.success, route] as const))(
      '%s: the admin key gets %s',
      async (_, __, route) => {
        const own = await fixture(broker);
        const res = await send(broker, route.method, route.path(own), admin, route.body?.(own));
        expect(res.status).toBe(route.success);
        if (route.success === 204) expect(res.text).toBe('');
      },
    );

    it('/health/live, /health/ready and /metrics need no key', async () => {
      const live = await broker.http().get('/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toEqual({ status: 'ok' });
      const ready = await broker.http().get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ok');
      const metrics = await broker.http().get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      expect(metrics.text).toContain('# TYPE');
    });
  });

  describe('bad input', () => {
    it('is refused with a 4xx in the contract shape, never echoes a secret, and changes nothing', async () => {
      const MARKER = randomSecret('MARKER');
      const existing = await readyClient(broker);
      const apiKeyClient = await send(broker, 'post', '/v1/clients', admin, {
        workspaceId: WS_B,
        name: 'Key',
        type: 'api_key',
        apiKey: randomSecret('pd_key'),
      });
      expect(apiKeyClient.status).toBe(201);
      const unknownId = 'cl_000000000000000000000000';
      const oauth = (overrides: object = {}) => ({
        workspaceId: WS_B,
        name: 'Bad',
        type: 'oauth_client_credentials',
        clientId: `pd_${randomSecret('bad')}`,
        clientSecret: MARKER,
        ...overrides,
      });

      /** [label, method, path, body (object, or raw text with its content type), status, code, fields named in details]. */
      type Case = [
        string,
        Method,
        string,
        object | { raw: string; type: string } | undefined,
        number | number[],
        string?,
        string[]?,
      ];
      const cases: Case[] = [
        // Wrong types, with secrets where they do not belong.
        [
          'wrong types',
          'post',
          '/v1/clients',
          {
            workspaceId: 5,
            name: [MARKER],
            type: 'oauth_client_credentials',
            clientId: 7,
            clientSecret: { v: MARKER },
          },
          400,
          'bad_request',
          ['workspaceId', 'name', 'clientId', 'clientSecret'],
        ],
        [
          'apiKey as a number and secret in an unknown field',
          'post',
          '/v1/clients',
          { workspaceId: WS_B, name: 'x', type: 'api_key', apiKey: 42, password: MARKER },
          400,
          'bad_request',
          ['password', 'apiKey'],
        ],
        ['unknown type', 'post', '/v1/clients', oauth({ type: 'saml' }), 400, 'bad_request', ['type']],
        [
          'tokenRequestFormat not json or form',
          'post',
          '/v1/clients',
          oauth({ tokenRequestFormat: 'xml' }),
          400,
          'bad_request',
          ['tokenRequestFormat'],
        ],
        // Missing required fields.
        [
          'oauth without clientId',
          'post',
          '/v1/clients',
          oauth({ clientId: undefined }),
          400,
          'bad_request',
          ['clientId'],
        ],
        [
          'oauth without clientSecret',
          'post',
          '/v1/clients',
          oauth({ clientSecret: undefined }),
          400,
          'bad_request',
          ['clientSecret'],
        ],
        [
          'api_key without apiKey',
          'post',
          '/v1/clients',
          { workspaceId: WS_B, name: 'k', type: 'api_key' },
          400,
          'bad_request',
          ['apiKey'],
        ],
        ['no name', 'post', '/v1/clients', oauth({ name: undefined }), 400, 'bad_request', ['name']],
        ['empty object', 'post', '/v1/clients', {}, 400, 'bad_request', ['workspaceId', 'name', 'type']],
        // Unknown fields and fields of the other type.
        ['unknown field', 'post', '/v1/clients', oauth({ secretToo: MARKER }), 400, 'bad_request', ['secretToo']],
        [
          'api_key client with clientSecret',
          'post',
          '/v1/clients',
          { workspaceId: WS_B, name: 'k', type: 'api_key', apiKey: MARKER, clientSecret: MARKER },
          400,
          'bad_request',
          ['clientSecret'],
        ],
        ['oauth client with apiKey', 'post', '/v1/clients', oauth({ apiKey: MARKER }), 400, 'bad_request', ['apiKey']],
        // Token URLs.
        [
          'tokenUrl host not in the allowlist',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'https://evil.example/v1/oauth/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl over http',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'http://api.pipedream.com/v1/oauth/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl with userinfo naming another host',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'https://api.pipedream.com@evil.example/v1/oauth/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl with user and password',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: `https://u:${MARKER}@api.pipedream.com/v1/oauth/token` }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl an IPv4 literal',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'https://169.254.169.254/latest/meta-data' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl an IPv6 literal',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'https://[::1]/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl https on a host allowed only over http',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'https://127.0.0.1/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl not a URL',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'api.pipedream.com/v1/oauth/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        [
          'tokenUrl of another scheme',
          'post',
          '/v1/clients',
          oauth({ tokenUrl: 'ftp://api.pipedream.com/token' }),
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        // Workspace ids.
        [
          'workspaceId ../x',
          'post',
          '/v1/clients',
          oauth({ workspaceId: '../x' }),
          400,
          'bad_request',
          ['workspaceId'],
        ],
        ['workspaceId empty', 'post', '/v1/clients', oauth({ workspaceId: '' }), 400, 'bad_request', ['workspaceId']],
        [
          'workspaceId of 65 characters',
          'post',
          '/v1/clients',
          oauth({ workspaceId: 'o'.repeat(65) }),
          400,
          'bad_request',
          ['workspaceId'],
        ],
        [
          'workspaceId unicode',
          'post',
          '/v1/clients',
          oauth({ workspaceId: 'o_ünï' }),
          400,
          'bad_request',
          ['workspaceId'],
        ],
        [
          'workspaceId with a newline',
          'post',
          '/v1/clients',
          oauth({ workspaceId: 'o_a\n' }),
          400,
          'bad_request',
          ['workspaceId'],
        ],
        // Broken bodies.
        [
          'broken JSON with a secret in it',
          'post',
          '/v1/clients',
          { raw: `{"clientSecret": ${MARKER}}`, type: 'application/json' },
          400,
          'bad_request',
        ],
        [
          'truncated JSON',
          'post',
          '/v1/clients',
          { raw: '{"workspaceId":', type: 'application/json' },
          400,
          'bad_request',
        ],
        [
          'a JSON array',
          'post',
          '/v1/clients',
          { raw: JSON.stringify([oauth()]), type: 'application/json' },
          400,
          'bad_request',
          ['body'],
        ],
        [
          'a JSON string',
          'post',
          '/v1/clients',
          { raw: JSON.stringify(MARKER), type: 'application/json' },
          400,
          'bad_request',
          ['body'],
        ],
        [
          'a JSON number on a PATCH',
          'patch',
          `/v1/clients/${existing.id}`,
          { raw: '42', type: 'application/json' },
          400,
          'bad_request',
          ['body'],
        ],
        [
          '__proto__ in the body',
          'post',
          '/v1/clients',
          { raw: `{"__proto__": {"admin": true}, "clientSecret": "${MARKER}"}`, type: 'application/json' },
          400,
          'bad_request',
        ],
        ['a body over 64 KB', 'post', '/v1/clients', oauth({ name: 'x'.repeat(70 * 1024) }), 413, 'payload_too_large'],
        [
          'a text/plain body',
          'post',
          '/v1/clients',
          { raw: JSON.stringify(oauth()), type: 'text/plain' },
          415,
          'bad_request',
        ],
        [
          'a form body',
          'post',
          '/v1/clients',
          {
            raw: new URLSearchParams(oauth()).toString(),
            type: 'application/x-www-form-urlencoded',
          },
          415,
          'bad_request',
        ],
        ['an XML body', 'post', '/v1/clients', { raw: '<client/>', type: 'application/xml' }, 415, 'bad_request'],
        // Lists.
        ['limit 0', 'get', '/v1/clients?limit=0', undefined, 400, 'bad_request', ['limit']],
        ['limit 501', 'get', '/v1/clients?limit=501', undefined, 400, 'bad_request', ['limit']],
        ['limit abc', 'get', '/v1/clients?limit=abc', undefined, 400, 'bad_request', ['limit']],
        ['limit 1.5', 'get', '/v1/clients?limit=1.5', undefined, 400, 'bad_request', ['limit']],
        ['limit twice', 'get', '/v1/clients?limit=1&limit=2', undefined, 400, 'bad_request', ['limit']],
        ['odd cursor', 'get', '/v1/clients?cursor=..%2Fx', undefined, 400, 'bad_request', ['cursor']],
        ['empty cursor', 'get', '/v1/clients?cursor=', undefined, 400, 'bad_request', ['cursor']],
        [
          'odd workspaceId filter',
          'get',
          '/v1/clients?workspaceId=%00',
          undefined,
          400,
          'bad_request',
          ['workspaceId'],
        ],
        ['unknown query field', 'get', `/v1/clients?secret=${MARKER}`, undefined, 400, 'bad_request', ['secret']],
        ['audit limit 501', 'get', '/v1/audit-events?limit=501', undefined, 400, 'bad_request', ['limit']],
        ['audit odd cursor', 'get', '/v1/audit-events?cursor=abc', undefined, 400, 'bad_request', ['cursor']],
        ['audit odd clientId', 'get', '/v1/audit-events?clientId=..%2F', undefined, 400, 'bad_request', ['clientId']],
        // Updates and rotations of a client that exists.
        [
          'PATCH with an unknown field',
          'patch',
          `/v1/clients/${existing.id}`,
          { clientSecret: MARKER },
          400,
          'bad_request',
          ['clientSecret'],
        ],
        [
          'PATCH with a tokenUrl outside the allowlist',
          'patch',
          `/v1/clients/${existing.id}`,
          { tokenUrl: 'https://evil.example/token' },
          400,
          'bad_request',
          ['tokenUrl'],
        ],
        ['PATCH with an empty name', 'patch', `/v1/clients/${existing.id}`, { name: '' }, 400, 'bad_request', ['name']],
        [
          'PATCH an api_key client with a scope',
          'patch',
          `/v1/clients/${apiKeyClient.body.id}`,
          { scope: 'x' },
          400,
          'bad_request',
          ['scope'],
        ],
        [
          'rotation without a secret',
          'put',
          `/v1/clients/${existing.id}/secret`,
          {},
          400,
          'bad_request',
          ['clientSecret'],
        ],
        [
          'rotation with a wrong-typed secret',
          'put',
          `/v1/clients/${existing.id}/secret`,
          { clientSecret: [MARKER] },
          400,
          'bad_request',
          ['clientSecret'],
        ],
        [
          'rotation of an oauth client with apiKey',
          'put',
          `/v1/clients/${existing.id}/secret`,
          { apiKey: MARKER },
          400,
          'bad_request',
          ['apiKey'],
        ],
        [
          'rotation with verify=maybe',
          'put',
          `/v1/clients/${existing.id}/secret?verify=maybe`,
          { clientSecret: MARKER },
          400,
          'bad_request',
          ['verify'],
        ],
        [
          'forced refresh with a wrong-typed rejectedToken',
          'post',
          `/v1/clients/${existing.id}/token/refresh`,
          { rejectedToken: { t: MARKER } },
          400,
          'bad_request',
          ['rejectedToken'],
        ],
        [
          'forced refresh with an unknown field',
          'post',
          `/v1/clients/${existing.id}/token/refresh`,
          { token: MARKER },
          400,
          'bad_request',
          ['token'],
        ],
        // Service keys.
        [
          'service key without workspaces',
          'post',
          '/v1/service-keys',
          { name: 'svc' },
          400,
          'bad_request',
          ['workspaces'],
        ],
        [
          'service key with no workspace',
          'post',
          '/v1/service-keys',
          { name: 'svc', workspaces: [] },
          400,
          'bad_request',
          ['workspaces'],
        ],
        [
          'service key with an odd workspace',
          'post',
          '/v1/service-keys',
          { name: 'svc', workspaces: ['../x'] },
          400,
          'bad_request',
          ['workspaces'],
        ],
        [
          'service key with workspaces as a string',
          'post',
          '/v1/service-keys',
          { name: 'svc', workspaces: '*' },
          400,
          'bad_request',
          ['workspaces'],
        ],
        [
          'service key with a key of its own',
          'post',
          '/v1/service-keys',
          { name: 'svc', workspaces: [WS_A], key: MARKER },
          400,
          'bad_request',
          ['key'],
        ],
        // Conflicts and unknown ids.
        [
          'the same clientId twice in a workspace',
          'post',
          '/v1/clients',
          oauth({ clientId: existing.clientId, clientSecret: existing.clientSecret }),
          409,
          'conflict',
        ],
        ['GET an unknown client', 'get', `/v1/clients/${unknownId}`, undefined, 404, 'not_found'],
        ['PATCH an unknown client', 'patch', `/v1/clients/${unknownId}`, { name: 'x' }, 404, 'not_found'],
        [
          'rotate an unknown client',
          'put',
          `/v1/clients/${unknownId}/secret`,
          { clientSecret: MARKER },
          404,
          'not_found',
        ],
        ['DELETE an unknown client', 'delete', `/v1/clients/${unknownId}`, undefined, 404, 'not_found'],
        ['token of an unknown client', 'get', `/v1/clients/${unknownId}/token`, undefined, 404, 'not_found'],
        ['forced refresh of an unknown client', 'post', `/v1/clients/${unknownId}/token/refresh`, {}, 404, 'not_found'],
        [
          'DELETE an unknown service key',
          'delete',
          '/v1/service-keys/sk_000000000000000000000000',
          undefined,
          404,
          'not_found',
        ],
        [
          'an unknown route with a secret in its query',
          'get',
          `/v1/client?apiKey=${MARKER}`,
          undefined,
          404,
          'not_found',
        ],
        [
          'a method a route does not have',
          'put',
          `/v1/clients?clientSecret=${MARKER}`,
          { clientSecret: MARKER },
          404,
          'not_found',
        ],
      ];
      // Odd ids in paths, on every route that takes one.
      const oddIds = [
        '..%2F',
        '..%2F..%2Fservice-keys',
        '..',
        '%2e%2e',
        'a'.repeat(65),
        'a'.repeat(300),
        '%C3%A9t%C3%A9',
        '%00',
        'a%20b',
        '%ZZ',
        `${MARKER}%0A`,
      ];
      for (const odd of oddIds) {
        cases.push(
          [`GET client ${odd.slice(0, 20)}`, 'get', `/v1/clients/${odd}`, undefined, [400, 404]],
          [`PATCH client ${odd.slice(0, 20)}`, 'patch', `/v1/clients/${odd}`, { name: 'x' }, [400, 404]],
          [
            `rotate client ${odd.slice(0, 20)}`,
            'put',
            `/v1/clients/${odd}/secret`,
            { clientSecret: MARKER },
            [400, 404],
          ],
          [`DELETE client ${odd.slice(0, 20)}`, 'delete', `/v1/clients/${odd}`, undefined, [400, 404]],
          [`token of ${odd.slice(0, 20)}`, 'get', `/v1/clients/${odd}/token`, undefined, [400, 404]],
          [`refresh of ${odd.slice(0, 20)}`, 'post', `/v1/clients/${odd}/token/refresh`, {}, [400, 404]],
          [`DELETE service key ${odd.slice(0, 20)}`, 'delete', `/v1/service-keys/${odd}`, undefined, [400, 404]],
        );
      }

      const before = await snapshot(broker);
      const failures: string[] = [];
      for (const [label, method, path, body, status, code, fields] of cases) {
        let req = broker.http()[method](path).set(admin);
        if (body && 'raw' in body)
          req = req.set('Content-Type', (body as { type: string }).type).send((body as { raw: string }).raw);
        else if (body !== undefined) req = req.send(body);
        const res = await req;
        try {
          const statuses = Array.isArray(status) ? status : [status];
          expect(statuses).toContain(res.status);
          expectErrorShape(res, res.status, code ?? (res.status === 400 ? 'bad_request' : 'not_found'));
          if (fields)
            expect(res.body.details.map((d: { field: string }) => d.field).sort()).toEqual([...fields].sort());
          expect(res.text).not.toContain(MARKER);
          expect(JSON.stringify(res.headers)).not.toContain(MARKER);
        } catch (error) {
          failures.push(
            `${label} (${method.toUpperCase()} ${path.slice(0, 80)}): ${res.status} ${res.text.slice(0, 300)}\n${String(error).slice(0, 600)}`,
          );
        }
      }
      expect(failures).toEqual([]);
      expect(await snapshot(broker)).toEqual(before);
      expect(upstream.issued.filter((t) => t.clientId === existing.clientId)).toHaveLength(1);
    });

    it('answers representative refusals with exactly these bodies', async () => {
      const raw = (method: Method, path: string, type: string, body: string) =>
        broker.http()[method](path).set(admin).set('Content-Type', type).send(body);
      const cases: [string, Promise<Response>, number, object][] = [
        [
          'limit 0',
          send(broker, 'get', '/v1/clients?limit=0', admin),
          400,
          {
            message: 'Invalid limit',
            details: [{ field: 'limit', problems: ['limit must be a whole number from 1 to 500'] }],
          },
        ],
        [
          'an unknown field',
          send(broker, 'post', '/v1/service-keys', admin, { name: 'svc', workspaces: [WS_A], extra: 1 }),
          400,
          {
            message: 'Invalid extra',
            details: [{ field: 'extra', problems: ['unknown field'] }],
          },
        ],
        [
          'a JSON array',
          raw('post', '/v1/service-keys', 'application/json', '[]'),
          400,
          {
            message: 'The body must be a JSON object',
            details: [{ field: 'body', problems: ['must be a JSON object, not an array'] }],
          },
        ],
        [
          'broken JSON',
          raw('post', '/v1/service-keys', 'application/json', '{"name":'),
          400,
          {
            message: "Body is not valid JSON but content-type is set to 'application/json'",
            details: [
              { field: 'body', problems: ["Body is not valid JSON but content-type is set to 'application/json'"] },
            ],
          },
        ],
        [
          'a badly encoded path',
          send(broker, 'get', '/v1/clients/%ZZ', admin),
          400,
          {
            message: 'The URL is not valid: check its percent-encoding',
            details: [{ field: 'path', problems: ['must be a validly percent-encoded URL path'] }],
          },
        ],
        [
          'a body over 64 KB',
          raw(
            'post',
            '/v1/service-keys',
            'application/json',
            JSON.stringify({ name: 'x'.repeat(65 * 1024), workspaces: [WS_A] }),
          ),
          413,
          {
            message: 'Request body is too large: the limit is 64 KB, and 4 MB for POST /v1/clients/batch',
          },
        ],
        [
          'a text/plain body',
          raw('post', '/v1/service-keys', 'text/plain', 'name=svc'),
          415,
          {
            message: 'Unsupported Content-Type: send application/json',
          },
        ],
        [
          'an unknown client',
          send(broker, 'get', '/v1/clients/cl_000000000000000000000000', admin),
          404,
          { message: 'Client not found' },
        ],
      ];
      const codes: Record<number, [string, string]> = {
        400: ['Bad Request', 'bad_request'],
        404: ['Not Found', 'not_found'],
        413: ['Payload Too Large', 'payload_too_large'],
        415: ['Unsupported Media Type', 'bad_request'],
      };
      for (const [label, pending, status, rest] of cases) {
        const res = await pending;
        const [error, code] = codes[status];
        expect({ label, status: res.status, body: res.body }).toEqual({
          label,
          status,
          body: { statusCode: status, error, code, ...rest },
        });
      }
    });

    /** What bad input must not change: the clients, the service keys, the audit trail and the token counters. */
    async function snapshot(on: TestBroker) {
      // Wait for background fetches of earlier registrations, so only the requests under test could change anything.
      await eventually(async () => {
        const res = await send(on, 'get', '/health/tokens', admin);
        return res.body.byState.pending === 0;
      });
      const [clients, keys, audit, tokens] = await Promise.all(
        ['/v1/clients?limit=500', '/v1/service-keys', '/v1/audit-events?limit=500', '/health/tokens'].map((path) =>
          send(on, 'get', path, admin),
        ),
      );
      for (const res of [clients, keys, audit, tokens]) expect(res.status).toBe(200);
      expect(clients.body.nextCursor).toBeNull();
      expect(audit.body.nextCursor).toBeNull();
      return {
        clients: withoutUsageTimes(clients.body),
        keys: withoutUsageTimes(keys.body),
        audit: audit.body,
        tokens: tokens.body,
      };
    }
  });

  describe('rate limits', () => {
    it('failed authentication is limited per source after AUTH_FAILURE_LIMIT_PER_MINUTE failures; the admin key still works', async () => {
      for (let i = 0; i < 5; i += 1) {
        const res = await send(authLimited, 'get', '/v1/clients', bearer(randomSecret('wrong')));
        expectErrorShape(res, 401, 'unauthorized');
      }
      for (const headers of [bearer(randomSecret('wrong')), {}, { Authorization: 'Basic x' }]) {
        const limited = await send(authLimited, 'get', '/v1/clients', headers);
        expectErrorShape(limited, 429, 'rate_limited');
        expect(limited.body.error).toBe('Too Many Requests');
        const retryAfter = Number(limited.headers['retry-after']);
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
      }
      const ok = await send(authLimited, 'get', '/v1/clients', admin);
      expect(ok.status).toBe(200);
      // A valid service key is not refused either: the limit is on failures.
      const client = await readyClient(authLimited);
      const key = await serviceKey(authLimited, [WS_B]);
      expect((await send(authLimited, 'get', `/v1/clients/${client.id}/token`, bearer(key.key))).status).toBe(200);
    });

    it('token requests per service key are limited by TOKEN_REQUESTS_PER_SECOND_PER_KEY; the admin key never is', async () => {
      const client = await readyClient(tokenLimited);
      const key = await serviceKey(tokenLimited, [WS_B]);
      const other = await serviceKey(tokenLimited, ['*']);
      const path = `/v1/clients/${client.id}/token`;

      const startedAt = Date.now();
      const burst = await Promise.all(
        Array.from({ length: 12 }, () => send(tokenLimited, 'get', path, bearer(key.key))),
      );
      const elapsedMs = Date.now() - startedAt;
      const served = burst.filter((res) => res.status === 200);
      const limited = burst.filter((res) => res.status !== 200);
      // A burst of 5, refilled at 5 per second while the burst runs.
      expect(served.length).toBeGreaterThanOrEqual(5);
      expect(served.length).toBeLessThanOrEqual(5 + Math.floor((elapsedMs * 5) / 1000));
      expect(limited.length).toBeGreaterThan(0);
      for (const res of limited) {
        expectErrorShape(res, 429, 'rate_limited');
        expect(res.headers['retry-after']).toBe('1');
        expect(res.text).not.toContain(served[0].body.access_token);
      }
      // The budget is per key: another key is served meanwhile, and so is the admin key, however often it asks.
      expect((await send(tokenLimited, 'get', path, bearer(other.key))).status).toBe(200);
      const adminBurst = await Promise.all(Array.from({ length: 30 }, () => send(tokenLimited, 'get', path, admin)));
      expect(adminBurst.map((res) => res.status)).toEqual(Array(30).fill(200));
      // A rate, not a ban: the key is served again once its budget refills.
      await eventually(async () => (await send(tokenLimited, 'get', path, bearer(key.key))).status === 200, 2_000);
    });
  });

  describe('service keys', () => {
    it('shows the key once, never lists it or its hash, and refuses it once deleted', async () => {
      const client = await readyClient(broker);
      const created = await send(broker, 'post', '/v1/service-keys', admin, {
        name: 'billing',
        workspaces: [WS_B, WS_B],
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^sk_[0-9a-f]{24}$/),
        name: 'billing',
        workspaces: [WS_B],
        key: expect.any(String),
        createdAt: expect.any(String),
      });
      expect(new Date(created.body.createdAt).toISOString()).toBe(created.body.createdAt);
      const { id, key } = created.body as { id: string; key: string };
      const hash = createHash('sha256').update(key).digest('hex');
      const secretPart = key.split('.').pop()!;

      const listed = await send(broker, 'get', '/v1/service-keys', admin);
      expect(listed.status).toBe(200);
      expect(Object.keys(listed.body)).toEqual(['items']);
      expect(listed.body.items).toContainEqual({
        id,
        name: 'billing',
        workspaces: [WS_B],
        createdAt: created.body.createdAt,
        lastUsedAt: null,
      });
      for (const item of listed.body.items)
        expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'workspaces']);
      const audit = await send(broker, 'get', '/v1/audit-events?limit=500', admin);
      for (const text of [listed.text, audit.text]) {
        expect(text).not.toContain(secretPart);
        expect(text).not.toContain(hash);
      }
      expect(broker.logs.join('\n')).not.toContain(secretPart);

      expect((await send(broker, 'get', `/v1/clients/${client.id}/token`, bearer(key))).status).toBe(200);
      const deleted = await send(broker, 'delete', `/v1/service-keys/${id}`, admin);
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      const refused = await send(broker, 'get', `/v1/clients/${client.id}/token`, bearer(key));
      expectErrorShape(refused, 401, 'unauthorized');
      expect(
        (await send(broker, 'get', '/v1/service-keys', admin)).body.items.map((item: { id: string }) => item.id),
      ).not.toContain(id);
      const again = await send(broker, 'delete', `/v1/service-keys/${id}`, admin);
      expectErrorShape(again, 404, 'not_found');
    });

    it('a wildcard among workspaces makes a wildcard key', async () => {
      const created = await send(broker, 'post', '/v1/service-keys', admin, { name: 'all', workspaces: [WS_A, '*'] });
      expect(created.status).toBe(201);
      expect(created.body.workspaces).toEqual(['*']);
    });
  });
});
