import type { ClientState } from './store.types';

/** The events a client's change of state raises (SPEC "Webhooks"). */
export const STATE_EVENT_TYPES = ['client.failing', 'client.rejected', 'client.recovered'] as const;
export type StateEventType = (typeof STATE_EVENT_TYPES)[number];
/** Raised by a refresh of a tls_client_auth client whose certificate nears its end, at most once a day. */
export const CERTIFICATE_EXPIRING = 'client.certificate_expiring';
/** Every event a webhook may subscribe to. */
export const CLIENT_EVENT_TYPES = [...STATE_EVENT_TYPES, CERTIFICATE_EXPIRING] as const;
export type ClientEventType = (typeof CLIENT_EVENT_TYPES)[number];
export type WebhookEventType = ClientEventType | 'webhook.test';
/** A client's certificate_expiring event is recorded at most once in this long, across replicas. */
export const CERTIFICATE_WARNING_INTERVAL_MS = 24 * 60 * 60 * 1000;
/** A webhook keeps this many of its newest settled (delivered or failed) deliveries, besides its pending ones. */
export const DELIVERIES_KEPT_PER_WEBHOOK = 1000;

export interface WebhookRecord {
  id: string;
  url: string;
  /** Event types, or ['*']. */
  events: string[];
  /** Workspace ids, or ['*']. */
  workspaces: string[];
  /** The signing secret (`whsec_...`), sealed with SecretBox. */
  sealedSecret: string;
  createdAt: string;
}

/** What a webhook's receiver is told about a client: nothing secret. */
export interface WebhookEventData {
  clientId: string | null;
  workspaceId: string | null;
  name: string | null;
  state: ClientState | null;
  lastError: string | null;
  failingSince: string | null;
  /** client.certificate_expiring only: the certificate's notAfter (ISO 8601). */
  certificateExpiresAt?: string | null;
}

/** One event of the outbox: written in the same step as the change that caused it. */
export interface WebhookEvent {
  /** Unique per event; sent as `webhook-id`, the same on every attempt. */
  id: string;
  type: WebhookEventType;
  /** ISO 8601, when it happened. */
  timestamp: string;
  data: WebhookEventData;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One event to one webhook, with its attempts so far. */
export interface DeliveryRecord {
  id: string;
  webhookId: string;
  eventId: string;
  type: WebhookEventType;
  /** The exact body sent on every attempt: `{ type, timestamp, data }` as JSON. */
  body: string;
  attempts: number;
  state: DeliveryState;
  lastStatus: number | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

/** How an attempt ended: `pending` with the next attempt's time, or a final state. */
export interface DeliveryResult {
  state: DeliveryState;
  lastStatus: number | null;
  lastAttemptAt: string;
  /** Epoch ms of the next attempt (state pending only). */
  nextAttemptMs: number | null;
}

/**
 * The event a client's move from `from` to `to` raises, if any: entered
 * failing, entered rejected, or back to ready from either. The Redis store's
 * updateClient-2.lua applies the same rule.
 */
export function clientEventType(from: ClientState, to: ClientState): StateEventType | null {
  if (from === to) return null;
  if (to === 'failing') return 'client.failing';
  if (to === 'rejected') return 'client.rejected';
  if (to === 'ready' && (from === 'failing' || from === 'rejected')) return 'client.recovered';
  return null;
}

/** Whether a webhook wants this event: its type and its workspace both match. */
export function webhookWants(webhook: WebhookRecord, event: WebhookEvent, onlyWebhookId?: string): boolean {
  if (onlyWebhookId !== undefined) return webhook.id === onlyWebhookId;
  if (event.type === 'webhook.test') return false;
  const typeMatches = webhook.events.includes('*') || webhook.events.includes(event.type);
  const workspace = event.data.workspaceId;
  const workspaceMatches =
    webhook.workspaces.includes('*') || (workspace !== null && webhook.workspaces.includes(workspace));
  return typeMatches && workspaceMatches;
}

/** The body every attempt sends, fixed when the delivery is queued. */
export function deliveryBody(event: WebhookEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
}
