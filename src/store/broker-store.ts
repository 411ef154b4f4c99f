import type { AuditStore } from './interfaces/audit-store';
import type { ClientStore } from './interfaces/client-store';
import type { LockStore } from './interfaces/lock-store';
import type { ScheduleStore } from './interfaces/schedule-store';
import type { ServiceKeyStore } from './interfaces/service-key-store';
import type { StoreBackend } from './interfaces/store-backend';
import type { StoreEventBus } from './interfaces/store-event-bus';
import type { UsageStore } from './interfaces/usage-store';
import type { WebhookStore } from './interfaces/webhook-store';

export type { AuditPageQuery, AuditStore } from './interfaces/audit-store';
export type { ClientChange, ClientPageQuery, ClientStore, UpdateOutcome } from './interfaces/client-store';
export type { HeldLock, LockedRead, LockStore } from './interfaces/lock-store';
export type { DueClaim, DueClient, ScheduleStore } from './interfaces/schedule-store';
export type { ServiceKeyStore } from './interfaces/service-key-store';
export type { StoreBackend } from './interfaces/store-backend';
export type { StoreEventBus } from './interfaces/store-event-bus';
export type { UsageKind, UsageStamps, UsageStore } from './interfaces/usage-store';
export type { WebhookStore } from './interfaces/webhook-store';

/** Injects the whole BrokerStore; a consumer may type its field as the narrow interface it uses. */
export const BROKER_STORE = Symbol('BROKER_STORE');

/** Thrown by a store whose backend cannot be reached; the API answers 503 store_unavailable. */
export class StoreUnavailableError extends Error {
  constructor(cause?: unknown) {
    super(`store unavailable${cause instanceof Error ? `: ${cause.message}` : ''}`);
    this.name = 'StoreUnavailableError';
  }
}

/** Thrown by insertClient when the workspace already has a client with that OAuth client id. */
export class DuplicateClientError extends Error {
  constructor(readonly existingId: string) {
    super('a client with this clientId already exists in this workspace');
    this.name = 'DuplicateClientError';
  }
}

/**
 * The store of record, one interface per concern. Redis in production,
 * process memory for a first run; both pass test/store-contract/. Every
 * method may throw StoreUnavailableError.
 */
export interface BrokerStore
  extends
    StoreBackend,
    ClientStore,
    ScheduleStore,
    LockStore,
    ServiceKeyStore,
    AuditStore,
    StoreEventBus,
    UsageStore,
    WebhookStore {}
