import { FakePipedream, type ExpiresIn } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';

/**
 * Upstreams that answer 200 with a lifetime that makes no sense. None of them
 * may be served, crash a request, or escape the backoff and the forced-refresh
 * limit (the black-box run: `1e13` made every GET a 500 and every GET an
 * upstream request; `0` was served for an hour).
 */

const WORKSPACE = 'o_odd_expires';
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function world(
  expiresIn: ExpiresIn,
): Promise<{ fake: FakePipedream; broker: TestBroker; id: string; clientId: string }> {
  const fake = await FakePipedream.start();
  cleanups.push(() => fake.stop());
  // A forced refresh may reach the upstream once per 5 s here: ten in one second must make at most one request.
  const broker = await startBroker({ upstream: fake, env: { FORCE_REFRESH_MIN_INTERVAL_SECONDS: '5' } });
  cleanups.push(() => broker.close());
  fake.setExpiresIn(expiresIn);
  const clientId = `pd_${randomSecret('cid')}`;
  const clientSecret = randomSecret();
  fake.addClient(clientId, clientSecret);
  const res = await broker
    .http()
    .post('/v1/clients')
    .set(admin)
    .send({ workspaceId: WORKSPACE, name: 'Odd', type: 'oauth_client_credentials', clientId, clientSecret });
  expect(res.status).toBe(201);
  return { fake, broker, id: res.body.id, clientId };
}

describe('an upstream answering 200 with an unusable expires_in', () => {
  it.each<[string, ExpiresIn]>([
    ['1e13', 1e13],
    ['1e300', 1e300],
    ['the string "1e13"', '1e13'],
    ['1e12 (a date in the year 33715)', 1e12],
    ['0', 0],
    ['a negative number', -30],
    ['a fraction under a second', 0.5],
    ['a word', 'soon'],
  ])(
    '%s: the client is failing with backoff, GET answers 503, forced refreshes keep their limit',
    async (_label, expiresIn) => {
      const { fake, broker, id, clientId } = await world(expiresIn);
      const failing = await eventually(async () => {
        const res = await broker.http().get(`/v1/clients/${id}`).set(admin);
        return res.body.status?.state === 'failing' ? res.body : null;
      });
      expect(failing.status.lastError).toContain('expires_in');
      expect(failing.status.tokenExpiresAt).toBeNull();

      const gets = await Promise.all(
        Array.from({ length: 20 }, () => broker.http().get(`/v1/clients/${id}/token`).set(admin)),
      );
      for (const res of gets) {
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ statusCode: 503, code: 'upstream_unavailable' });
        expect(res.headers['retry-after']).toBeDefined();
      }
      const forced = [];
      for (let i = 0; i < 10; i += 1)
        forced.push(await broker.http().post(`/v1/clients/${id}/token/refresh`).set(admin).send({}));
      for (const res of forced) expect(res.status).toBe(503);
      // The first fetch, the backoff's own retries (about 1, 2, 4 s apart), at most one forced refresh: not one per call.
      expect(fake.tokenRequestCount(clientId)).toBeLessThanOrEqual(4);
      const audited = await broker.http().get(`/v1/audit-events?clientId=${id}`).set(admin);
      expect(
        audited.body.items.filter((event: { action: string }) => event.action === 'token.refresh_forced').length,
      ).toBeLessThanOrEqual(1);
    },
  );

  it('an expires_in sent as a string of digits is read as seconds', async () => {
    const { broker, id } = await world('120');
    const res = await eventually(async () => {
      const answer = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return answer.status === 200 ? answer : null;
    });
    expect(res.body.expires_in).toBeGreaterThan(110);
    expect(res.body.expires_in).toBeLessThanOrEqual(120);
  });
});
