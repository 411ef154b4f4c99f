import { FakePipedream } from '../support/fake-pipedream';
import { admin, bearer, eventually, randomSecret, startBroker, type TestBroker } from '../support/broker';
import { expectContractError } from './support';

/**
 * Brute force on the token routes, wherever they are served (the GET sits
 * on a fast path outside Nest's guards): failed authentications there count
 * towards the same per-source limit, and a source over it gets 429 with
 * Retry-After, even with a key shaped like a real service key; a valid key
 * is still served. (The admin-route side and the per-key token budget are in
 * test/auth-and-input.e2e-spec.ts.)
 */
// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('brute force on the token routes', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({ upstream, env: { AUTH_FAILURE_LIMIT_PER_MINUTE: '5' } });
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
  });

  it('limits failed authentication per source on GET token and POST refresh; a valid service key is still served', async () => {
    const clientId = `pd_${randomSecret('abuse')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_abuse', name: 'Abuse', type: 'oauth_client_credentials', clientId, clientSecret });
    const id = created.body.id as string;
    const key = (
      await broker
        .http()
        .post('/v1/service-keys')
        .set(admin)
        .send({ name: 'abuse', workspaces: ['o_abuse'] })
    ).body as { id: string; key: string };
    await eventually(
      async () => (await broker.http().get(`/v1/clients/${id}/token`).set(bearer(key.key))).status === 200,
    );

    // A guessed key: right id, wrong secret. Five failures, across both token routes.
    const guessed = `tbsk.${key.id}.${randomSecret()}`;
    for (let i = 0; i < 5; i += 1) {
      const res =
        i % 2 === 0
          ? await broker.http().get(`/v1/clients/${id}/token`).set(bearer(guessed))
          : await broker.http().post(`/v1/clients/${id}/token/refresh`).set(bearer(guessed)).send({});
      expectContractError(res, `failure ${i}`, 401);
    }
    for (const attempt of [
      () => broker.http().get(`/v1/clients/${id}/token`).set(bearer(guessed)),
      () => broker.http().get(`/v1/clients/${id}/token`),
      () => broker.http().post(`/v1/clients/${id}/token/refresh`).set(bearer(randomSecret())).send({}),
      () => broker.http().get('/v1/clients').set(bearer(guessed)),
    ]) {
      const limited = await attempt();
      expectContractError(limited, 'over the limit', 429);
      expect(limited.body.code).toBe('rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // The limit is on failures, not on the source: the real key and the admin key still work.
    expect((await broker.http().get(`/v1/clients/${id}/token`).set(bearer(key.key))).status).toBe(200);
    expect((await broker.http().get(`/v1/clients/${id}/token`).set(admin)).status).toBe(200);
  });
});
