import type {
  AuditEvent,
  ClientEntry,
  ClientRecord,
  ClientStatus,
  ServiceKeyRecord,
  StoreEvent,
  StoredToken,
  TokenStats,
} from './store.types';

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

/** What updateClient writes; a field left undefined is left as it is. */
export interface ClientChange {
  client?: ClientRecord;
  status?: ClientStatus;
  /** null removes the held token. */
  token?: StoredToken | null;
}

export type UpdateOutcome = 'ok' | 'not_found' | 'stale';

export interface ClientPageQuery {
  workspaceId?: string;
  /** Return ids strictly greater than this one. */
  afterId?: string;
  limit: number;
}

/** A client taken from the schedule, with the time it was due (for refresh-lag figures). */
export interface DueClient {
  id: string;
  dueAt: number;
}

/** What one claim took, and when the earliest client it left behind is due (null: none is scheduled). */
export interface DueClaim {
  due: DueClient[];
  nextDueAt: number | null;
}

/** A refresh lock taken, with the client as it stood once the lock was held (null: no such client); or not taken. */
export type LockedRead = { locked: true; entry: ClientEntry | null } | { locked: false };

export interface AuditPageQuery {
  clientId?: string;
  workspaceId?: string;
  /** Return events strictly older than the event with this id. */
  beforeId?: string;
  limit: number;
}

/**
 * The store of record. Redis in production, process memory for a first run;
 * both pass test/store.contract.ts. Every method may throw StoreUnavailableError.
 *
 * Every successful updateClient and deleteClient broadcasts `{ kind: 'client' }`,
 * and insertServiceKey and deleteServiceKey `{ kind: 'service_key' }`, as part
 * of the write itself: a change that is stored cannot go unannounced.
 */
export interface BrokerStore {
  readonly kind: 'redis' | 'memory';

  /** Answers when the backend is reachable; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;

  // Clients. State counters (tokenStats) are kept by the store as entries change.
  /** Stores a new client, due for its first refresh at `dueAt`. */
  insertClient(entry: ClientEntry, dueAt: number): Promise<void>;
  getClient(id: string): Promise<ClientEntry | null>;
  /** Ascending by id, optionally only one workspace. */
  listClients(query: ClientPageQuery): Promise<ClientEntry[]>;
  /** Every client id, ascending, in pages; for maintenance commands such as key re-encryption. */
  listClientIds(afterId: string | undefined, limit: number): Promise<string[]>;
  /**
   * Applies the change only when the stored client's generation equals
   * expectedGeneration ('stale' otherwise, 'not_found' when there is no such client).
   * With `releaseLockOf`, the refresh lock that owner holds is released in the
   * same step, whatever the outcome: a refresh ends with one write.
   */
  updateClient(id: string, expectedGeneration: number, change: ClientChange, releaseLockOf?: string): Promise<UpdateOutcome>;
  /** Removes the client, its token, its schedule entry and its lock; returns what was removed. */
  deleteClient(id: string): Promise<ClientEntry | null>;
  tokenStats(failingLimit: number): Promise<TokenStats>;

  // Refresh schedule: one due time per client.
  setDue(id: string, dueAt: number): Promise<void>;
  removeDue(id: string): Promise<void>;
  /**
   * Atomically takes up to `limit` clients due at or before `now` and pushes
   * their due time to `leaseUntil`, so other replicas do not take them again
   * unless the taker dies before rescheduling them. Also tells when the
   * earliest client left in the schedule is due, so the caller can sleep until then.
   */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim>;

  // One refresher per client across replicas.
  /**
   * Takes the client's refresh lock for `ttlMs` when nobody holds it and, in
   * the same step, reads the client: what the holder sees is never older than
   * the lock, so it cannot act on a token another replica replaced just before.
   */
  lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead>;
  /** Pushes the expiry of a lock `owner` still holds to `ttlMs` from now; false when it no longer holds it. */
  extendLock(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases only when `owner` still holds it. */
  releaseLock(id: string, owner: string): Promise<boolean>;

  // Service keys.
  insertServiceKey(record: ServiceKeyRecord): Promise<void>;
  getServiceKey(id: string): Promise<ServiceKeyRecord | null>;
  listServiceKeys(): Promise<ServiceKeyRecord[]>;
  deleteServiceKey(id: string): Promise<boolean>;

  // Audit events: a capped log, newest first.
  appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent>;
  listAudit(query: AuditPageQuery): Promise<AuditEvent[]>;

  // Broadcast to all replicas (including this one).
  publish(event: StoreEvent): Promise<void>;
  /**
   * `onEvent` receives every published event; `onResync` is called when
   * events may have been missed (the subscription reconnected), so caches
   * must drop everything.
   */
  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void;

  close(): Promise<void>;
}
