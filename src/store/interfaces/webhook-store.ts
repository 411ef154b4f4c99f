import type { DeliveryRecord, DeliveryResult, WebhookEvent, WebhookRecord } from '../webhook.types';

/**
 * Webhooks and their delivery queue. Client events enter the outbox inside
 * updateClient (same step as the change of state), or inside
 * raiseCertificateExpiring (same step as its once-a-day guard); the store
 * moves them to one delivery per matching webhook, deduplicated by event id
 * and webhook id.
 * insertWebhook and deleteWebhook broadcast `{ kind: 'webhook' }`.
 */
export interface WebhookStore {
  insertWebhook(record: WebhookRecord): Promise<void>;
  getWebhook(id: string): Promise<WebhookRecord | null>;
  listWebhooks(): Promise<WebhookRecord[]>;
  /** Stores the secret sealed anew (key rotation), only if it still holds `expectedSealed`; false otherwise. */
  replaceWebhookSecret(id: string, expectedSealed: string, sealedSecret: string): Promise<boolean>;
  /** Its delivery records go with it; its queued deliveries are dropped at their next claim. */
  deleteWebhook(id: string): Promise<boolean>;
  /** Queues the event for every matching webhook, or only `onlyWebhookId`; answers how many deliveries were queued. */
  enqueueEvent(event: WebhookEvent, onlyWebhookId?: string): Promise<number>;
  /**
   * Records a `client.certificate_expiring` event of the client (its stored
   * name, state and certificateExpiresAt) and queues it for every matching
   * webhook, unless one was recorded for it less than
   * CERTIFICATE_WARNING_INTERVAL_MS before `now`, by any replica: the guard
   * and the record are one step. True when recorded; false when too soon or
   * there is no such client.
   */
  raiseCertificateExpiring(clientId: string, now: number): Promise<boolean>;
  /**
   * Pending deliveries due by `now`, in due order, leased until `leaseUntil`
   * (another replica takes one over when it lapses); at most one per webhook
   * in flight in the whole deployment, so a receiver gets its events in order
   * and a slow one holds one slot. settleDelivery frees the webhook.
   */
  claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<DeliveryRecord[]>;
  /**
   * Records an attempt of a claimed delivery; false (nothing written) when
   * its attempts are no longer `expectedAttempts` (another claim settled it).
   * When it ends (delivered or failed), the webhook's oldest settled
   * deliveries beyond its newest DELIVERIES_KEPT_PER_WEBHOOK settled ones are
   * dropped; pending ones are all kept.
   */
  settleDelivery(id: string, expectedAttempts: number, result: DeliveryResult): Promise<boolean>;
  /** A webhook's deliveries, newest first, older than `beforeId` when given. */
  listDeliveries(webhookId: string, limit: number, beforeId?: string): Promise<DeliveryRecord[]>;
  /** Deliveries waiting for an attempt (the tb_webhook_pending gauge). */
  countPendingDeliveries(): Promise<number>;
}
