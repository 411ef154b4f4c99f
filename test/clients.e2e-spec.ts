import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';

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
      .send({ workspaceId: 'o_acme', name: 'Acme', type: 'oauth_client_credentials', clientId, clientSecret, ...overrides });
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
      secretHint: clientSecret.slice(-4),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      status: { state: 'pending', tokenExpiresAt: null, lastRefreshAt: null, lastError: null, failingSince: null },
    });
    expect(JSON.stringify(res.body)).not.toContain(clientSecret);

    const ready = await eventually(async () => {
      const view = await broker.http().get(`/v1/clients/${res.body.id}`).set(admin);
      return view.body.status.state === 'ready' ? view.body : null;
    });
    expect(ready.status.tokenExpiresAt).not.toBeNull();
    expect(upstream.tokenRequestCount(clientId)).toBe(1);
  });
});
