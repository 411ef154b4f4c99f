import type { StoreLogger } from '../store-helpers';
import type { WebhookStore } from '../interfaces/webhook-store';
import {
  CERTIFICATE_WARNING_INTERVAL_MS,
  DELIVERIES_KEPT_PER_WEBHOOK,
  deliveryBody,
  type DeliveryRecord,
  type DeliveryResult,
  type WebhookEvent,
  type WebhookRecord,
} from '../webhook.types';
import { webhookEvent } from './redis-codec';
import type { RedisConnection } from './redis-connection';

/** The outbox's field prefix in a client hash (updateClient-2.lua writes `ev:<event id>`). */
const OUTBOX_FIELD = 'ev:';
/** A claim looks at this many due entries per delivery it may take: the rest belong to busy webhooks. */
const CLAIM_SCAN_FACTOR = 25;

/**
 * Webhooks and their deliveries on Redis, all in the {webhooks} slot. Client
 * events reach the queue in two steps, as the counters do (see
 * redis-client.store.ts): updateClient-2.lua records the event in the client's
 * hash with the change of state; dispatchOutbox then queues it
 * (dispatchEvent-6.lua, idempotent) and removes it from the hash. A crash in
 * between leaves the event in the hash and the client index pending; the
 * next write or claim of the client dispatches it again, queuing nothing twice.
 * raiseCertificateExpiring-1.lua is the other first step: it records a
 * client.certificate_expiring event the same way, with its once-a-day guard.
 * Delivery records are bounded: settleDelivery-6.lua keeps the newest
 * DELIVERIES_KEPT_PER_WEBHOOK settled ones per webhook (and every pending one),
 * deleteWebhook-6.lua drops them all.
 */
