import { FakePipedream } from './support/fake-pipedream';
import {
  admin,
  bearer,
  eventually,
  randomSecret,
  startBroker,
  withoutUsageTimes,
  type TestBroker,
} from './support/broker';
import { uniquePrefix } from './support/test-redis';

/**
 * Two broker instances on one Redis with the same key prefix: two replicas of
 * one deployment, in front of one fake upstream. Whatever one replica is told,
 * the other acts on within the contract's 1 s.
 */
describe('replicas of one deployment (two brokers, one Redis, one upstream)', () => {
  const WORKSPACE = 'o_replicas';
  let upstream: FakePipedream;
  let a: TestBroker;
  let b: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    const prefix = uniquePrefix('replicas');
    a = await startBroker({ upstream, prefix });
    b = await startBroker({ upstream, prefix });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.stop();
  });
  afterEach(() => {
    upstream.setDelay(0);
    upstream.heal();
  });

  /** Registers a new oauth client (unique clientId) on `on`, known to the fake with a fresh secret. */
  async function register(on: TestBroker) {
    const clientId = `pd_${randomSecret('client')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await on
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WORKSPACE, name: 'Replicated', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, clientId, clientSecret };
  }

  const token = (on: TestBroker, id: string, headers: Record<string, string> = admin) =>
    on.http().get(`/v1/clients/${id}/token`).set(headers);

  /** The client's token as each broker serves it; both must agree, and it is one the fake issued. */
  async function tokenOnBoth(id: string, clientId: string): Promise<string> {
    const [fromA, fromB] = await Promise.all([token(a, id), token(b, id)]);
    expect(fromA.status).toBe(200);
    expect(fromB.status).toBe(200);
    expect(fromB.body.access_token).toBe(fromA.body.access_token);
    expect(upstream.issued.filter((t) => t.clientId === clientId).map((t) => t.accessToken)).toContain(
      fromA.body.access_token,
    );
    return fromA.body.access_token as string;
  }

  /** A client both replicas hold a token for, in memory (each served it at least once). */
  async function readyOnBoth() {
    const client = await register(a);
    await upstream.waitForTokenRequests(1, { clientId: client.clientId });
    const t1 = await tokenOnBoth(client.id, client.clientId);
    // Served twice more on each: the second answer comes from the replica's memory.
    expect(await tokenOnBoth(client.id, client.clientId)).toBe(t1);
    return { ...client, t1 };
  }

  /** Polls until `check` holds; the time it took, in ms, from `since`. */
  async function msUntil(since: number, check: () => Promise<boolean>): Promise<number> {
    await eventually(async () => (await check()) || undefined, 3_000, 10);
    return Date.now() - since;
  }

  it('a herd of 50 concurrent GETs on each replica for a new client makes exactly one upstream token request', async () => {
    upstream.setDelay(300);
    const clientId = `pd_${randomSecret('herd')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await a
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WORKSPACE, name: 'Herd', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    const herd = await Promise.all([
      ...Array.from({ length: 50 }, () => token(a, id)),
      ...Array.from({ length: 50 }, () => token(b, id)),
    ]);

    expect(herd.map((res) => res.status)).toEqual(Array(100).fill(200));
    const tokens = new Set(herd.map((res) => res.body.access_token));
    expect(tokens.size).toBe(1);
    expect(upstream.tokenRequestCount(clientId)).toBe(1);
    expect(upstream.issued.filter((t) => t.clientId === clientId).map((t) => t.accessToken)).toEqual([...tokens]);
    for (const res of herd) {
      expect(res.body).toEqual({
        access_token: [...tokens][0],
        token_type: 'Bearer',
        expires_at: expect.any(String),
        expires_in: expect.any(Number),
      });
    }
  });

  it('a rotation on A reaches B within 1 s, and B never serves the old token again', async () => {
    const { id, clientId, t1 } = await readyOnBoth();
    const newSecret = randomSecret('rotated');
    upstream.addClient(clientId, newSecret);

    const rotated = await a.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret: newSecret });
    const rotatedAt = Date.now();
    expect(rotated.status).toBe(200);
    expect(rotated.body.secretHint).toBe(newSecret.slice(-4));
    expect(rotated.body.status.state).toBe('ready');
    const issued = upstream.issued.filter((t) => t.clientId === clientId).map((t) => t.accessToken);
    expect(issued).toHaveLength(2);
    const t2 = issued[1];

    let firstNew: string | undefined;
    const elapsed = await msUntil(rotatedAt, async () => {
      const res = await token(b, id);
      if (res.status === 200 && res.body.access_token !== t1) firstNew = res.body.access_token;
      return firstNew !== undefined;
    });
    expect(elapsed).toBeLessThan(1_000);
    expect(firstNew).toBe(t2);
    // From then on, neither replica serves T1, and the rotation's token is the one served: no extra upstream request.
    for (let i = 0; i < 10; i += 1) {
      expect(await tokenOnBoth(id, clientId)).toBe(t2);
    }
    expect(upstream.tokenRequestCount(clientId)).toBe(2);
  });

  it('a deletion on A reaches B within 1 s: B answers 404 though it held the token', async () => {
    const { id } = await readyOnBoth();

    const deleted = await a.http().delete(`/v1/clients/${id}`).set(admin);
    const deletedAt = Date.now();
    expect(deleted.status).toBe(204);

    const elapsed = await msUntil(deletedAt, async () => (await token(b, id)).status === 404);
    expect(elapsed).toBeLessThan(1_000);
    const gone = await token(b, id);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.any(String), code: 'not_found' });
    expect((await b.http().get(`/v1/clients/${id}`).set(admin)).status).toBe(404);
    expect((await token(a, id)).status).toBe(404);
  });

  it('a service key deleted on A is refused on B within 1 s, though B had it cached', async () => {
    const { id, t1 } = await readyOnBoth();
    const created = await a
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'replicated-key', workspaces: [WORKSPACE] });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    // B learns the key (and caches it) by serving a token with it.
    const served = await token(b, id, bearer(key));
    expect(served.status).toBe(200);
    expect(served.body.access_token).toBe(t1);

    const deleted = await a.http().delete(`/v1/service-keys/${created.body.id}`).set(admin);
    const deletedAt = Date.now();
    expect(deleted.status).toBe(204);

    const elapsed = await msUntil(deletedAt, async () => (await token(b, id, bearer(key))).status === 401);
    expect(elapsed).toBeLessThan(1_000);
    const refused = await token(b, id, bearer(key));
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: expect.any(String),
      code: 'unauthorized',
    });
    expect((await token(a, id, bearer(key))).status).toBe(401);
  });

  it('a client registered on A is served by B', async () => {
    const { id, clientId } = await register(a);
    const view = await b.http().get(`/v1/clients/${id}`).set(admin);
    expect(view.status).toBe(200);
    expect(view.body.clientId).toBe(clientId);
    const served = await token(b, id);
    expect(served.status).toBe(200);
    expect(upstream.issued.filter((t) => t.clientId === clientId).map((t) => t.accessToken)).toEqual([
      served.body.access_token,
    ]);
    expect(upstream.tokenRequestCount(clientId)).toBe(1);
  });

  it('a rotation the upstream refuses is 422 and changes nothing; the old secret stays in force', async () => {
    const { id, clientId, t1 } = await readyOnBoth();
    const before = (await a.http().get(`/v1/clients/${id}`).set(admin)).body;
    const badSecret = randomSecret('refused');

    const refused = await a.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret: badSecret });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({
      statusCode: 422,
      error: 'Unprocessable Entity',
      message: expect.any(String),
      code: 'credentials_rejected',
    });
    expect(JSON.stringify(refused.body)).not.toContain(badSecret);
    expect(upstream.tokenRequestCount(clientId)).toBe(2);

    expect(await tokenOnBoth(id, clientId)).toBe(t1);
    expect(withoutUsageTimes((await b.http().get(`/v1/clients/${id}`).set(admin)).body)).toEqual(
      withoutUsageTimes(before),
    );

    // The old secret still works: a forced refresh obtains a new token with it, served by both replicas.
    const refreshed = await b.http().post(`/v1/clients/${id}/token/refresh`).set(admin).send({ rejectedToken: t1 });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(t1);
    const issued = upstream.issued.filter((t) => t.clientId === clientId);
    expect(issued).toHaveLength(2);
    expect(issued[1].accessToken).toBe(refreshed.body.access_token);
    await eventually(async () => (await token(a, id)).body.access_token === refreshed.body.access_token, 1_000, 10);
    expect(await tokenOnBoth(id, clientId)).toBe(refreshed.body.access_token);
  });

  it('a rotation while the upstream is down is 503 upstream_unavailable and changes nothing', async () => {
    const { id, clientId, t1 } = await readyOnBoth();
    const before = (await a.http().get(`/v1/clients/${id}`).set(admin)).body;
    const newSecret = randomSecret('unverified');
    upstream.addClient(clientId, newSecret);
    upstream.fail('503', { times: 1 });

    const res = await a.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret: newSecret });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.any(String),
      code: 'upstream_unavailable',
    });
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.stringify(res.body)).not.toContain(newSecret);

    expect(await tokenOnBoth(id, clientId)).toBe(t1);
    expect((await b.http().get(`/v1/clients/${id}`).set(admin)).body).toEqual(before);
    expect(upstream.issued.filter((t) => t.clientId === clientId)).toHaveLength(1);
  });

  it('?verify=false replaces the secret without asking the upstream', async () => {
    const { id, clientId, t1 } = await readyOnBoth();
    // A secret the upstream refuses: verified, this rotation would be a 422.
    const unknownSecret = randomSecret('unchecked');

    const res = await a
      .http()
      .put(`/v1/clients/${id}/secret?verify=false`)
      .set(admin)
      .send({ clientSecret: unknownSecret });
    expect(res.status).toBe(200);
    expect(res.body.secretHint).toBe(unknownSecret.slice(-4));
    expect(withoutUsageTimes(res.body.status)).toEqual({
      state: 'pending',
      tokenExpiresAt: null,
      lastRefreshAt: null,
      lastError: null,
      failingSince: null,
    });

    // The new secret is the one in force: the background fetch presents it, the upstream refuses it,
    // and neither replica serves the old token.
    const rejected = await eventually(async () => {
      const view = await b.http().get(`/v1/clients/${id}`).set(admin);
      return view.body.status.state === 'rejected' ? view.body : null;
    }, 3_000);
    expect(rejected.status.lastError).toContain('invalid_client');
    expect(upstream.issued.filter((t) => t.clientId === clientId)).toHaveLength(1);
    for (const replica of [a, b]) {
      const served = await token(replica, id);
      expect(served.status).toBe(502);
      expect(served.body.code).toBe('credentials_rejected');
      expect(JSON.stringify(served.body)).not.toContain(t1);
    }
  });
});
