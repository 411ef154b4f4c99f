import type { BrokerStore } from '../../src/store/broker-store';
import {
  CERTIFICATE_WARNING_INTERVAL_MS,
  DELIVERIES_KEPT_PER_WEBHOOK,
  type DeliveryResult,
} from '../../src/store/webhook.types';
import { UNSCHEDULED, makeEntry, statusIn, testEvent, webhook } from './fixtures';

const NOT_AFTER = '2025-01-11T00:00:00.000Z';
const DAY = CERTIFICATE_WARNING_INTERVAL_MS;

const delivered = (): DeliveryResult => ({
  state: 'delivered',
  lastStatus: 200,
  lastAttemptAt: new Date().toISOString(),
  nextAttemptMs: null,
});

/** client.certificate_expiring and the bound on kept delivery records. `store()` is the running test's store. */
export function describeWebhookUpkeepContract(store: () => BrokerStore): void {
  describe('webhooks: certificate_expiring', () => {
    async function insertCertificateClient(id: string, workspaceId = 'o_one'): Promise<void> {
      const entry = makeEntry(id, { workspaceId, status: statusIn('ready') });
      if (entry.client.type === 'oauth_client_credentials') entry.client.certificateExpiresAt = NOT_AFTER;
      await store().insertClient(entry, UNSCHEDULED);
    }

    it('is recorded at most once per interval per client, and queued for the webhooks that want it', async () => {
      await store().insertWebhook(webhook('wh_all'));
      await store().insertWebhook(webhook('wh_cert', ['client.certificate_expiring']));
      await store().insertWebhook(webhook('wh_failing', ['client.failing']));
      await store().insertWebhook(webhook('wh_two', ['*'], ['o_two']));
      await insertCertificateClient('c_cert');
      const now = Date.now();

      expect(await store().raiseCertificateExpiring('c_cert', now)).toBe(true);
      expect(await store().raiseCertificateExpiring('c_cert', now + 1_000)).toBe(false);
      expect(await store().raiseCertificateExpiring('c_cert', now + DAY - 1)).toBe(false);

      const claimed = await store().claimDeliveries(Date.now(), Date.now() + 60_000, 10);
      expect(claimed.map((delivery) => delivery.webhookId).sort()).toEqual(['wh_all', 'wh_cert']);
      expect(new Set(claimed.map((delivery) => delivery.eventId)).size).toBe(1);
      expect(JSON.parse(claimed[0].body)).toEqual({
        type: 'client.certificate_expiring',
        timestamp: new Date(now).toISOString(),
        data: {
          clientId: 'c_cert',
          workspaceId: 'o_one',
          name: 'client c_cert',
          state: 'ready',
          lastError: null,
          failingSince: null,
          certificateExpiresAt: NOT_AFTER,
        },
      });
      for (const delivery of claimed) expect(await store().settleDelivery(delivery.id, 0, delivered())).toBe(true);

      // A day later it is recorded again, as a new event.
      expect(await store().raiseCertificateExpiring('c_cert', now + DAY)).toBe(true);
      const next = await store().claimDeliveries(now + DAY, now + DAY + 60_000, 10);
      expect(next.map((delivery) => delivery.webhookId).sort()).toEqual(['wh_all', 'wh_cert']);
      expect(next[0].eventId).not.toBe(claimed[0].eventId);
    });

    it('keeps one guard per client, records nothing for a client that does not exist, and forgets a deleted one', async () => {
      await store().insertWebhook(webhook('wh_all'));
      await insertCertificateClient('c_a');
      await insertCertificateClient('c_b');
      const now = Date.now();
      expect(await store().raiseCertificateExpiring('c_a', now)).toBe(true);
      expect(await store().raiseCertificateExpiring('c_b', now)).toBe(true);
      expect(await store().raiseCertificateExpiring('c_none', now)).toBe(false);
      expect(await store().countPendingDeliveries()).toBe(2);

      await store().deleteClient('c_a');
      await insertCertificateClient('c_a');
      expect(await store().raiseCertificateExpiring('c_a', now + 1_000)).toBe(true);
    });
  });

  describe('webhooks: delivery records kept', () => {
    /** Claims the next due delivery, which must be this webhook's. */
    async function claimOne(webhookId: string) {
      const [delivery] = await store().claimDeliveries(Date.now(), Date.now() + 60_000, 1);
      expect(delivery.webhookId).toBe(webhookId);
      return delivery;
    }

    it("drops a deleted webhook's records with it, and none of another's", async () => {
      await store().insertWebhook(webhook('wh_gone'));
      await store().insertWebhook(webhook('wh_kept'));
      for (const id of ['evt_1', 'evt_2']) {
        await store().enqueueEvent(testEvent(id), 'wh_gone');
        await store().enqueueEvent(testEvent(id), 'wh_kept');
      }
      const claimed = await store().claimDeliveries(Date.now(), Date.now() + 60_000, 10);
      for (const delivery of claimed) expect(await store().settleDelivery(delivery.id, 0, delivered())).toBe(true);

      expect(await store().deleteWebhook('wh_gone')).toBe(true);
      expect(await store().listDeliveries('wh_gone', 10)).toEqual([]);
      expect((await store().listDeliveries('wh_kept', 10)).map((delivery) => delivery.eventId)).toEqual([
        'evt_2',
        'evt_1',
      ]);
      const next = await store().claimDeliveries(Date.now(), Date.now() + 60_000, 10);
      expect(next.map((delivery) => `${delivery.webhookId}:${delivery.eventId}`)).toEqual(['wh_kept:evt_2']);
      expect(await store().countPendingDeliveries()).toBe(1);
    });

    it(`keeps the newest ${DELIVERIES_KEPT_PER_WEBHOOK} settled deliveries per webhook, and every pending one`, async () => {
      await store().insertWebhook(webhook('wh_a'));
      await store().insertWebhook(webhook('wh_other'));
      await store().enqueueEvent(testEvent('evt_other'), 'wh_other');
      // wh_a's oldest deliveries stay pending (their retry a day ahead), more of them than one settle looks at.
      const pendingIds = Array.from({ length: 150 }, (_, index) => `evt_p${String(index).padStart(3, '0')}`);
      for (const id of pendingIds) await store().enqueueEvent(testEvent(id), 'wh_a');
      await store().settleDelivery((await claimOne('wh_other')).id, 0, delivered());
      const retryLater = (): DeliveryResult => ({
        ...delivered(),
        state: 'pending',
        lastStatus: 503,
        nextAttemptMs: Date.now() + DAY,
      });
      for (const _ of pendingIds)
        expect(await store().settleDelivery((await claimOne('wh_a')).id, 0, retryLater())).toBe(true);

      const count = DELIVERIES_KEPT_PER_WEBHOOK + 1;
      const ids = Array.from({ length: count }, (_, index) => `evt_${index + 1}`);
      await Promise.all(ids.map((id) => store().enqueueEvent(testEvent(id), 'wh_a')));
      for (const _ of ids) expect(await store().settleDelivery((await claimOne('wh_a')).id, 0, delivered())).toBe(true);

      const kept = await store().listDeliveries('wh_a', count + pendingIds.length + 10);
      expect(kept).toHaveLength(DELIVERIES_KEPT_PER_WEBHOOK + pendingIds.length);
      expect(kept[0].eventId).toBe(`evt_${count}`);
      // The oldest delivered one went; the pending ones, older still, all stayed.
      const eventIds = kept.map((delivery) => delivery.eventId);
      expect(eventIds).not.toContain('evt_1');
      expect(eventIds.slice(-pendingIds.length - 1)).toEqual(['evt_2', ...[...pendingIds].reverse()]);
      // Its dedup entry went with it (an event queued again that late is delivered again); the kept ones' stay.
      expect(await store().enqueueEvent(testEvent('evt_1'), 'wh_a')).toBe(1);
      expect(await store().enqueueEvent(testEvent('evt_2'), 'wh_a')).toBe(0);
      // Another webhook's records are not touched.
      expect(await store().listDeliveries('wh_other', 10)).toHaveLength(1);
    }, 60_000);
  });
}