export class RedisWebhookStore implements WebhookStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly logger?: StoreLogger,
  ) {}

  private get keys() {
    return this.connection.keys;
  }

  async insertWebhook(record: WebhookRecord): Promise<void> {
    await this.connection.transaction((multi) => {
      multi.hset(this.keys.webhooks, record.id, JSON.stringify(record));
      multi.publish(this.keys.events, webhookEvent(record.id));
    });
  }

  async getWebhook(id: string): Promise<WebhookRecord | null> {
    const json = await this.connection.run((redis) => redis.hget(this.keys.webhooks, id));
    return json === null ? null : (JSON.parse(json) as WebhookRecord);
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    const values = await this.connection.run((redis) => redis.hvals(this.keys.webhooks));
    return values.map((json) => JSON.parse(json) as WebhookRecord).sort((a, b) => a.id.localeCompare(b.id));
  }

  async replaceWebhookSecret(id: string, expectedSealed: string, sealedSecret: string): Promise<boolean> {
    return (
      (await this.connection.script('resealWebhook', [this.keys.webhooks], [id, expectedSealed, sealedSecret])) === 1
    );
  }

  async deleteWebhook(id: string): Promise<boolean> {
    const { webhooks, deliveries, deliveryLog, deliveriesSent, webhooksBusy, deliveriesSettled, events } = this.keys;
    const deleted = await this.connection.script(
      'deleteWebhook',
      [webhooks, deliveries, deliveryLog, deliveriesSent, webhooksBusy, deliveriesSettled],
      [id, events, webhookEvent(id)],
    );
    return deleted === 1;
  }

  async enqueueEvent(event: WebhookEvent, onlyWebhookId?: string): Promise<number> {
    const { webhooks, deliveries, deliveriesDue, deliveryLog, deliveriesSent, deliverySeq } = this.keys;
    const now = Date.now();
    return this.connection.script(
      'dispatchEvent',
      [webhooks, deliveries, deliveriesDue, deliveryLog, deliveriesSent, deliverySeq],
      [{ event, body: deliveryBody(event), now, nowIso: new Date(now).toISOString(), onlyWebhookId }],
    );
  }

  /** The guard and the outbox record in the client's slot (raiseCertificateExpiring-1.lua), then the queue step. */
  async raiseCertificateExpiring(clientId: string, now: number): Promise<boolean> {
    const event = await this.connection.script(
      'raiseCertificateExpiring',
      [this.keys.client(clientId)],
      [String(now), new Date(now).toISOString(), CERTIFICATE_WARNING_INTERVAL_MS, clientId],
    );
    if (event === null) return false;
    await this.dispatchOutboxOrLeavePending(clientId, [event]);
    return true;
  }

  /** Queues a client's outbox events, then removes them from its hash: the second step of updateClient-2.lua's. */
  async dispatchOutbox(clientId: string, eventJsons: string[]): Promise<void> {
    if (eventJsons.length === 0) return;
    const events = eventJsons.map((json) => JSON.parse(json) as WebhookEvent);
    for (const event of events) await this.enqueueEvent(event);
    const fields = events.map((event) => OUTBOX_FIELD + event.id);
    await this.connection.run((redis) => redis.hdel(this.keys.client(clientId), ...fields));
  }

  /** dispatchOutbox for a write that stands whatever happens here: false (the event stays in the outbox) on failure. */
  async dispatchOutboxOrLeavePending(clientId: string, eventJsons: string[]): Promise<boolean> {
    try {
      await this.dispatchOutbox(clientId, eventJsons);
      return true;
    } catch (error) {
      // The next write or claim of the client tries again.
      this.logger?.warn(
        { clientId, err: error instanceof Error ? error.message : String(error) },
        'could not queue a webhook event',
      );
      return false;
    }
  }

  /** The outbox events left in a client hash's fields (by a crash between the two steps). */
  static outboxOf(fields: Record<string, string>): string[] {
    return Object.keys(fields)
      .filter((field) => field.startsWith(OUTBOX_FIELD))
      .map((field) => fields[field]);
  }

  async claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<DeliveryRecord[]> {
    const { deliveriesDue, deliveries, webhooks, webhooksBusy } = this.keys;
    const claimed = await this.connection.script(
      'claimDeliveries',
      [deliveriesDue, deliveries, webhooks, webhooksBusy],
      [now, leaseUntil, limit, limit * CLAIM_SCAN_FACTOR],
    );
    return claimed.map((json) => JSON.parse(json) as DeliveryRecord);
  }

  async settleDelivery(id: string, expectedAttempts: number, result: DeliveryResult): Promise<boolean> {
    const nextAttemptAt = result.nextAttemptMs === null ? null : new Date(result.nextAttemptMs).toISOString();
    const { deliveries, deliveriesDue, webhooksBusy, deliveryLog, deliveriesSent, deliveriesSettled } = this.keys;
    const settled = await this.connection.script(
      'settleDelivery',
      [deliveries, deliveriesDue, webhooksBusy, deliveryLog, deliveriesSent, deliveriesSettled],
      [id, expectedAttempts, { ...result, nextAttemptAt, now: Date.now(), keep: DELIVERIES_KEPT_PER_WEBHOOK }],
    );
    return settled === 1;
  }

  async listDeliveries(webhookId: string, limit: number, beforeId?: string): Promise<DeliveryRecord[]> {
    const max = beforeId === undefined ? `[${webhookId}|~` : `(${webhookId}|${beforeId}`;
    const members = await this.connection.run((redis) =>
      redis.zrevrangebylex(this.keys.deliveryLog, max, `[${webhookId}|`, 'LIMIT', 0, limit),
    );
    if (members.length === 0) return [];
    const ids = members.map((member) => member.slice(webhookId.length + 1));
    const values = await this.connection.run((redis) => redis.hmget(this.keys.deliveries, ...ids));
    return values.flatMap((json) => (json === null ? [] : [JSON.parse(json) as DeliveryRecord]));
  }

  countPendingDeliveries(): Promise<number> {
    return this.connection.run((redis) => redis.zcard(this.keys.deliveriesDue));
  }
}
