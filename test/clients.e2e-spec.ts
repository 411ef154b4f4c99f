import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, withoutUsageTimes, type TestBroker } from './support/broker';

describe('clients admin API (Redis store, fake upstream)', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({ upstream });
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
  });

  async function register(overrides: Record<string, unknown> = {}) {
    const clientId = `pd_client_${randomSecret('id')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({
        workspaceId: 'o_acme',
        name: 'Acme',
        type: 'oauth_client_credentials',
        clientId,
        clientSecret,
        ...overrides,
      });
    return { res, clientId, clientSecret };
  }

  it('registers a client, answers the client view without the secret, and fetches its first token in the background', async () => {
    const { res, clientId, clientSecret } = await register();
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^cl_[0-9a-f]{24}$/),
      workspaceId: 'o_acme',
      name: 'Acme',
      type: 'oauth_client_credentials',
      clientId,
      tokenUrl: upstream.tokenUrl,
      scope: null,
      tokenRequestFormat: 'json',
      tokenEndpointAuthMethod: 'client_secret_post',
      keyId: null,
      signingAlg: null,
      certificateExpiresAt: null,
      extraParams: {},
      defaultExpiresInSeconds: 3600,
      secretHint: clientSecret.slice(-4),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      status: {
        state: 'pending',
        tokenExpiresAt: null,
        lastRefreshAt: null,
        lastError: null,
        failingSince: null,
        lastServedAt: null,
      },
    });
    expect(JSON.stringify(res.body)).not.toContain(clientSecret);

    const ready = await eventually(async () => {
      const view = await broker.http().get(`/v1/clients/${res.body.id}`).set(admin);
      return view.body.status.state === 'ready' ? view.body : null;
    });
    expect(ready.status.tokenExpiresAt).not.toBeNull();
    expect(upstream.tokenRequestCount(clientId)).toBe(1);
  });

  async function readyClient(overrides: Record<string, unknown> = {}) {
    const registered = await register(overrides);
    const id: string = registered.res.body.id;
    const token = await eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body.access_token : null;
    });
    return { ...registered, id, token };
  }

  it('refuses the same clientId twice in one workspace with 409, but allows it in another workspace', async () => {
    const { clientId, clientSecret } = await register();
    const again = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_acme', name: 'Dup', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ statusCode: 409, error: 'Conflict', message: expect.any(String), code: 'conflict' });
    const elsewhere = await broker.http().post('/v1/clients').set(admin).send({
      workspaceId: 'o_other',
      name: 'Same id, other workspace',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret,
    });
    expect(elsewhere.status).toBe(201);
  });

  it('lists clients by id with cursor pages, each exactly once, and filters by workspace', async () => {
    const workspaceId = `o_list_${randomSecret('w').slice(-6)}`;
    const created: string[] = [];
    for (let i = 0; i < 7; i += 1) created.push((await register({ workspaceId, name: `c${i}` })).res.body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string | number> = { workspaceId, limit: 3 };
      if (cursor) query.cursor = cursor;
      const page = await broker.http().get('/v1/clients').query(query).set(admin);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(
        ...page.body.items.map((item: { id: string; workspaceId: string }) => {
          expect(item.workspaceId).toBe(workspaceId);
          return item.id;
        }),
      );
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].sort());

    const all = await broker.http().get('/v1/clients').query({ limit: 500 }).set(admin);
    expect(all.body.items.map((item: { id: string }) => item.id)).toEqual(expect.arrayContaining(created));
    const ids = all.body.items.map((item: { id: string }) => item.id);
    expect(ids).toEqual([...ids].sort());
  });

  it('answers 404 not_found for an unknown client on every client route', async () => {
    const unknown = 'cl_000000000000000000000000';
    const answers = await Promise.all([
      broker.http().get(`/v1/clients/${unknown}`).set(admin),
      broker.http().patch(`/v1/clients/${unknown}`).set(admin).send({ name: 'x' }),
      broker.http().put(`/v1/clients/${unknown}/secret`).set(admin).send({ clientSecret: 'whatever-secret' }),
      broker.http().delete(`/v1/clients/${unknown}`).set(admin),
      broker.http().get(`/v1/clients/${unknown}/token`).set(admin),
      broker.http().post(`/v1/clients/${unknown}/token/refresh`).set(admin).send({}),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Client not found', code: 'not_found' });
    }
  });

  it('PATCH renames without touching the token, and a new scope drops the token and fetches one with it', async () => {
    const { id, clientId, token } = await readyClient();
    const renamed = await broker.http().patch(`/v1/clients/${id}`).set(admin).send({ name: 'Renamed' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Renamed');
    expect(renamed.body.status.state).toBe('ready');
    expect((await broker.http().get(`/v1/clients/${id}/token`).set(admin)).body.access_token).toBe(token);

    const rescoped = await broker.http().patch(`/v1/clients/${id}`).set(admin).send({ scope: 'workflows:read' });
    expect(rescoped.status).toBe(200);
    expect(rescoped.body.scope).toBe('workflows:read');
    const next = await eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 && res.body.access_token !== token ? res.body.access_token : null;
    });
    const issued = upstream.issued.find((entry) => entry.accessToken === next);
    expect(issued).toMatchObject({ clientId, scope: 'workflows:read' });
  });

  it('PATCH refuses a token URL outside the allowlist and fields an api_key client does not have, changing nothing', async () => {
    const { id } = await readyClient();
    const before = (await broker.http().get(`/v1/clients/${id}`).set(admin)).body;
    const bad = await broker
      .http()
      .patch(`/v1/clients/${id}`)
      .set(admin)
      .send({ tokenUrl: 'https://evil.example/token' });
    expect(bad.status).toBe(400);
    expect(bad.body.details).toEqual([
      { field: 'tokenUrl', problems: ['tokenUrl host name is not in TOKEN_URL_ALLOWLIST'] },
    ]);
    expect(withoutUsageTimes((await broker.http().get(`/v1/clients/${id}`).set(admin)).body)).toEqual(
      withoutUsageTimes(before),
    );

    upstream.addApiKey('pd_api_key_for_patch_0001');
    const apiKeyClient = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_acme', name: 'Key', type: 'api_key', apiKey: 'pd_api_key_for_patch_0001' });
    const refused = await broker.http().patch(`/v1/clients/${apiKeyClient.body.id}`).set(admin).send({ scope: 'x' });
    expect(refused.status).toBe(400);
    expect(refused.body.details).toEqual([{ field: 'scope', problems: ['scope is not used by api_key clients'] }]);
  });

  it('rotates the secret after the upstream accepts it: the new token replaces the old one at once', async () => {
    const { id, clientId, token } = await readyClient();
    const newSecret = randomSecret('rotated');
    upstream.addClient(clientId, newSecret);
    const rotated = await broker.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret: newSecret });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secretHint).toBe(newSecret.slice(-4));
    expect(rotated.body.status.state).toBe('ready');
    expect(JSON.stringify(rotated.body)).not.toContain(newSecret);
    const served = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
    expect(served.body.access_token).not.toBe(token);
    expect(upstream.issued.at(-1)?.accessToken).toBe(served.body.access_token);
  });

  it('rotation with verify=false replaces the secret without asking the upstream, then fetches a token with it', async () => {
    const { id, clientId } = await readyClient();
    const newSecret = randomSecret('unverified');
    upstream.addClient(clientId, newSecret);
    const requestsBefore = upstream.tokenRequestCount(clientId);
    const rotated = await broker
      .http()
      .put(`/v1/clients/${id}/secret`)
      .query({ verify: 'false' })
      .set(admin)
      .send({ clientSecret: newSecret });
    expect(rotated.status).toBe(200);
    expect(rotated.body.status.state).toBe('pending');
    expect(upstream.tokenRequestCount(clientId)).toBe(requestsBefore);
    await eventually(
      async () => (await broker.http().get(`/v1/clients/${id}`).set(admin)).body.status.state === 'ready',
    );
    expect(upstream.tokenRequestCount(clientId)).toBe(requestsBefore + 1);
  });

  it('rotation needs the field of the client type', async () => {
    const { id } = await readyClient();
    const wrong = await broker
      .http()
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ apiKey: 'not-for-oauth-clients' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.details).toEqual([
      { field: 'apiKey', problems: ['send clientSecret to rotate a oauth_client_credentials client'] },
    ]);
    const badQuery = await broker
      .http()
      .put(`/v1/clients/${id}/secret`)
      .query({ verify: 'maybe' })
      .set(admin)
      .send({ clientSecret: 'x-secret-value' });
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.details).toEqual([{ field: 'verify', problems: ['verify must be true or false'] }]);
  });

  it('deletes a client: 204, then 404 everywhere, and its token is no longer served', async () => {
    const { id } = await readyClient();
    expect((await broker.http().delete(`/v1/clients/${id}`).set(admin)).status).toBe(204);
    expect((await broker.http().get(`/v1/clients/${id}`).set(admin)).status).toBe(404);
    expect((await broker.http().get(`/v1/clients/${id}/token`).set(admin)).status).toBe(404);
    expect((await broker.http().delete(`/v1/clients/${id}`).set(admin)).status).toBe(404);
  });

  it('records every admin action as an audit event, newest first, with cursor pages and filters', async () => {
    const { id } = await readyClient({ workspaceId: 'o_audit' });
    await broker.http().patch(`/v1/clients/${id}`).set(admin).send({ name: 'Audited' });
    const key = await broker
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'auditor', workspaces: ['o_audit'] });
    await broker.http().delete(`/v1/service-keys/${key.body.id}`).set(admin);
    await broker.http().delete(`/v1/clients/${id}`).set(admin);

    const forClient = await broker.http().get('/v1/audit-events').query({ clientId: id }).set(admin);
    expect(forClient.status).toBe(200);
    expect(forClient.body.items.map((event: { action: string }) => event.action)).toEqual([
      'client.delete',
      'client.update',
      'client.create',
    ]);
    const actor = forClient.body.items[0].actor;
    expect(actor).toMatch(/^admin:[0-9a-f]{8}$/);
    expect(forClient.body.items[0]).toEqual({
      id: expect.any(String),
      at: expect.any(String),
      actor,
      action: 'client.delete',
      clientId: id,
      workspaceId: 'o_audit',
    });

    const firstPage = await broker.http().get('/v1/audit-events').query({ limit: 2 }).set(admin);
    expect(firstPage.body.items.map((event: { action: string }) => event.action)).toEqual([
      'client.delete',
      'service_key.delete',
    ]);
    const secondPage = await broker
      .http()
      .get('/v1/audit-events')
      .query({ limit: 2, cursor: firstPage.body.nextCursor })
      .set(admin);
    expect(secondPage.body.items.map((event: { action: string }) => event.action)).toEqual([
      'service_key.create',
      'client.update',
    ]);
    expect(broker.logs.some((line) => line.includes('"action":"client.delete"'))).toBe(true);
  });

  it('serves liveness, readiness in the Terminus shape, and the OpenAPI document', async () => {
    expect((await broker.http().get('/health/live')).body).toEqual({ status: 'ok' });
    const ready = await broker.http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: 'ok',
      info: { store: { status: 'up', kind: 'redis' }, scheduler: { status: 'up' } },
      error: {},
      details: { store: { status: 'up', kind: 'redis' }, scheduler: { status: 'up' } },
    });
    const docs = await broker.http().get('/docs-json');
    expect(docs.status).toBe(200);
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(['/v1/clients', '/v1/clients/{id}/token', '/v1/service-keys', '/v1/audit-events']),
    );
  });
});
