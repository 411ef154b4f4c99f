import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';

/**
 * An upstream whose token answers carry no `expires_in`: the token is taken
 * to live the client's `defaultExpiresInSeconds` (3600 unless set), and it is
 * refreshed on that basis: within its refresh window (the last half of a
 * 60-second life here), before it would expire.
 */

jest.setTimeout(120_000);

describe('a token answer without expires_in', () => {
  let fake: FakePipedream;
  let broker: TestBroker;

  beforeAll(async () => {
    fake = await FakePipedream.start();
    fake.setExpiresIn(null);
    broker = await startBroker({ upstream: fake });
  });
  afterAll(async () => {
    await broker?.close();
    await fake?.stop();
  });

  async function register(extra: Record<string, unknown>): Promise<{ id: string; clientId: string }> {
    const clientId = `pd_${randomSecret('cid')}`;
    const clientSecret = randomSecret();
    fake.addClient(clientId, clientSecret);
    const res = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({
        workspaceId: 'o_no_expires',
        name: 'No expires_in',
        type: 'oauth_client_credentials',
        clientId,
        clientSecret,
        ...extra,
      });
    expect(res.status).toBe(201);
    return { id: res.body.id, clientId };
  }

  async function firstToken(id: string): Promise<{ expires_in: number; access_token: string }> {
    return eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body : null;
    });
  }

  it('lives 3600 s by default, and defaultExpiresInSeconds when set', async () => {
    const plain = await register({});
    expect((await firstToken(plain.id)).expires_in).toBeGreaterThan(3_590);
    const set = await register({ defaultExpiresInSeconds: 7_200 });
    const token = await firstToken(set.id);
    expect(token.expires_in).toBeGreaterThan(7_190);
    expect(token.expires_in).toBeLessThanOrEqual(7_200);
    expect(fake.issued.every((issued) => issued.expiresIn === null)).toBe(true);
  });

  it('is refreshed in the last half of the assumed life, before it expires', async () => {
    const { id, clientId } = await register({ defaultExpiresInSeconds: 60 });
    const first = await firstToken(id);
    const issuedAt = Date.now();
    expect(first.expires_in).toBeGreaterThan(55);
    expect(first.expires_in).toBeLessThanOrEqual(60);
    await fake.waitForTokenRequests(2, { clientId, timeoutMs: 60_000 });
    const refreshedAfter = (Date.now() - issuedAt) / 1_000;
    // The refresh window of a 60 s token is its last 30 s; the refresh is drawn from the first half of it.
    expect(refreshedAfter).toBeGreaterThanOrEqual(29);
    expect(refreshedAfter).toBeLessThan(58);
    const second = await eventually(async () => {
      const current = await firstToken(id);
      return current.access_token !== first.access_token ? current : null;
    });
    expect(second.expires_in).toBeGreaterThan(55);
  });
});
