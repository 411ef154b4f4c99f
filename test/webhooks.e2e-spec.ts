import { Webhook } from 'standardwebhooks';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * Webhooks end to end, with a real HTTP receiver: the events of a client's
 * life in order, each verified with the Standard Webhooks reference library;
 * filters; retries on schedule; the deliveries listing; the test route;
 * deletion. On Redis and on the memory store (same contract).
 */
jest.setTimeout(60_000);

const WORKSPACE = 'o_hooks';

describe.each(['redis', 'memory'] as const)('webhooks (%s store)', (store) => {
  let upstream: FakePipedream;
  let receiver: WebhookReceiver;
  let broker: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    receiver = await WebhookReceiver.start();
    broker = await startBroker({
      upstream,
      store,
      env: { WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1', WEBHOOK_RETRY_SECONDS: '1,1,1', WEBHOOK_TIMEOUT_MS: '1000' },
    });
  });
  afterAll(async () => {
    await broker?.close();
    await receiver?.stop();
    await upstream?.stop();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.mode = { status: 204 };
  });

  const createWebhook = async (body: Record<string, unknown>) => {
    const res = await broker
      .http()
      .post('/v1/webhooks')
      .set(admin)
      .send({ url: receiver.url, ...body });
    expect(res.status).toBe(201);
    return res.body as { id: string; secret: string; url: string; events: string[]; workspaces: string[] };
  };
  const deleteWebhook = (id: string) => broker.http().delete(`/v1/webhooks/${id}`).set(admin);
  const stateOf = async (id: string) => (await broker.http().get(`/v1/clients/${id}`).set(admin)).body.status.state;

  async function registerReadyClient(workspaceId = WORKSPACE) {
    const clientId = `pd_${randomSecret('hook')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId, name: 'Hooked', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(res.status).toBe(201);
    await eventually(async () => (await stateOf(res.body.id)) === 'ready');
    return { id: res.body.id as string, clientId };
  }

  /** failing (the upstream fails), rejected (it revokes the secret), ready again (a rotation to a good secret). */
  async function failRejectRecover(id: string, clientId: string) {
    upstream.failClient(clientId, '500');
    await broker.http().post(`/v1/clients/${id}/token/refresh`).set(admin);
    await eventually(async () => (await stateOf(id)) === 'failing');
    upstream.heal();
    upstream.revokeClient(clientId);
    await eventually(async () => (await stateOf(id)) === 'rejected', 15_000);
    const newSecret = randomSecret();
    upstream.addClient(clientId, newSecret);
    const rotated = await broker.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret: newSecret });
    expect(rotated.status).toBe(200);
    await eventually(async () => (await stateOf(id)) === 'ready');
  }

  it('delivers client.failing, client.rejected, client.recovered in order, each verified with standardwebhooks', async () => {
    const all = await createWebhook({ events: ['*'] });
    expect(all.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(all.workspaces).toEqual(['*']);
    const onlyRejected = await createWebhook({ events: ['client.rejected'], workspaces: [WORKSPACE] });
    const otherWorkspace = await createWebhook({ events: ['*'], workspaces: ['o_elsewhere'] });
    try {
      const { id, clientId } = await registerReadyClient();
      await failRejectRecover(id, clientId);
      await eventually(() => receiver.received.length >= 4);
      await new Promise((resolve) => setTimeout(resolve, 500));

      // Which webhook a delivery was for: the one whose secret verifies it.
      const byPath = (secret: string) =>
        receiver.received.filter((delivery) => {
          try {
            new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>);
            return true;
          } catch {
            return false;
          }
        });
      const toAll = byPath(all.secret).map((delivery) => JSON.parse(delivery.body));
      expect(toAll.map((event) => event.type)).toEqual(['client.failing', 'client.rejected', 'client.recovered']);
      expect(toAll[0].data).toMatchObject({ clientId: id, workspaceId: WORKSPACE, name: 'Hooked', state: 'failing' });
      expect(toAll[0].data.failingSince).toEqual(expect.any(String));
      expect(toAll[1].data).toMatchObject({ clientId: id, state: 'rejected', lastError: expect.any(String) });
      expect(toAll[2].data).toMatchObject({ clientId: id, state: 'ready', lastError: null, failingSince: null });
      for (const event of toAll) expect(Object.keys(event).sort()).toEqual(['data', 'timestamp', 'type']);

      // The event filter and the workspace filter hold.
      expect(byPath(onlyRejected.secret).map((delivery) => JSON.parse(delivery.body).type)).toEqual([
        'client.rejected',
      ]);
      expect(byPath(otherWorkspace.secret)).toHaveLength(0);
      expect(receiver.received).toHaveLength(4);
      // One webhook-id per event, the same for both webhooks that got client.rejected.
      const ids = receiver.received.map((delivery) => delivery.headers['webhook-id']);
      expect(new Set(ids).size).toBe(3);
    } finally {
      for (const hook of [all, onlyRejected, otherWorkspace]) await deleteWebhook(hook.id);
    }
  });

  it('retries a receiver that is down on the WEBHOOK_RETRY_SECONDS schedule, then delivers; the listing shows it', async () => {
    const hook = await createWebhook({ events: ['*'] });
    try {
      receiver.mode = { status: 503 };
      expect((await broker.http().post(`/v1/webhooks/${hook.id}/test`).set(admin)).status).toBe(202);
      await eventually(() => receiver.received.length >= 2, 10_000);
      receiver.mode = { status: 200 };
      await eventually(() => receiver.received.length >= 3, 10_000);
      const times = receiver.received.map((delivery) => delivery.at);
      // 1 s between attempts (less a scheduling tolerance), not hammering.
      for (let index = 1; index < times.length; index += 1)
        expect(times[index] - times[index - 1]).toBeGreaterThanOrEqual(900);
      expect(receiver.verifyAll(hook.secret)).toHaveLength(3);
      expect(new Set(receiver.received.map((delivery) => delivery.headers['webhook-id'])).size).toBe(1);
      const listing = await eventually(async () => {
        const res = await broker.http().get(`/v1/webhooks/${hook.id}/deliveries`).set(admin);
        return res.body.items?.[0]?.state === 'delivered' ? res.body : null;
      });
      expect(listing.items).toHaveLength(1);
      expect(listing.items[0]).toEqual({
        id: expect.any(String),
        eventId: receiver.received[0].headers['webhook-id'],
        type: 'webhook.test',
        attempts: 3,
        state: 'delivered',
        lastStatus: 200,
        lastAttemptAt: expect.any(String),
        nextAttemptAt: null,
      });
      expect(listing.nextCursor).toBeNull();
      // The figures the alert rules read.
      const metrics = (await broker.http().get('/metrics')).text;
      const figure = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
      expect(figure('tb_webhook_deliveries_total\\{outcome="delivered"\\}')).toBeGreaterThanOrEqual(1);
      expect(figure('tb_webhook_deliveries_total\\{outcome="retry"\\}')).toBeGreaterThanOrEqual(2);
      expect(figure('tb_webhook_pending')).toBe(0);
    } finally {
      await deleteWebhook(hook.id);
    }
  });

  it('marks a delivery failed after the last retry, and pages the listing newest first', async () => {
    const hook = await createWebhook({ events: ['*'] });
    try {
      receiver.mode = { status: 500 };
      for (let sent = 0; sent < 3; sent += 1) await broker.http().post(`/v1/webhooks/${hook.id}/test`).set(admin);
      const deliveries = async () =>
        (await broker.http().get(`/v1/webhooks/${hook.id}/deliveries?limit=2`).set(admin)).body;
      await eventually(
        async () => (await deliveries()).items.every((item: { state: string }) => item.state === 'failed'),
        15_000,
      );
      const first = await deliveries();
      expect(
        first.items.map((item: { attempts: number; lastStatus: number }) => [item.attempts, item.lastStatus]),
      ).toEqual([
        [4, 500],
        [4, 500],
      ]);
      expect(first.nextCursor).toBe(first.items[1].id);
      const second = (
        await broker.http().get(`/v1/webhooks/${hook.id}/deliveries?limit=2&cursor=${first.nextCursor}`).set(admin)
      ).body;
      expect(second.items).toHaveLength(1);
      expect(second.items[0].id < first.items[1].id).toBe(true);
      expect(second.nextCursor).toBeNull();
      expect(receiver.received).toHaveLength(12);
    } finally {
      await deleteWebhook(hook.id);
    }
  });

  it('stops delivering within 1 s of a deletion, in-flight attempts included', async () => {
    const hook = await createWebhook({ events: ['*'] });
    receiver.mode = 'hang';
    await broker.http().post(`/v1/webhooks/${hook.id}/test`).set(admin);
    await eventually(() => receiver.received.length === 1);
    expect((await deleteWebhook(hook.id)).status).toBe(204);
    receiver.mode = { status: 500 };
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // The hung attempt was dropped, not retried (retries come 1 s apart).
    expect(receiver.received).toHaveLength(1);
    expect((await broker.http().get(`/v1/webhooks/${hook.id}/deliveries`).set(admin)).status).toBe(404);
    expect((await deleteWebhook(hook.id)).status).toBe(404);
  });

  it('lists webhooks without their secret, and audits create and delete', async () => {
    const hook = await createWebhook({
      events: ['client.failing', 'client.failing'],
      workspaces: [WORKSPACE, WORKSPACE],
    });
    expect(hook.events).toEqual(['client.failing']);
    expect(hook.workspaces).toEqual([WORKSPACE]);
    const listed = await broker.http().get('/v1/webhooks').set(admin);
    const item = listed.body.items.find((entry: { id: string }) => entry.id === hook.id);
    expect(item).toEqual({
      id: hook.id,
      url: receiver.url,
      events: ['client.failing'],
      workspaces: [WORKSPACE],
      createdAt: expect.any(String),
    });
    expect(JSON.stringify(listed.body)).not.toContain(hook.secret);
    await deleteWebhook(hook.id);
    const audit = await broker.http().get('/v1/audit-events').set(admin);
    const actions = audit.body.items.map((event: { action: string }) => event.action);
    expect(actions).toEqual(expect.arrayContaining(['webhook.create', 'webhook.delete']));
  });
});
