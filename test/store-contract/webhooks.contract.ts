import type { BrokerStore } from '../../src/store/broker-store';
import type { DeliveryRecord } from '../../src/store/webhook.types';
import { UNSCHEDULED, makeEntry, statusIn, testEvent, webhook } from './fixtures';

const FAR = 9_000_000_000_000;

/** Webhooks, the outbox of client events and the delivery queue. `store()` is the fresh store of the running test. */
export function describeWebhooksContract(store: () => BrokerStore): void {
  describe('webhooks', () => {
    /** Claims everything due now and returns it by webhook, for the assertions. */
    const claimAll = async (now = Date.now()): Promise<DeliveryRecord[]> =>
      store().claimDeliveries(now, now + 60_000, 100);

    async function moveClient(
      id: string,
      states: ('ready' | 'failing' | 'rejected' | 'pending')[],
      workspaceId = 'o_one',
    ) {
      await store().insertClient(makeEntry(id, { workspaceId }), UNSCHEDULED);
      for (const state of states) {
        const failingSince = state === 'failing' || state === 'rejected' ? '2025-01-01T00:00:00.000Z' : null;
        expect(await store().updateClient(id, 1, { status: statusIn(state, failingSince) })).toBe('ok');
      }
    }

    it('stores, lists and deletes webhooks', async () => {
      await store().insertWebhook(webhook('wh_b'));
      await store().insertWebhook(webhook('wh_a', ['client.failing'], ['o_one']));
      expect(await store().getWebhook('wh_a')).toEqual(webhook('wh_a', ['client.failing'], ['o_one']));
      expect((await store().listWebhooks()).map((record) => record.id)).toEqual(['wh_a', 'wh_b']);
      expect(await store().deleteWebhook('wh_a')).toBe(true);
      expect(await store().deleteWebhook('wh_a')).toBe(false);
      expect(await store().getWebhook('wh_a')).toBeNull();
    });

    it('replaces a sealed secret only while it holds the value read (key rotation)', async () => {
      await store().insertWebhook(webhook('wh_a'));
      expect(await store().replaceWebhookSecret('wh_a', 'v1.other.sealed', 'v1.new.sealed')).toBe(false);
      expect(await store().replaceWebhookSecret('wh_a', webhook('wh_a').sealedSecret, 'v1.new.sealed')).toBe(true);
      expect(await store().getWebhook('wh_a')).toEqual({ ...webhook('wh_a'), sealedSecret: 'v1.new.sealed' });
      expect(await store().replaceWebhookSecret('wh_gone', 'v1.x', 'v1.y')).toBe(false);
    });

    it('raises failing, rejected and recovered with the change of state, to the webhooks whose filters match', async () => {
      await store().insertWebhook(webhook('wh_all'));
      await store().insertWebhook(webhook('wh_rejected', ['client.rejected']));
      await store().insertWebhook(webhook('wh_two', ['*'], ['o_two']));
      await moveClient('c_1', ['ready', 'failing', 'failing', 'rejected', 'ready', 'failing']);

      const claimedTypes: string[] = [];
      // One delivery per webhook at a time: settle each claim to let the next through.
      for (let round = 0; round < 10; round += 1) {
        const claimed = await claimAll();
        for (const delivery of claimed) {
          claimedTypes.push(`${delivery.webhookId}:${delivery.type}`);
          const result = {
            state: 'delivered' as const,
            lastStatus: 200,
            lastAttemptAt: new Date().toISOString(),
            nextAttemptMs: null,
          };
          expect(await store().settleDelivery(delivery.id, 0, result)).toBe(true);
        }
      }
      expect(claimedTypes.filter((entry) => entry.startsWith('wh_all:'))).toEqual([
        'wh_all:client.failing',
        'wh_all:client.rejected',
        'wh_all:client.recovered',
        'wh_all:client.failing',
      ]);
      expect(claimedTypes.filter((entry) => entry.startsWith('wh_rejected:'))).toEqual(['wh_rejected:client.rejected']);
      expect(claimedTypes.filter((entry) => entry.startsWith('wh_two:'))).toEqual([]);

      const [latest] = await store().listDeliveries('wh_all', 1);
      const body = JSON.parse(latest.body);
      expect(body).toEqual({
        type: 'client.failing',
        timestamp: expect.any(String),
        data: {
          clientId: 'c_1',
          workspaceId: 'o_one',
          name: 'client c_1',
          state: 'failing',
          lastError: 'upstream said no',
          failingSince: '2025-01-01T00:00:00.000Z',
        },
      });
      expect(latest.eventId).toMatch(/^evt_/);
      expect(await store().countPendingDeliveries()).toBe(0);
    });

    it('raises nothing for pending to ready, or for a write that keeps the state', async () => {
      await store().insertWebhook(webhook('wh_all'));
      await moveClient('c_quiet', ['ready', 'ready']);
      expect(await claimAll()).toEqual([]);
    });

    it('queues an event once per webhook however often it is enqueued, and only for the webhook named', async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().insertWebhook(webhook('wh_b'));
      expect(await store().enqueueEvent(testEvent('evt_t1'), 'wh_a')).toBe(1);
      expect(await store().enqueueEvent(testEvent('evt_t1'), 'wh_a')).toBe(0);
      // A test event goes to no webhook unless one is named.
      expect(await store().enqueueEvent(testEvent('evt_t2'))).toBe(0);
      const claimed = await claimAll();
      expect(
        claimed.map((delivery) => [delivery.webhookId, delivery.eventId, delivery.attempts, delivery.state]),
      ).toEqual([['wh_a', 'evt_t1', 0, 'pending']]);
    });

    it('leases a claim: not claimed again until the lease lapses, then taken over', async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().enqueueEvent(testEvent('evt_lease'), 'wh_a');
      const now = Date.now();
      const [first] = await store().claimDeliveries(now, now + 1_000, 10);
      expect(first.eventId).toBe('evt_lease');
      expect(await store().claimDeliveries(now + 500, now + 10_000, 10)).toEqual([]);
      const [again] = await store().claimDeliveries(now + 1_001, now + 10_000, 10);
      expect(again.id).toBe(first.id);
    });

    it('settles an attempt once (fenced on attempts), retries when pending, and keeps the record', async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().enqueueEvent(testEvent('evt_retry'), 'wh_a');
      const now = Date.now();
      const [claimed] = await store().claimDeliveries(now, now + 60_000, 10);
      const retry = {
        state: 'pending' as const,
        lastStatus: 503,
        lastAttemptAt: new Date(now).toISOString(),
        nextAttemptMs: now + 5_000,
      };
      expect(await store().settleDelivery(claimed.id, 0, retry)).toBe(true);
      expect(await store().settleDelivery(claimed.id, 0, retry)).toBe(false);
      expect(await store().countPendingDeliveries()).toBe(1);
      expect(await store().claimDeliveries(now + 4_000, FAR, 10)).toEqual([]);
      const [second] = await store().claimDeliveries(now + 5_000, FAR, 10);
      expect(second).toMatchObject({
        attempts: 1,
        lastStatus: 503,
        state: 'pending',
        nextAttemptAt: new Date(now + 5_000).toISOString(),
      });
      const failed = {
        state: 'failed' as const,
        lastStatus: null,
        lastAttemptAt: new Date(now).toISOString(),
        nextAttemptMs: null,
      };
      expect(await store().settleDelivery(second.id, 1, failed)).toBe(true);
      expect(await store().countPendingDeliveries()).toBe(0);
      expect(await store().listDeliveries('wh_a', 10)).toEqual([
        expect.objectContaining({
          id: claimed.id,
          attempts: 2,
          state: 'failed',
          lastStatus: null,
          nextAttemptAt: null,
        }),
      ]);
    });

    it('claims at most one delivery per webhook at a time, in due order', async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().insertWebhook(webhook('wh_b'));
      for (const id of ['evt_1', 'evt_2', 'evt_3']) {
        await store().enqueueEvent(testEvent(id), 'wh_a');
        await store().enqueueEvent(testEvent(id), 'wh_b');
      }
      const now = Date.now();
      const claimed = await store().claimDeliveries(now, now + 60_000, 10);
      expect(claimed.map((delivery) => `${delivery.webhookId}:${delivery.eventId}`).sort()).toEqual([
        'wh_a:evt_1',
        'wh_b:evt_1',
      ]);
    });

    it("parks a busy webhook's deliveries out of the others' way, and makes them due when its attempt settles", async () => {
      await store().insertWebhook(webhook('wh_slow'));
      await store().insertWebhook(webhook('wh_fast'));
      for (const id of ['evt_1', 'evt_2', 'evt_3']) await store().enqueueEvent(testEvent(id), 'wh_slow');
      await store().enqueueEvent(testEvent('evt_f'), 'wh_fast');
      const now = Date.now();
      // A claim of one: the slow webhook's first delivery.
      const [slow] = await store().claimDeliveries(now, now + 60_000, 1);
      expect(slow.eventId).toBe('evt_1');
      // The next claim, of one again, looks past the slow webhook's waiting deliveries.
      const [fast] = await store().claimDeliveries(now, now + 60_000, 1);
      expect(fast.webhookId).toBe('wh_fast');
      expect(await store().claimDeliveries(now, now + 60_000, 10)).toEqual([]);
      const done = {
        state: 'delivered' as const,
        lastStatus: 200,
        lastAttemptAt: new Date(now).toISOString(),
        nextAttemptMs: null,
      };
      expect(await store().settleDelivery(slow.id, 0, done)).toBe(true);
      const [next] = await store().claimDeliveries(Date.now(), Date.now() + 60_000, 10);
      expect(next.eventId).toBe('evt_2');
    });

    it('drops the queued deliveries of a deleted webhook at the next claim', async () => {
      await store().insertWebhook(webhook('wh_gone'));
      await store().enqueueEvent(testEvent('evt_gone'), 'wh_gone');
      await store().deleteWebhook('wh_gone');
      expect(await claimAll()).toEqual([]);
      expect(await store().countPendingDeliveries()).toBe(0);
    });

    it("pages one webhook's deliveries newest first", async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().insertWebhook(webhook('wh_ab'));
      for (const id of ['evt_1', 'evt_2', 'evt_3']) await store().enqueueEvent(testEvent(id), 'wh_a');
      await store().enqueueEvent(testEvent('evt_x'), 'wh_ab');
      const first = await store().listDeliveries('wh_a', 2);
      expect(first.map((delivery) => delivery.eventId)).toEqual(['evt_3', 'evt_2']);
      const rest = await store().listDeliveries('wh_a', 2, first[1].id);
      expect(rest.map((delivery) => delivery.eventId)).toEqual(['evt_1']);
      expect(await store().listDeliveries('wh_none', 2)).toEqual([]);
    });
  });
}
