import { Webhook } from 'standardwebhooks';
import { waitForOutput } from '../support/broker-process';
import { WebhookReceiver } from '../support/webhook-receiver';
import { Cluster, adminAuth, call, report, sleep, type Replica } from './support/cluster';

/**
 * Webhooks are delivered at least once across faults, and once in the normal
 * case: the delivering replica SIGKILLed mid-delivery (another takes the
 * lapsed lease over); a replica killed between the state change and the
 * queuing step, then Redis SIGKILLed and restarted from its AOF (the event,
 * recorded with the change, is queued by the repair and delivered); three
 * replicas delivering a burst (no event twice).
 */
const WEBHOOK_ENV = {
  WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1',
  WEBHOOK_RETRY_SECONDS: '1,1,1,1,1,1,1,1,1,1',
  WEBHOOK_TIMEOUT_MS: '3000',
};
/** A claim's lease: the attempt's timeout plus the worker's margin (src/webhooks/delivery.worker.ts). */
const LEASE_MS = 3_000 + 5_000;

async function createWebhook(
  replica: Replica,
  url: string,
  events: string[] = ['*'],
): Promise<{ id: string; secret: string }> {
  const res = await call(replica.url, 'POST', '/v1/webhooks', { headers: adminAuth, body: { url, events } });
  expect(res.status).toBe(201);
  return res.body;
}

async function deliveries(replica: Replica, webhookId: string) {
  const res = await call(replica.url, 'GET', `/v1/webhooks/${webhookId}/deliveries?limit=500`, { headers: adminAuth });
  expect(res.status).toBe(200);
  return res.body.items as { eventId: string; state: string; attempts: number; type: string }[];
}

async function until<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function stateOf(replica: Replica, id: string): Promise<string> {
  return (await call(replica.url, 'GET', `/v1/clients/${id}`, { headers: adminAuth })).body.status.state;
}

