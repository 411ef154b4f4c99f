import { performance } from 'node:perf_hooks';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * Hostile receivers (one that never answers, one that resets, one that
 * answers a gigabyte) delay no token request, no refresh and no other
 * webhook: deliveries have their own slots (one per webhook, eight per
 * replica), a timeout, and read at most 4 KB of an answer.
 */
jest.setTimeout(60_000);

describe('webhook receivers that hang, reset or flood', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  const receivers: Record<'hang' | 'reset' | 'endless' | 'good', WebhookReceiver> = {} as never;

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    for (const name of ['hang', 'reset', 'endless', 'good'] as const) receivers[name] = await WebhookReceiver.start();
    receivers.hang.mode = 'hang';
    receivers.reset.mode = 'reset';
    receivers.endless.mode = 'endless';
    broker = await startBroker({
      upstream,
      env: {
        WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1',
        WEBHOOK_RETRY_SECONDS: '1,1,1,1,1,1,1,1',
        WEBHOOK_TIMEOUT_MS: '5000',
      },
    });
  });
  afterAll(async () => {
    await broker?.close();
    for (const receiver of Object.values(receivers)) await receiver?.stop();
    await upstream?.stop();
  });

  const createWebhook = async (url: string) => {
    const res = await broker
      .http()
      .post('/v1/webhooks')
      .set(admin)
      .send({ url, events: ['*'] });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const sendTest = (id: string) => broker.http().post(`/v1/webhooks/${id}/test`).set(admin).expect(202);

  it('keeps token requests, refreshes and a good receiver on time', async () => {
    const clientId = `pd_${randomSecret('iso')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_iso', name: 'Iso', type: 'oauth_client_credentials', clientId, clientSecret });
    await eventually(
      async () => (await broker.http().get(`/v1/clients/${created.body.id}/token`).set(admin)).status === 200,
    );

    // More queued for the hung receiver than a claim looks at (8 x 25): they must not stand in the others' way.
    for (const [name, queued] of [
      ['hang', 300],
      ['reset', 5],
      ['endless', 5],
    ] as const) {
      const id = await createWebhook(receivers[name].url);
      await Promise.all(Array.from({ length: queued }, () => sendTest(id)));
    }
    await eventually(
      () =>
        receivers.hang.received.length >= 1 &&
        receivers.endless.received.length >= 1 &&
        receivers.reset.received.length >= 1,
    );

    const good = await createWebhook(receivers.good.url);
    const queuedAt = Date.now();
    await sendTest(good);

    const tokenTimes: number[] = [];
    for (let request = 0; request < 50; request += 1) {
      const started = performance.now();
      const res = await broker.http().get(`/v1/clients/${created.body.id}/token`).set(admin);
      tokenTimes.push(performance.now() - started);
      expect(res.status).toBe(200);
    }
    const refreshStarted = performance.now();
    const refreshed = await broker.http().post(`/v1/clients/${created.body.id}/token/refresh`).set(admin);
    const refreshMs = performance.now() - refreshStarted;
    expect(refreshed.status).toBe(200);

    await eventually(() => receivers.good.received.length === 1, 5_000);
    const goodDelayMs = receivers.good.received[0].at - queuedAt;
    // Still hung, still flooding: the bad receivers hold their slots meanwhile.
    const slowest = Math.max(...tokenTimes);
    process.stdout.write(
      `webhook isolation: token GET max ${slowest.toFixed(1)} ms, forced refresh ${refreshMs.toFixed(0)} ms, ` +
        `good receiver after ${goodDelayMs} ms, flood read ${(receivers.endless.bytesSent / 1024 ** 2).toFixed(1)} MiB sent\n`,
    );
    expect(slowest).toBeLessThan(250);
    expect(refreshMs).toBeLessThan(1_000);
    expect(goodDelayMs).toBeLessThan(1_000);
    // Only what sits in socket buffers was written, not the gigabyte.
    expect(receivers.endless.bytesSent).toBeLessThan(64 * 1024 ** 2);
    // One attempt in flight per webhook: the hung one is not attempted again before its timeout.
    expect(receivers.hang.received).toHaveLength(1);
  });
});
