import { admin, eventually, startBroker, type TestBroker } from '../support/broker';
import { WebhookReceiver } from '../support/webhook-receiver';
import { expectContractError } from './support';

/**
 * SSRF through a webhook URL: the same allowlist rules as token URLs, with
 * WEBHOOK_URL_ALLOWLIST; a host NAME that resolves to loopback is refused when
 * connecting (DNS rebinding included), unless the list names that address.
 */
jest.setTimeout(60_000);

describe('SSRF through a webhook URL', () => {
  let receiver: WebhookReceiver;
  let broker: TestBroker;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    // localhost by NAME only: the 127.0.0.1 behind it is not allowed.
    broker = await startBroker({
      env: { WEBHOOK_URL_ALLOWLIST: 'hooks.example.com,http://localhost', WEBHOOK_RETRY_SECONDS: '1' },
    });
  });
  afterAll(async () => {
    await broker?.close();
    await receiver?.stop();
  });

  const create = (url: string) =>
    broker
      .http()
      .post('/v1/webhooks')
      .set(admin)
      .send({ url, events: ['*'] });

  it.each([
    ['a host not in the list', 'https://evil.example/hook'],
    ['userinfo naming another host', 'https://hooks.example.com@evil.example/hook'],
    ['a suffix of an allowed name', 'https://hooks.example.com.evil.example/hook'],
    ['plain http to an https-only host', 'http://hooks.example.com/hook'],
    ['a metadata address', 'https://169.254.169.254/latest/meta-data/'],
    ['a decimal loopback', 'http://2130706433/hook'],
    ['an IPv6 loopback', 'http://[::1]/hook'],
    ['another scheme', 'file:///etc/passwd'],
    ['not a URL', 'hooks.example.com/hook'],
  ])('refuses %s with 400', async (_, url) => {
    const res = await create(url);
    expectContractError(res, url, 400);
    expect(res.body.details.map((detail: { field: string }) => detail.field)).toContain('url');
  });

  it('refuses any webhook when WEBHOOK_URL_ALLOWLIST is empty (the default)', async () => {
    const closed = await startBroker({ store: 'memory' });
    try {
      const res = await closed
        .http()
        .post('/v1/webhooks')
        .set(admin)
        .send({ url: 'https://hooks.example.com/x', events: ['*'] });
      expect(res.status).toBe(400);
    } finally {
      await closed.close();
    }
  });

  it('accepts an allowed https host', async () => {
    const res = await create('https://HOOKS.example.com./hook');
    expect(res.status).toBe(201);
    expect(res.body.url).toBe('https://hooks.example.com/hook');
    await broker.http().delete(`/v1/webhooks/${res.body.id}`).set(admin);
  });

  it('does not connect when an allowed host NAME resolves to loopback: checked at connection time', async () => {
    const port = new URL(receiver.url).port;
    const res = await create(`http://localhost:${port}/hook`);
    expect(res.status).toBe(201);
    await broker.http().post(`/v1/webhooks/${res.body.id}/test`).set(admin).expect(202);
    const delivery = await eventually(async () => {
      const listed = await broker.http().get(`/v1/webhooks/${res.body.id}/deliveries`).set(admin);
      return listed.body.items[0]?.state === 'failed' ? listed.body.items[0] : null;
    });
    expect(delivery).toMatchObject({ attempts: 2, lastStatus: null });
    expect(receiver.received).toHaveLength(0);
  });
});
