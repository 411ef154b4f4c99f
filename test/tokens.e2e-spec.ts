import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import {
  FakePipedream,
  type FakeClientOptions,
  type FakePipedreamOptions,
  type IssuedToken,
} from './support/fake-pipedream';
import { ADMIN_KEY, admin, bearer, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { SERVE_MARGIN_MS } from '../src/refresh/refresh-timing';

/**
 * The token routes end to end: real HTTP against a real broker on the Redis
 * store, with a real HTTP fake of Pipedream upstream. Every test starts its
 * own fake and broker (the fake's failure modes and the broker's circuit and
 * metrics are per process, so sharing them would couple tests), and closes
 * both afterwards.
 */

const WORKSPACE = 'o_tokens_e2e';
const ADMIN_ACTOR = `admin:${createHash('sha256').update(ADMIN_KEY).digest('hex').slice(0, 8)}`;

interface World {
  fake: FakePipedream;
  broker: TestBroker;
}

interface Registered {
  id: string;
  clientId: string;
  clientSecret: string;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  // Brokers first (they were started after their fake), then fakes.
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function world(env: Record<string, string> = {}, fakeOptions: FakePipedreamOptions = {}): Promise<World> {
  const fake = await FakePipedream.start(fakeOptions);
  cleanups.push(() => fake.stop());
  const broker = await startBroker({ upstream: fake, env });
  cleanups.push(() => broker.close());
  return { fake, broker };
}

async function registerOauth(
  w: World,
  options: {
    fakeOptions?: FakeClientOptions;
    knownUpstream?: boolean;
    clientSecret?: string;
    body?: Record<string, unknown>;
  } = {},
): Promise<Registered> {
  const clientId = `pd_${randomSecret('cid')}`;
  const clientSecret = options.clientSecret ?? randomSecret();
  if (options.knownUpstream !== false) w.fake.addClient(clientId, clientSecret, options.fakeOptions);
  const res = await w.broker
    .http()
    .post('/v1/clients')
    .set(admin)
    .send({
      workspaceId: WORKSPACE,
      name: 'Acme',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret,
      ...options.body,
    });
  expect(res.status).toBe(201);
  return { id: res.body.id, clientId, clientSecret };
}

async function view(w: World, id: string) {
  const res = await w.broker.http().get(`/v1/clients/${id}`).set(admin);
  expect(res.status).toBe(200);
  return res.body;
}

async function waitForState(w: World, id: string, state: string, timeoutMs = 10_000) {
  return eventually(async () => {
    const body = await view(w, id);
    return body.status.state === state ? body : null;
  }, timeoutMs);
}

/**
 * Waits until `count` refreshes of the client have finished. The line is
 * logged after the change was broadcast, so the broker's own cache has
 * dropped the old entry by the time a test acts on it.
 */
async function waitForRefreshes(w: World, id: string, count = 1): Promise<void> {
  await eventually(() => refreshLogCount(w, id) >= count);
}

function refreshLogCount(w: World, id: string): number {
  return w.broker.logs.filter((line) => line.includes('"refresh finished"') && line.includes(`"clientId":"${id}"`))
    .length;
}

function getToken(w: World, id: string, auth: Record<string, string> = admin) {
  return w.broker.http().get(`/v1/clients/${id}/token`).set(auth);
}

function forceRefresh(w: World, id: string, body: Record<string, unknown> = {}, auth: Record<string, string> = admin) {
  return w.broker.http().post(`/v1/clients/${id}/token/refresh`).set(auth).send(body);
}

function issuedTo(w: World, clientId: string): IssuedToken[] {
  return w.fake.issued.filter((token) => token.clientId === clientId);
}

function errorBody(statusCode: number, code: string) {
  return { statusCode, error: STATUS_CODES[statusCode], message: expect.any(String), code };
}

function tokenBody(accessToken: string) {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_at: expect.any(String),
    expires_in: expect.any(Number),
  };
}

interface Served {
  token: string;
  expiresIn: number;
  sentAt: number;
}

/** GETs the token every 50 ms until the answer is not a 200; returns what was served until then, and the refusal. */
async function pollUntilRefused(w: World, id: string, timeoutMs: number) {
  const served: Served[] = [];
  const refusal = await eventually(async () => {
    const sentAt = Date.now();
    const res = await getToken(w, id);
    if (res.status !== 200) return { res, sentAt, doneAt: Date.now() };
    served.push({ token: res.body.access_token, expiresIn: res.body.expires_in, sentAt });
    return null;
  }, timeoutMs);
  return { served, refusal };
}

/** Every answer was the held token, and none came with less than `minTtlMs` left (judged from when the GET was sent, the earliest the broker could decide). */
function expectServedOnlyWhileValid(served: Served[], heldToken: string, expiresAt: number, minTtlMs: number): void {
  for (const answer of served) {
    expect(answer.token).toBe(heldToken);
    expect(answer.expiresIn).toBeGreaterThanOrEqual(minTtlMs / 1000);
    expect(expiresAt - answer.sentAt).toBeGreaterThanOrEqual(minTtlMs);
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (and no others); 0 when the series does not exist yet. */
function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const matching = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matching.length > 1) throw new Error(`several samples of ${name} ${JSON.stringify(labels)}`);
  return matching[0]?.value ?? 0;
}

async function scrape(w: World): Promise<Sample[]> {
  const res = await w.broker.http().get('/metrics');
  expect(res.status).toBe(200);
  return parseMetrics(res.text);
}

describe('token routes (Redis store, fake upstream)', () => {
  it('GET /token answers the token the upstream issued, with Cache-Control: no-store, and serves the next GET from memory', async () => {
    const w = await world();
    const c = await registerOauth(w);
    const ready = await waitForState(w, c.id, 'ready');
    await waitForRefreshes(w, c.id);
    const issued = issuedTo(w, c.clientId);
    expect(issued).toHaveLength(1);

    const first = await getToken(w, c.id);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    expect(first.body).toEqual({
      access_token: issued[0].accessToken,
      token_type: 'Bearer',
      expires_at: ready.status.tokenExpiresAt,
      expires_in: expect.any(Number),
    });
    expect(first.body.expires_in).toBeGreaterThanOrEqual(3590);
    expect(first.body.expires_in).toBeLessThanOrEqual(3600);
    // expires_in counts down to expires_at.
    expect(Math.abs((Date.parse(first.body.expires_at) - Date.now()) / 1000 - first.body.expires_in)).toBeLessThan(2);

    const before = await scrape(w);
    const second = await getToken(w, c.id);
    const after = await scrape(w);
    expect(second.status).toBe(200);
    expect(second.headers['cache-control']).toBe('no-store');
    expect(second.body).toEqual({ ...first.body, expires_in: expect.any(Number) });
    // Served from this process's memory: a cache hit, and nothing asked upstream.
    expect(metric(after, 'tb_token_cache_total', { result: 'hit' })).toBe(
      metric(before, 'tb_token_cache_total', { result: 'hit' }) + 1,
    );
    expect(metric(after, 'tb_token_cache_total', { result: 'miss' })).toBe(
      metric(before, 'tb_token_cache_total', { result: 'miss' }),
    );
    expect(w.fake.requests).toHaveLength(1);
  });

  it('refreshes a short-lived token before it expires, with no caller asking, and then serves the new one', async () => {
    const w = await world({ MIN_TOKEN_TTL_SECONDS: '1' });
    const c = await registerOauth(w, { fakeOptions: { expiresIn: 6 } });
    await waitForState(w, c.id, 'ready');
    const [first] = issuedTo(w, c.clientId);
    const held = await getToken(w, c.id);
    expect(held.status).toBe(200);
    expect(held.body.access_token).toBe(first.accessToken);

    // No request to the broker from here until the upstream has issued a second token.
    await eventually(() => issuedTo(w, c.clientId).length >= 2, 8_000);
    const issued = issuedTo(w, c.clientId);
    expect(issued).toHaveLength(2);
    const [, second] = issued;
    expect(second.accessToken).not.toBe(first.accessToken);
    // Lifetime 6 s: W = min(600, 6/2) = 3 s, so the refresh falls 3 to 1.5 s before expiry,
    // and in any case before the old token stops being servable (MIN_TOKEN_TTL_SECONDS=1).
    expect(second.at - first.at).toBeGreaterThanOrEqual(3_000);
    expect(second.at - first.at).toBeLessThan(5_000);

    const served = await eventually(async () => {
      const res = await getToken(w, c.id);
      return res.status === 200 && res.body.access_token === second.accessToken ? res : null;
    }, 2_000);
    expect(served.body).toEqual(tokenBody(second.accessToken));
    expect(served.body.expires_in).toBeGreaterThanOrEqual(4);
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(2);
  });

  it('answers 100 concurrent GETs of a newly registered client with one upstream request and one token', async () => {
    const w = await world();
    w.fake.setDelay(300);
    const c = await registerOauth(w);
    const answers = await Promise.all(Array.from({ length: 100 }, () => getToken(w, c.id)));

    expect(answers.map((res) => res.status)).toEqual(Array(100).fill(200));
    const [issued] = issuedTo(w, c.clientId);
    expect(new Set(answers.map((res) => res.body.access_token))).toEqual(new Set([issued.accessToken]));
    for (const res of answers) expect(res.body).toEqual(tokenBody(issued.accessToken));
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(1);
  });

  it('answers concurrent GETs on two replicas of one deployment with one upstream request', async () => {
    const fake = await FakePipedream.start({ delayMs: 300 });
    cleanups.push(() => fake.stop());
    const prefix = `t_tokens_replicas_${randomSecret('p')}:`;
    const one: World = { fake, broker: await startBroker({ upstream: fake, prefix }) };
    cleanups.push(() => one.broker.close());
    const two: World = { fake, broker: await startBroker({ upstream: fake, prefix }) };
    cleanups.push(() => two.broker.close());

    const c = await registerOauth(one);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => getToken(i % 2 === 0 ? one : two, c.id)));

    expect(answers.map((res) => res.status)).toEqual(Array(50).fill(200));
    const [issued] = issuedTo(one, c.clientId);
    expect(new Set(answers.map((res) => res.body.access_token))).toEqual(new Set([issued.accessToken]));
    expect(fake.tokenRequestCount(c.clientId)).toBe(1);
  });

  describe.each(['503', 'timeout'] as const)('upstream down (%s)', (mode) => {
    it('serves the held token while the upstream fails, answers 503 upstream_unavailable with Retry-After once it has less than MIN_TOKEN_TTL_SECONDS left, and recovers after heal()', async () => {
      const w = await world({ MIN_TOKEN_TTL_SECONDS: '1', UPSTREAM_TIMEOUT_MS: '1000' });
      // Lifetime 8 s: the broker's own refresh comes 4 to 6 s in; the token is servable until 6.5 s in.
      const c = await registerOauth(w, { fakeOptions: { expiresIn: 8 } });
      await waitForState(w, c.id, 'ready');
      const held = await getToken(w, c.id);
      expect(held.status).toBe(200);
      const heldToken: string = held.body.access_token;
      const expiresAt = Date.parse(held.body.expires_at);

      w.fake.fail(mode);
      if (mode === '503') {
        // The scheduled refresh met the failure and the client is failing...
        const failing = await waitForState(w, c.id, 'failing', 8_000);
        expect(failing.status).toMatchObject({
          lastError: 'upstream unavailable: HTTP 503',
          failingSince: expect.any(String),
        });
      } else {
        // The scheduled refresh is hanging on the upstream...
        await eventually(() => w.fake.inFlight >= 1, 8_000);
      }
      // ...and, with more than MIN_TOKEN_TTL_SECONDS (and the serving margin) left, callers still get the held token at once.
      expect(expiresAt - Date.now()).toBeGreaterThan(1_000 + SERVE_MARGIN_MS + 200);
      const stillServed = await getToken(w, c.id);
      expect(stillServed.status).toBe(200);
      expect(stillServed.body).toEqual({ ...tokenBody(heldToken), expires_at: held.body.expires_at });

      const { served, refusal } = await pollUntilRefused(w, c.id, 8_000);
      expectServedOnlyWhileValid(served, heldToken, expiresAt, 1_000);
      expect(refusal.res.status).toBe(503);
      expect(refusal.res.body).toEqual(errorBody(503, 'upstream_unavailable'));
      expect(refusal.res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(refusal.res.headers['cache-control']).toBe('no-store');
      // Not refused early: by then the token had less than MIN_TOKEN_TTL_SECONDS (1 s) plus the serving margin left.
      expect(expiresAt - refusal.doneAt).toBeLessThan(1_000 + SERVE_MARGIN_MS);
      const failing = await view(w, c.id);
      expect(failing.status.state).toBe('failing');
      expect(failing.status.lastError).toMatch(
        /^upstream unavailable: (HTTP 503|no complete answer within 1000 ms|circuit open)$/,
      );

      w.fake.heal();
      const recovered = await eventually(async () => {
        const res = await getToken(w, c.id);
        return res.status === 200 ? res : null;
      }, 15_000);
      expect(recovered.body).toEqual(tokenBody(recovered.body.access_token));
      expect(recovered.body.access_token).not.toBe(heldToken);
      expect(issuedTo(w, c.clientId).map((token) => token.accessToken)).toContain(recovered.body.access_token);
      expect((await view(w, c.id)).status).toMatchObject({ state: 'ready', lastError: null, failingSince: null });
    });
  });

  it('on a 429 with Retry-After, marks the client failing and does not ask the upstream again before Retry-After', async () => {
    const w = await world();
    w.fake.fail('429', { times: 1, retryAfterSeconds: 2 });
    const c = await registerOauth(w);
    const failing = await waitForState(w, c.id, 'failing');
    expect(failing.status).toMatchObject({
      state: 'failing',
      tokenExpiresAt: null,
      lastError: 'upstream unavailable: rate limited (HTTP 429)',
      failingSince: expect.any(String),
    });
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(1);

    // Callers keep asking; their GETs are refused without reaching the upstream until Retry-After has passed.
    const refusals: { status: number; body: unknown; retryAfter: string }[] = [];
    const served = await eventually(
      async () => {
        const res = await getToken(w, c.id);
        if (res.status === 200) return res;
        refusals.push({ status: res.status, body: res.body, retryAfter: res.headers['retry-after'] });
        return null;
      },
      6_000,
      100,
    );
    const requests = w.fake.requests.filter((request) => request.clientId === c.clientId);
    expect(requests.map((request) => request.status)).toEqual([429, 200]);
    expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(2_000);
    expect(refusals.length).toBeGreaterThanOrEqual(5);
    for (const refusal of refusals) {
      expect(refusal).toEqual({
        status: 503,
        body: errorBody(503, 'upstream_unavailable'),
        retryAfter: expect.stringMatching(/^[12]$/),
      });
    }
    expect(served.body).toEqual(tokenBody(issuedTo(w, c.clientId)[0].accessToken));
    expect((await view(w, c.id)).status).toMatchObject({ state: 'ready', lastError: null, failingSince: null });
  });

  describe('refused credentials', () => {
    it('marks a revoked client rejected, serves its held token while valid, then 502 credentials_rejected, never asking the upstream on a caller’s behalf', async () => {
      const w = await world({ MIN_TOKEN_TTL_SECONDS: '1' });
      // The fake quotes the presented secret back in its error: the broker must not store or show it.
      w.fake.echoSecretsInErrors = true;
      const c = await registerOauth(w, { fakeOptions: { expiresIn: 8 } });
      await waitForState(w, c.id, 'ready');
      const held = await getToken(w, c.id);
      expect(held.status).toBe(200);
      const heldToken: string = held.body.access_token;
      const expiresAt = Date.parse(held.body.expires_at);

      w.fake.revokeClient(c.clientId);
      // The broker's own refresh (4 to 6 s into the 8 s lifetime) meets the refusal.
      const rejected = await waitForState(w, c.id, 'rejected', 10_000);
      expect(rejected.status).toMatchObject({ state: 'rejected', failingSince: expect.any(String) });
      expect(rejected.status.lastError).toContain('invalid_client');
      expect(rejected.status.lastError).toContain('The client has been revoked');
      expect(JSON.stringify(rejected)).not.toContain(c.clientSecret);
      const requestsAtRejection = w.fake.tokenRequestCount(c.clientId);
      expect(requestsAtRejection).toBe(2);

      // The held token still has more than MIN_TOKEN_TTL_SECONDS (and the serving margin) left: still served.
      expect(expiresAt - Date.now()).toBeGreaterThan(1_000 + SERVE_MARGIN_MS + 200);
      const stillServed = await getToken(w, c.id);
      expect(stillServed.status).toBe(200);
      expect(stillServed.body.access_token).toBe(heldToken);

      // A forced refresh of a rejected client: 502, and no upstream request.
      const forced = await forceRefresh(w, c.id, { rejectedToken: heldToken });
      expect(forced.status).toBe(502);
      expect(forced.body).toEqual(errorBody(502, 'credentials_rejected'));
      expect(forced.text).not.toContain(c.clientSecret);

      const { served, refusal } = await pollUntilRefused(w, c.id, 5_000);
      expectServedOnlyWhileValid(served, heldToken, expiresAt, 1_000);
      expect(refusal.res.status).toBe(502);
      expect(refusal.res.body).toEqual(errorBody(502, 'credentials_rejected'));
      expect(refusal.res.text).not.toContain(c.clientSecret);
      expect(expiresAt - refusal.doneAt).toBeLessThan(1_000 + SERVE_MARGIN_MS);
      // Neither the GETs nor the forced refresh asked the upstream.
      expect(w.fake.tokenRequestCount(c.clientId)).toBe(requestsAtRejection);
    });

    it('answers 502 to the forced refresh that discovers the refusal, rather than the token its caller was refused with', async () => {
      const w = await world();
      const c = await registerOauth(w);
      await waitForState(w, c.id, 'ready');
      const held = await getToken(w, c.id);
      w.fake.revokeClient(c.clientId);

      const forced = await forceRefresh(w, c.id, { rejectedToken: held.body.access_token });
      expect(forced.status).toBe(502);
      expect(forced.body).toEqual(errorBody(502, 'credentials_rejected'));
      expect(w.fake.tokenRequestCount(c.clientId)).toBe(2);
      expect((await view(w, c.id)).status.state).toBe('rejected');
      // GET still serves the held token while it is valid: an admin has time to rotate.
      expect((await getToken(w, c.id)).body.access_token).toBe(held.body.access_token);
    });

    it('answers 502 at once for a client refused from the start, without asking the upstream again', async () => {
      const w = await world();
      w.fake.echoSecretsInErrors = true;
      const c = await registerOauth(w, { knownUpstream: false });
      const rejected = await waitForState(w, c.id, 'rejected');
      expect(rejected.status).toEqual({
        state: 'rejected',
        tokenExpiresAt: null,
        lastRefreshAt: null,
        lastError: expect.stringContaining('invalid_client'),
        failingSince: expect.any(String),
        // Never served: no token was ever obtained.
        lastServedAt: null,
      });
      expect(JSON.stringify(rejected)).not.toContain(c.clientSecret);
      expect(w.fake.tokenRequestCount(c.clientId)).toBe(1);

      const answers = await Promise.all(Array.from({ length: 10 }, () => getToken(w, c.id)));
      for (const res of answers) {
        expect(res.status).toBe(502);
        expect(res.body).toEqual(errorBody(502, 'credentials_rejected'));
        expect(res.text).not.toContain(c.clientSecret);
      }
      const forced = await forceRefresh(w, c.id);
      expect(forced.status).toBe(502);
      expect(forced.body).toEqual(errorBody(502, 'credentials_rejected'));
      expect(w.fake.tokenRequestCount(c.clientId)).toBe(1);
    });
  });

  it('POST /token/refresh: returns the current token for a stale rejectedToken, coalesces concurrent forced refreshes, limits them per interval, and audits them', async () => {
    const w = await world({ FORCE_REFRESH_MIN_INTERVAL_SECONDS: '2' });
    const c = await registerOauth(w);
    await waitForState(w, c.id, 'ready');
    await waitForRefreshes(w, c.id);
    const [first] = issuedTo(w, c.clientId);

    // rejectedToken is not the current token: the current one, with no upstream request.
    const stale = await forceRefresh(w, c.id, { rejectedToken: 'pd_at_some_older_token' });
    expect(stale.status).toBe(200);
    expect(stale.headers['cache-control']).toBe('no-store');
    expect(stale.body).toEqual(tokenBody(first.accessToken));
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(1);

    // Several callers report the current token at once: one upstream request, one new token for all.
    w.fake.setDelay(200);
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () => forceRefresh(w, c.id, { rejectedToken: first.accessToken })),
    );
    w.fake.setDelay(0);
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(2);
    const second = issuedTo(w, c.clientId)[1];
    expect(second.accessToken).not.toBe(first.accessToken);
    for (const res of concurrent) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual(tokenBody(second.accessToken));
    }

    // Within FORCE_REFRESH_MIN_INTERVAL_SECONDS of that refresh: the current token, no upstream request.
    const tooSoon = await forceRefresh(w, c.id, { rejectedToken: second.accessToken });
    expect(tooSoon.status).toBe(200);
    expect(tooSoon.body).toEqual(tokenBody(second.accessToken));
    const noBody = await forceRefresh(w, c.id);
    expect(noBody.status).toBe(200);
    expect(noBody.body).toEqual(tokenBody(second.accessToken));
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(2);

    // Once the interval has passed, the next forced refresh (here by a service key) reaches the upstream once.
    const serviceKey = await w.broker
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'svc', workspaces: [WORKSPACE] });
    expect(serviceKey.status).toBe(201);
    const third = await eventually(
      async () => {
        const res = await forceRefresh(w, c.id, { rejectedToken: second.accessToken }, bearer(serviceKey.body.key));
        return res.status === 200 && res.body.access_token !== second.accessToken ? res : null;
      },
      5_000,
      100,
    );
    expect(w.fake.tokenRequestCount(c.clientId)).toBe(3);
    const thirdIssued = issuedTo(w, c.clientId)[2];
    expect(third.body).toEqual(tokenBody(thirdIssued.accessToken));
    expect(thirdIssued.at - second.at).toBeGreaterThanOrEqual(2_000);
    const get = await getToken(w, c.id, bearer(serviceKey.body.key));
    expect(get.status).toBe(200);
    expect(get.body.access_token).toBe(thirdIssued.accessToken);

    // Forced refreshes that reached the upstream are audited, newest first, naming who forced them.
    const audit = await w.broker.http().get('/v1/audit-events').query({ clientId: c.id }).set(admin);
    expect(audit.status).toBe(200);
    const forced = audit.body.items.filter((event: { action: string }) => event.action === 'token.refresh_forced');
    expect(forced).toEqual([
      {
        id: expect.any(String),
        at: expect.any(String),
        actor: serviceKey.body.id,
        action: 'token.refresh_forced',
        clientId: c.id,
        workspaceId: WORKSPACE,
      },
      {
        id: expect.any(String),
        at: expect.any(String),
        actor: ADMIN_ACTOR,
        action: 'token.refresh_forced',
        clientId: c.id,
        workspaceId: WORKSPACE,
      },
    ]);
  });

  it('token routes: 401 without a key, 403 for a service key of another workspace, 404 for an unknown client, none reaching the upstream', async () => {
    const w = await world();
    const c = await registerOauth(w);
    await waitForState(w, c.id, 'ready');
    const other = await w.broker
      .http()
      .post('/v1/service-keys')
      .set(admin)
      .send({ name: 'other', workspaces: ['o_someone_else'] });
    expect(other.status).toBe(201);

    const anonymous = await w.broker.http().get(`/v1/clients/${c.id}/token`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual(errorBody(401, 'unauthorized'));
    for (const res of [
      await getToken(w, c.id, bearer(other.body.key)),
      await forceRefresh(w, c.id, {}, bearer(other.body.key)),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body).toEqual(errorBody(403, 'forbidden'));
    }
    const unknown = await getToken(w, `cl_${'0'.repeat(24)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(errorBody(404, 'not_found'));
    expect(w.fake.tokenRequestCount()).toBe(1);
  });

  it("tokenRequestFormat 'form' works end to end with a secret containing '+', '%', ':' and spaces", async () => {
    const w = await world();
    const clientSecret = `s3cr+t %41 and:colon+${randomSecret()}`;
    const c = await registerOauth(w, { clientSecret, body: { tokenRequestFormat: 'form' } });
    const ready = await waitForState(w, c.id, 'ready');
    expect(ready.tokenRequestFormat).toBe('form');
    expect(ready.status.lastError).toBeNull();

    const requests = w.fake.requests.filter((request) => request.clientId === c.clientId);
    expect(requests.map((request) => [request.format, request.status])).toEqual([['form', 200]]);
    const [issued] = issuedTo(w, c.clientId);
    expect(issued.format).toBe('form');
    const res = await getToken(w, c.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(tokenBody(issued.accessToken));
  });

  it('api_key clients: serves the key with null expiry, checks it at /v1/users/me, and answers 502 at once once it is revoked', async () => {
    const w = await world();
    const apiKey = `pd_key_${randomSecret()}`;
    w.fake.addApiKey(apiKey);
    const created = await w.broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: WORKSPACE, name: 'Key', type: 'api_key', apiKey });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      type: 'api_key',
      clientId: null,
      tokenUrl: null,
      secretHint: apiKey.slice(-4),
    });
    expect(JSON.stringify(created.body)).not.toContain(apiKey);
    const id: string = created.body.id;

    await waitForState(w, id, 'ready');
    const usersMe = () => w.fake.requests.filter((request) => request.path === '/v1/users/me');
    expect(usersMe().map((request) => [request.method, request.status])).toEqual([['GET', 200]]);
    expect(w.fake.tokenRequestCount()).toBe(0);

    const res = await getToken(w, id);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ access_token: apiKey, token_type: 'Bearer', expires_at: null, expires_in: null });

    w.fake.revokeApiKey(apiKey);
    const forced = await forceRefresh(w, id, { rejectedToken: apiKey });
    expect(forced.status).toBe(502);
    expect(forced.body).toEqual(errorBody(502, 'credentials_rejected'));
    expect(usersMe().map((request) => request.status)).toEqual([200, 401]);
    const rejected = await view(w, id);
    expect(rejected.status.state).toBe('rejected');
    expect(rejected.status.lastError).toContain('Invalid API key');
    expect(JSON.stringify(rejected)).not.toContain(apiKey);

    const refused = await getToken(w, id);
    expect(refused.status).toBe(502);
    expect(refused.body).toEqual(errorBody(502, 'credentials_rejected'));
    expect(refused.text).not.toContain(apiKey);
    expect(usersMe()).toHaveLength(2);
  });

  it('counts a token too short-lived to serve as a failed attempt with backoff, not as a reason to ask again at once', async () => {
    const w = await world({ MIN_TOKEN_TTL_SECONDS: '5' });
    const c = await registerOauth(w, { fakeOptions: { expiresIn: 3 } });
    const failing = await waitForState(w, c.id, 'failing');
    expect(failing.status.lastError).toContain('no more than MIN_TOKEN_TTL_SECONDS');
    const res = await getToken(w, c.id);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('upstream_unavailable');
    // Backoff starts at up to 1 s and doubles: a second of this makes a handful of requests, not a loop.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(w.fake.tokenRequestCount(c.clientId)).toBeLessThanOrEqual(4);
  });

  it('treats a token answer without expires_in as valid for 3600 s', async () => {
    const w = await world();
    w.fake.setExpiresIn(null);
    const c = await registerOauth(w);
    const ready = await waitForState(w, c.id, 'ready');
    const [issued] = issuedTo(w, c.clientId);
    expect(issued.expiresIn).toBeNull();

    const res = await getToken(w, c.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...tokenBody(issued.accessToken), expires_at: ready.status.tokenExpiresAt });
    expect(res.body.expires_in).toBeGreaterThanOrEqual(3590);
    expect(res.body.expires_in).toBeLessThanOrEqual(3600);
    // Counted from when the broker asked, which is before the fake issued it: never longer than 3600 s.
    const lifetime = Date.parse(res.body.expires_at) - issued.at;
    expect(lifetime).toBeLessThanOrEqual(3_600_000);
    expect(lifetime).toBeGreaterThan(3_598_000);

    // And its refresh is scheduled in the window of a one-hour token: 600 to 300 s before expiry.
    const health = await w.broker.http().get('/health/tokens').set(admin);
    expect(health.status).toBe(200);
    const untilExpiry = Date.parse(res.body.expires_at) - Date.parse(health.body.nextRefreshAt);
    expect(untilExpiry).toBeGreaterThanOrEqual(300_000);
    expect(untilExpiry).toBeLessThanOrEqual(600_000);
  });

  it('GET /health/tokens counts clients by state and lists the failing and rejected ones, newest first', async () => {
    const w = await world();
    const unauthenticated = await w.broker.http().get('/health/tokens');
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body).toEqual(errorBody(401, 'unauthorized'));

    const refused = await registerOauth(w, { knownUpstream: false });
    const refusedView = await waitForState(w, refused.id, 'rejected');
    const healthy = await registerOauth(w);
    await waitForState(w, healthy.id, 'ready');
    w.fake.fail('503', { times: 1, retryAfterSeconds: 60 });
    const failing = await registerOauth(w);
    const failingView = await waitForState(w, failing.id, 'failing');

    const res = await w.broker.http().get('/health/tokens').set(admin);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      total: 3,
      byState: { pending: 0, ready: 1, failing: 1, rejected: 1 },
      failing: [
        {
          id: failing.id,
          workspaceId: WORKSPACE,
          state: 'failing',
          lastError: 'upstream unavailable: HTTP 503',
          failingSince: failingView.status.failingSince,
        },
        {
          id: refused.id,
          workspaceId: WORKSPACE,
          state: 'rejected',
          lastError: refusedView.status.lastError,
          failingSince: refusedView.status.failingSince,
        },
      ],
      // The earliest due refresh is the failing client's retry, Retry-After (60 s) after its failure.
      nextRefreshAt: new Date(Date.parse(failingView.status.failingSince) + 60_000).toISOString(),
    });
    expect(refusedView.status.lastError).toContain('invalid_client');
  });

  it('GET /metrics (no key) exposes token, cache, upstream, refresh-lag and client-state metrics', async () => {
    const w = await world();
    const healthy = await registerOauth(w);
    const refused = await registerOauth(w, { knownUpstream: false });
    await waitForState(w, healthy.id, 'ready');
    await waitForState(w, refused.id, 'rejected');
    await waitForRefreshes(w, healthy.id);
    await waitForRefreshes(w, refused.id);
    expect((await getToken(w, healthy.id)).status).toBe(200);
    expect((await getToken(w, healthy.id)).status).toBe(200);
    expect((await getToken(w, refused.id)).status).toBe(502);

    const res = await w.broker.http().get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'tb_token_requests_total',
      'tb_upstream_requests_total',
      'tb_upstream_request_duration_seconds',
      'tb_refresh_lag_seconds',
      'tb_clients',
      'tb_token_cache_total',
    ]) {
      expect(res.text).toContain(`# TYPE ${name} `);
    }
    const samples = parseMetrics(res.text);
    const host = new URL(w.fake.baseUrl).host;
    expect(metric(samples, 'tb_token_requests_total', { outcome: 'served' })).toBe(2);
    expect(metric(samples, 'tb_token_requests_total', { outcome: 'credentials_rejected' })).toBe(1);
    expect(metric(samples, 'tb_token_cache_total', { result: 'hit' })).toBe(1);
    expect(metric(samples, 'tb_token_cache_total', { result: 'miss' })).toBe(2);
    expect(metric(samples, 'tb_upstream_requests_total', { host, kind: 'token', outcome: 'success' })).toBe(1);
    expect(metric(samples, 'tb_upstream_requests_total', { host, kind: 'token', outcome: 'rejected' })).toBe(1);
    expect(metric(samples, 'tb_upstream_request_duration_seconds_count', { host, kind: 'token' })).toBe(2);
    expect(metric(samples, 'tb_upstream_request_duration_seconds_bucket', { host, kind: 'token', le: '+Inf' })).toBe(2);
    expect(metric(samples, 'tb_refresh_lag_seconds_count')).toBe(2);
    expect(metric(samples, 'tb_refresh_lag_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(metric(samples, 'tb_clients', { state: 'pending' })).toBe(0);
    expect(metric(samples, 'tb_clients', { state: 'ready' })).toBe(1);
    expect(metric(samples, 'tb_clients', { state: 'failing' })).toBe(0);
    expect(metric(samples, 'tb_clients', { state: 'rejected' })).toBe(1);
  });
});