describe('webhook delivery across faults', () => {
  let cluster: Cluster | undefined;
  let receiver: WebhookReceiver | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await receiver?.stop();
    cluster = undefined;
    receiver = undefined;
  });

  it('the delivering replica SIGKILLed mid-delivery: another replica delivers once the lease lapses', async () => {
    receiver = await WebhookReceiver.start();
    receiver.mode = 'hang';
    cluster = await Cluster.start({ replicas: 1, env: WEBHOOK_ENV });
    const [first] = cluster.replicas;
    const hook = await createWebhook(first, receiver.url);
    expect((await call(first.url, 'POST', `/v1/webhooks/${hook.id}/test`, { headers: adminAuth })).status).toBe(202);
    await until(() => receiver!.received.length === 1, 10_000, 'the first attempt');
    const second = await cluster.startReplica('r1');
    receiver.mode = { status: 204 };
    process.kill(first.proc.child.pid!, 'SIGKILL');
    const killedAt = Date.now();
    await first.proc.exited;

    await until(() => receiver!.received.length === 2, LEASE_MS + 5_000, 'delivery by the surviving replica');
    const takenOverMs = receiver.received[1].at - killedAt;
    receiver.verifyAll(hook.secret);
    const [delivery] = await until(
      async () => {
        const items = await deliveries(second, hook.id);
        return items[0]?.state === 'delivered' ? items : null;
      },
      5_000,
      'the delivered state',
    );
    expect(delivery).toMatchObject({ type: 'webhook.test', attempts: 1 });
    expect(receiver.received[0].headers['webhook-id']).toBe(receiver.received[1].headers['webhook-id']);
    report('webhook-replica-killed-mid-delivery', {
      takenOverMs,
      leaseMs: LEASE_MS,
      attemptsSeen: receiver.received.length,
    });
    expect(takenOverMs).toBeLessThan(LEASE_MS + 2_000);
  });

  it('a replica killed after the state change, then Redis SIGKILLed and restarted from its AOF: the event is still delivered', async () => {
    receiver = await WebhookReceiver.start();
    cluster = await Cluster.start({ replicas: 1, env: WEBHOOK_ENV });
    const [survivor] = cluster.replicas;
    const hook = await createWebhook(survivor, receiver.url, ['client.failing']);
    const [client] = await cluster.registerClients(1, 'wh-aof');
    await until(async () => (await stateOf(survivor, client.id)) === 'ready', 10_000, 'the client ready');

    // This replica stops right after its next client write that changes a state (TEST ONLY failpoint).
    const dying = await cluster.startReplica('dying', { TEST_FAILPOINT: 'after-client-write', NODE_ENV: 'test' });
    cluster.fake.failClient(client.clientId, '500');
    void call(dying.url, 'POST', `/v1/clients/${client.id}/token/refresh`, {
      headers: adminAuth,
      timeoutMs: 30_000,
    }).catch(() => undefined);
    await waitForOutput(dying.proc.stdout, /TEST_FAILPOINT reached/, 20_000);
    process.kill(dying.proc.child.pid!, 'SIGKILL');
    await dying.proc.exited;
    expect(await stateOf(survivor, client.id)).toBe('failing');
    // The event sits in the client's outbox, not yet queued; let the AOF reach the disk (appendfsync everysec).
    const probe = cluster.redisProbe();
    const outbox = Object.keys(await probe.hgetall(`tbf:{c:${client.id}}`)).filter((field) => field.startsWith('ev:'));
    expect(outbox).toHaveLength(1);
    expect(receiver.received).toHaveLength(0);
    await sleep(1_500);

    const restart = await cluster.stopRedis('SIGKILL');
    const redisDownAt = Date.now();
    await sleep(500);
    await restart();
    const deliveredAfterMs = await until(
      () => (receiver!.received.length > 0 ? Date.now() - redisDownAt : null),
      40_000,
      'delivery after the restart',
    );

    const [event] = receiver.verifyAll(hook.secret) as { type: string; data: { clientId: string; state: string } }[];
    expect(event).toMatchObject({ type: 'client.failing', data: { clientId: client.id, state: 'failing' } });
    await sleep(1_000);
    expect(receiver.received).toHaveLength(1);
    report('webhook-replica-and-redis-killed-before-queuing', { deliveredAfterMs, repairBoundMs: 20_000 });
  });

  it('three replicas deliver a burst of events, none twice', async () => {
    receiver = await WebhookReceiver.start();
    cluster = await Cluster.start({ replicas: 3, env: WEBHOOK_ENV });
    const hooks = [
      await createWebhook(cluster.replicas[0], receiver.url),
      await createWebhook(cluster.replicas[1], receiver.url),
    ];
    const clients = await cluster.registerClients(20, 'wh-burst');
    await until(
      async () => {
        const states = await Promise.all(clients.map((client) => stateOf(cluster!.replicas[0], client.id)));
        return states.every((state) => state === 'ready');
      },
      20_000,
      'every client ready',
    );

    const startedAt = Date.now();
    for (const client of clients) cluster.fake.failClient(client.clientId, '500');
    await Promise.all(
      clients.map((client, index) =>
        call(cluster!.replicas[index % 3].url, 'POST', `/v1/clients/${client.id}/token/refresh`, {
          headers: adminAuth,
          timeoutMs: 20_000,
        }),
      ),
    );
    for (let index = 0; index < 30; index += 1) {
      const replica = cluster.replicas[index % 3];
      expect(
        (await call(replica.url, 'POST', `/v1/webhooks/${hooks[index % 2].id}/test`, { headers: adminAuth })).status,
      ).toBe(202);
    }
    // 20 client.failing to each of two webhooks, and 30 test events.
    const expected = 20 * 2 + 30;
    await until(() => receiver!.received.length >= expected, 30_000, `${expected} deliveries`);
    const allDeliveredMs = Date.now() - startedAt;
    await sleep(3_000);

    // Which webhook each delivery was for: the one whose secret verifies it (every delivery must verify).
    const hookOf = (delivery: { body: string; headers: Record<string, unknown> }) =>
      hooks.findIndex((hook) => {
        try {
          new Webhook(hook.secret).verify(delivery.body, delivery.headers as Record<string, string>);
          return true;
        } catch {
          return false;
        }
      });
    const owners = receiver.received.map((delivery) => hookOf(delivery));
    expect(owners.filter((owner) => owner < 0)).toEqual([]);
    // Both webhooks get each client event under its one id: (webhook, id) must be unique.
    const keys = receiver.received.map(
      (delivery, index) => `${owners[index]}|${String(delivery.headers['webhook-id'])}`,
    );
    const duplicates = keys.length - new Set(keys).size;
    report('webhook-three-replicas-burst', {
      deliveries: receiver.received.length,
      expected,
      duplicates,
      allDeliveredMs,
    });
    expect(duplicates).toBe(0);
    expect(receiver.received).toHaveLength(expected);
  });
});
