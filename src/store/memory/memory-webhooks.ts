import {
  DELIVERIES_KEPT_PER_WEBHOOK,
  deliveryBody,
  webhookWants,
  type DeliveryRecord,
  type DeliveryResult,
  type WebhookEvent,
  type WebhookRecord,
} from '../webhook.types';

/**
 * Webhooks and their delivery queue in process memory, with the same
 * contract as RedisWebhookStore: deliveries are keyed by webhook and event,
 * claimed with a lease and settled fenced on their attempts. Lost on restart.
 */
export class MemoryWebhooks {
  private readonly webhooks = new Map<string, WebhookRecord>();
  /** Delivery id -> record; ids grow, so insertion order is age order. */
  private readonly deliveries = new Map<string, DeliveryRecord>();
  /** Pending delivery id -> its next attempt (or lease end), epoch ms. */
  private readonly due = new Map<string, number>();
  /** "<webhook id>|<event id>" already queued. */
  private readonly sent = new Set<string>();
  /** Webhook id -> epoch ms its one attempt in flight is leased until. */
  private readonly busy = new Map<string, number>();
  private sequence = 0;

  insert(record: WebhookRecord): void {
    this.webhooks.set(record.id, structuredClone(record));
  }

  get(id: string): WebhookRecord | null {
    const record = this.webhooks.get(id);
    return record ? structuredClone(record) : null;
  }

  list(): WebhookRecord[] {
    return [...this.webhooks.values()]
      .map((record) => structuredClone(record))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  replaceSecret(id: string, expectedSealed: string, sealedSecret: string): boolean {
    const record = this.webhooks.get(id);
    if (!record || record.sealedSecret !== expectedSealed) return false;
    record.sealedSecret = sealedSecret;
    return true;
  }

  /** With its delivery records, as deleteWebhook-6.lua does; its queued ones leave `due` at their next claim. */
  delete(id: string): boolean {
    for (const record of this.deliveries.values()) {
      if (record.webhookId !== id) continue;
      this.deliveries.delete(record.id);
      this.sent.delete(`${id}|${record.eventId}`);
    }
    this.busy.delete(id);
    return this.webhooks.delete(id);
  }

  enqueue(event: WebhookEvent, onlyWebhookId?: string): number {
    const now = Date.now();
    let queued = 0;
    for (const webhook of this.webhooks.values()) {
      const sentKey = `${webhook.id}|${event.id}`;
      if (!webhookWants(webhook, event, onlyWebhookId) || this.sent.has(sentKey)) continue;
      this.sequence += 1;
      const id = `dlv_${String(this.sequence).padStart(16, '0')}`;
      this.sent.add(sentKey);
      const nowIso = new Date(now).toISOString();
      this.deliveries.set(id, {
        id,
        webhookId: webhook.id,
        eventId: event.id,
        type: event.type,
        body: deliveryBody(event),
        attempts: 0,
        state: 'pending',
        lastStatus: null,
        lastAttemptAt: null,
        nextAttemptAt: nowIso,
        createdAt: nowIso,
      });
      this.due.set(id, now);
      queued += 1;
    }
    return queued;
  }

  claim(now: number, leaseUntil: number, limit: number): DeliveryRecord[] {
    const dueIds = [...this.due.entries()]
      .filter(([, dueAt]) => dueAt <= now)
      .sort(([idA, a], [idB, b]) => a - b || (idA < idB ? -1 : 1))
      .map(([id]) => id);
    const claimed: DeliveryRecord[] = [];
    for (const id of dueIds) {
      if (claimed.length >= limit) break;
      const record = this.deliveries.get(id);
      if (!record || record.state !== 'pending' || !this.webhooks.has(record.webhookId)) {
        this.due.delete(id);
        continue;
      }
      const busyUntil = this.busy.get(record.webhookId) ?? 0;
      if (busyUntil > now) {
        // Parked at the busy webhook's lease end, out of the others' way; settle makes it due again.
        this.due.set(id, busyUntil);
        continue;
      }
      this.busy.set(record.webhookId, leaseUntil);
      this.due.set(id, leaseUntil);
      claimed.push(structuredClone(record));
    }
    return claimed;
  }

  settle(id: string, expectedAttempts: number, result: DeliveryResult): boolean {
    const record = this.deliveries.get(id);
    if (!record || record.state !== 'pending' || record.attempts !== expectedAttempts) return false;
    const parkedAt = this.busy.get(record.webhookId);
    this.busy.delete(record.webhookId);
    for (const [otherId, dueAt] of this.due) {
      const other = this.deliveries.get(otherId);
      if (dueAt === parkedAt && otherId !== id && other?.webhookId === record.webhookId)
        this.due.set(otherId, Date.now());
    }
    record.attempts += 1;
    record.state = result.state;
    record.lastStatus = result.lastStatus;
    record.lastAttemptAt = result.lastAttemptAt;
    record.nextAttemptAt = result.nextAttemptMs === null ? null : new Date(result.nextAttemptMs).toISOString();
    if (result.state === 'pending' && result.nextAttemptMs !== null) {
      this.due.set(id, result.nextAttemptMs);
    } else {
      this.due.delete(id);
      this.trim(record.webhookId);
    }
    return true;
  }

  /** Drops the webhook's oldest settled deliveries beyond the newest kept, as settleDelivery-6.lua does. */
  private trim(webhookId: string): void {
    const settled = [...this.deliveries.values()].filter(
      (record) => record.webhookId === webhookId && record.state !== 'pending',
    );
    for (const record of settled.slice(0, Math.max(0, settled.length - DELIVERIES_KEPT_PER_WEBHOOK))) {
      this.deliveries.delete(record.id);
      this.sent.delete(`${webhookId}|${record.eventId}`);
    }
  }

  listDeliveries(webhookId: string, limit: number, beforeId?: string): DeliveryRecord[] {
    return [...this.deliveries.values()]
      .filter((record) => record.webhookId === webhookId && (beforeId === undefined || record.id < beforeId))
      .reverse()
      .slice(0, limit)
      .map((record) => structuredClone(record));
  }

  pending(): number {
    return this.due.size;
  }
}
