import Redis from 'ioredis';
import type { Response } from 'supertest';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { rawRequest, type RawAnswer } from './support/raw-http';
import { testRedisUrl } from './support/test-redis';
import { dumpRedis, expectContractError, expectSecurityHeaders } from './security/support';

/**
 * Issue 9, item 2: input that used to get through (500s, or a 200 that
 * changed a client) is a 400 in the contract's shape naming the field, and
 * changes nothing; the HTTP parser's own refusals are in that shape too.
 */
const WS = 'o_input';
const LONE_SURROGATES = ['Acme \ud83d', '\udc00 trailing', 'mid\ud83dle'];
const CONTROL_TEXTS = ['pd_key\n', 'a\u0000b', 'tab\there', 'del\u007f', 'c1\u0085'];

describe('bad input that used to get through (issue 9)', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let redis: Redis;
  let oauthId: string;
  let apiKeyId: string;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({ upstream, env: { LOG_LEVEL: 'warn' } });
    redis = new Redis(testRedisUrl());
    const clientId = `pd_${randomSecret('in')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const oauth = await broker.http().post('/v1/clients').set(admin).send({
      workspaceId: WS,
      name: 'OAuth',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret,
      scope: 'read',
    });
    expect(oauth.status).toBe(201);
    oauthId = oauth.body.id;
    const apiKey = randomSecret('pd_key');
    upstream.addApiKey(apiKey);
    const key = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WS, name: 'Key', type: 'api_key', apiKey });
    expect(key.status).toBe(201);
    apiKeyId = key.body.id;
    await eventually(async () => {
      const states = await Promise.all(
        [oauthId, apiKeyId].map(
          async (id) => (await broker.http().get(`/v1/clients/${id}`).set(admin)).body.status.state,
        ),
      );
      return states.every((state) => state === 'ready');
    });
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    redis?.disconnect();
  });

  const store = () => dumpRedis(redis, broker.config.redisKeyPrefix);
  const sendJson = (method: 'post' | 'put' | 'patch', path: string, json: string) =>
    broker.http()[method](path).set(admin).set('content-type', 'application/json').send(json);

  /** A 400 in the contract's shape whose details name exactly `fields` (in any order). */
  function expectRefused(res: Response, label: string, fields: string[]): void {
    expectContractError(res, label, 400);
    expect({ label, code: res.body.code }).toEqual({ label, code: 'bad_request' });
    // `workspaces.0` names the same field as `workspaces`.
    const named = [
      ...new Set((res.body.details as { field: string }[]).map((detail) => detail.field.split('.')[0])),
    ].sort();
    expect({ label, named }).toEqual({ label, named: [...fields].sort() });
  }

  it('PUT /secret with a null clientSecret or apiKey is 400 naming the field, with and without ?verify=false, and changes nothing', async () => {
    const before = await store();
    for (const query of ['', '?verify=false', '?verify=true']) {
      for (const [id, field] of [
        [oauthId, 'clientSecret'],
        [apiKeyId, 'apiKey'],
        [oauthId, 'apiKey'],
        [apiKeyId, 'clientSecret'],
      ]) {
        const res = await sendJson('put', `/v1/clients/${id}/secret${query}`, JSON.stringify({ [field]: null }));
        expectRefused(res, `PUT ${field}: null ${query}`, [field]);
      }
    }
    expect(await store()).toEqual(before);
  });

  it('PATCH with a null body or a null field is 400 and changes nothing; scope: null still clears the scope', async () => {
    const before = await store();
    const bodyNull = await sendJson('patch', `/v1/clients/${oauthId}`, 'null');
    expectRefused(bodyNull, 'PATCH null', ['body']);
    for (const field of ['name', 'tokenUrl', 'tokenRequestFormat']) {
      expectRefused(
        await sendJson('patch', `/v1/clients/${oauthId}`, JSON.stringify({ [field]: null })),
        `PATCH ${field}: null`,
        [field],
      );
    }
    expect(await store()).toEqual(before);

    const cleared = await sendJson('patch', `/v1/clients/${oauthId}`, JSON.stringify({ scope: null }));
    expect({ status: cleared.status, scope: cleared.body.scope }).toEqual({ status: 200, scope: null });
    // A scope change fetches a new token; let it land before the next test takes its snapshot.
    await eventually(
      async () => (await broker.http().get(`/v1/clients/${oauthId}`).set(admin)).body.status.state === 'ready',
    );
  });

  it('the refresh route and every other body route refuse a body that is not a JSON object', async () => {
    const routes: ['post' | 'put' | 'patch', string][] = [
      ['post', `/v1/clients/${oauthId}/token/refresh`],
      ['post', '/v1/clients'],
      ['patch', `/v1/clients/${oauthId}`],
      ['put', `/v1/clients/${oauthId}/secret`],
      ['post', '/v1/service-keys'],
    ];
    const before = await store();
    for (const [method, path] of routes) {
      for (const json of ['null', '[]', '"x"', '""', '1', 'true', '[{"rejectedToken":"x"}]']) {
        expectRefused(await sendJson(method, path, json), `${method} ${path} ${json}`, ['body']);
      }
    }
    expect(await store()).toEqual(before);
  });

  it('keys, secrets and other text with control characters are 400 naming the field', async () => {
    const oauth = (overrides: object) => ({
      workspaceId: WS,
      name: 'Ctl',
      type: 'oauth_client_credentials',
      clientId: `pd_${randomSecret('ctl')}`,
      clientSecret: randomSecret(),
      ...overrides,
    });
    const before = await store();
    for (const text of CONTROL_TEXTS) {
      const cases: [string, 'post' | 'put' | 'patch', string, object, string][] = [
        [
          'apiKey',
          'post',
          '/v1/clients',
          { workspaceId: WS, name: 'k', type: 'api_key', apiKey: `pd_${text}` },
          'apiKey',
        ],
        ['clientSecret', 'post', '/v1/clients', oauth({ clientSecret: `s3cr3t${text}` }), 'clientSecret'],
        ['clientId', 'post', '/v1/clients', oauth({ clientId: `pd_${text}` }), 'clientId'],
        ['tokenUrl', 'post', '/v1/clients', oauth({ tokenUrl: `${upstream.tokenUrl}${text}` }), 'tokenUrl'],
        ['scope', 'post', '/v1/clients', oauth({ scope: `read${text}` }), 'scope'],
        ['name', 'post', '/v1/clients', oauth({ name: `Acme${text}` }), 'name'],
        ['rotated apiKey', 'put', `/v1/clients/${apiKeyId}/secret?verify=false`, { apiKey: `pd_${text}` }, 'apiKey'],
        [
          'rotated clientSecret',
          'put',
          `/v1/clients/${oauthId}/secret?verify=false`,
          { clientSecret: `s${text}` },
          'clientSecret',
        ],
        [
          'patched tokenUrl',
          'patch',
          `/v1/clients/${oauthId}`,
          { tokenUrl: `${upstream.tokenUrl}${text}` },
          'tokenUrl',
        ],
        ['service key name', 'post', '/v1/service-keys', { name: `svc${text}`, workspaces: [WS] }, 'name'],
        [
          'rejectedToken',
          'post',
          `/v1/clients/${oauthId}/token/refresh`,
          { rejectedToken: `tok${text}` },
          'rejectedToken',
        ],
      ];
      for (const [label, method, path, body, field] of cases) {
        expectRefused(await sendJson(method, path, JSON.stringify(body)), `${label} ${JSON.stringify(text)}`, [field]);
      }
    }
    // An API key is sent in a header: a space or a character beyond Latin-1 would never authenticate either.
    for (const apiKey of ['pd key', 'pd_k€y', 'pd_\u{1f600}']) {
      expectRefused(
        await sendJson('post', '/v1/clients', JSON.stringify({ workspaceId: WS, name: 'k', type: 'api_key', apiKey })),
        apiKey,
        ['apiKey'],
      );
    }
    expect(await store()).toEqual(before);
  });

  it('text with a lone UTF-16 surrogate is 400 in every text field, and the client stays writable', async () => {
    const before = await store();
    for (const text of LONE_SURROGATES) {
      const cases: [string, 'post' | 'put' | 'patch', string, object, string][] = [
        ['name', 'post', '/v1/clients', { workspaceId: WS, name: text, type: 'api_key', apiKey: 'pd_ok_key' }, 'name'],
        [
          'scope',
          'post',
          '/v1/clients',
          {
            workspaceId: WS,
            name: 'x',
            type: 'oauth_client_credentials',
            clientId: 'pd_x',
            clientSecret: 's',
            scope: text,
          },
          'scope',
        ],
        [
          'clientId',
          'post',
          '/v1/clients',
          { workspaceId: WS, name: 'x', type: 'oauth_client_credentials', clientId: text, clientSecret: 's' },
          'clientId',
        ],
        [
          'clientSecret',
          'post',
          '/v1/clients',
          { workspaceId: WS, name: 'x', type: 'oauth_client_credentials', clientId: 'pd_x', clientSecret: text },
          'clientSecret',
        ],
        [
          'workspaceId',
          'post',
          '/v1/clients',
          { workspaceId: text, name: 'x', type: 'api_key', apiKey: 'pd_ok_key' },
          'workspaceId',
        ],
        ['patched name', 'patch', `/v1/clients/${oauthId}`, { name: text }, 'name'],
        ['patched scope', 'patch', `/v1/clients/${oauthId}`, { scope: text }, 'scope'],
        [
          'rotated clientSecret',
          'put',
          `/v1/clients/${oauthId}/secret?verify=false`,
          { clientSecret: text },
          'clientSecret',
        ],
        ['service key name', 'post', '/v1/service-keys', { name: text, workspaces: [WS] }, 'name'],
        ['service key workspace', 'post', '/v1/service-keys', { name: 'svc', workspaces: [text] }, 'workspaces'],
        ['rejectedToken', 'post', `/v1/clients/${oauthId}/token/refresh`, { rejectedToken: text }, 'rejectedToken'],
      ];
      for (const [label, method, path, body, field] of cases) {
        expectRefused(await sendJson(method, path, JSON.stringify(body)), `${label} ${JSON.stringify(text)}`, [field]);
      }
    }
    expect(await store()).toEqual(before);
    // A field name that is not well-formed is refused too, without being quoted back.
    const oddKey = await sendJson('patch', `/v1/clients/${oauthId}`, '{"na\\ud83dme":"x"}');
    expectContractError(oddKey, 'odd key', 400);
    expect(oddKey.text).not.toMatch(/\\ud83d|\ud83d/);
    const renamed = await sendJson('patch', `/v1/clients/${oauthId}`, JSON.stringify({ name: 'Acme 😀' }));
    expect({ status: renamed.status, name: renamed.body.name }).toEqual({ status: 200, name: 'Acme 😀' });
  });

  it('an audit cursor no page can end on (0-0, 00-0) is 400; a real cursor pages', async () => {
    for (const cursor of ['0-0', '00-00', '0-', '-1', '1-2-3', `${'9'.repeat(16)}-0`]) {
      const res = await broker.http().get(`/v1/audit-events?cursor=${cursor}`).set(admin);
      expectRefused(res, `cursor ${cursor}`, ['cursor']);
    }
    const first = await broker.http().get('/v1/audit-events?limit=1').set(admin);
    expect(first.status).toBe(200);
    const next = await broker.http().get(`/v1/audit-events?limit=1&cursor=${first.body.nextCursor}`).set(admin);
    expect({ status: next.status, items: next.body.items.length }).toEqual({ status: 200, items: 1 });
    expect((await broker.http().get('/v1/audit-events?cursor=0-1').set(admin)).status).toBe(200);
  });

  it('a body of 6,000 unknown fields gets a short 400 naming the first 20 and counting the rest', async () => {
    const fields = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [`f${i}`, 1]));
    const body = JSON.stringify({ name: 'x', workspaces: [WS], ...fields });
    expect(body.length).toBeLessThan(64 * 1024);
    const res = await sendJson('post', '/v1/service-keys', body);
    expectContractError(res, '6000 fields', 400);
    expect(res.text.length).toBeLessThan(4_096);
    expect(res.body.details).toHaveLength(20);
    expect(res.body.message).toMatch(/^Invalid f0, f1, .*f19 and 5980 more fields$/);
  });

  describe('refusals made before any route sees the request', () => {
    const asResponse = (answer: RawAnswer): Response =>
      ({
        status: answer.status,
        headers: answer.headers,
        text: answer.body,
        body: JSON.parse(answer.body || 'null'),
      }) as unknown as Response;
    const auth = `Authorization: ${admin.Authorization}\r\n`;
    const cases: [string, () => string, number][] = [
      [
        'a control character in a header value',
        () => 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n',
        400,
      ],
      ['a space in a header name', () => 'GET /health/live HTTP/1.1\r\nHost: x\r\nX Bad: a\r\n\r\n', 400],
      [
        'headers over 16 KB',
        () => `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
        431,
      ],
      [
        'both Content-Length and Transfer-Encoding',
        () =>
          'POST /v1/service-keys HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
      ],
      ['not HTTP at all', () => 'HELLO\r\n\r\n', 400],
      [
        'broken JSON',
        () =>
          `POST /v1/service-keys HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n{`,
        400,
      ],
      [
        'an unsupported media type',
        () =>
          `POST /v1/service-keys HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx`,
        415,
      ],
      [
        'a body over 64 KB',
        () => {
          const body = JSON.stringify({ name: 'n'.repeat(70 * 1024) });
          return `POST /v1/service-keys HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
        },
        413,
      ],
    ];
    it.each(cases)('%s: the contract shape, the security headers and no-store', async (label, request, status) => {
      const answer = await rawRequest(broker.url, request());
      const res = asResponse(answer);
      expectContractError(res, label, status);
      expectSecurityHeaders(res, label);
      expect({ label, cacheControl: answer.headers['cache-control'] }).toEqual({ label, cacheControl: 'no-store' });
    });
  });
});
