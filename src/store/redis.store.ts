import type {
  AuditPageQuery,
  BrokerStore,
  ClientChange,
  ClientPageQuery,
  DueClaim,
  DuplicateClientError,
  HeldLock,
  LockedRead,
  UpdateOutcome,
} from './broker-store';
import { RedisAuditStore } from './redis/redis-audit.store';
import { RedisClientStore } from './redis/redis-client.store';
import { RedisCounters } from './redis/redis-counters';
import { failpointAt, type FailpointName } from './redis/failpoint';
import { CONNECT_TIMEOUT_MS, RedisConnection, type RedisConnectionOptions } from './redis/redis-connection';
import { RedisEventBus } from './redis/redis-event-bus';
import { RedisLockStore } from './redis/redis-lock.store';
import { RedisScheduleStore } from './redis/redis-schedule.store';
import { RedisServiceKeyStore } from './redis/redis-service-key.store';
import type { AuditEvent, ClientEntry, ServiceKeyRecord, StoreEvent, TokenStats } from './store.types';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** TEST ONLY (TEST_FAILPOINT): where the process stops so a test can kill it there. */
  failpoint?: FailpointName | null;
}

/**
 * The store of record on Redis (or anything speaking its protocol): one part
 * per concern (src/store/redis/), sharing one command connection; the events
 * have a connection of their own. Scripts are the .lua files of src/store/lua.
 * Every failure to reach Redis surfaces as StoreUnavailableError.
 */
export class RedisStore implements BrokerStore {
  readonly kind = 'redis' as const;

  private readonly connection: RedisConnection;
  private readonly counters: RedisCounters;
  private readonly clients: RedisClientStore;
  private readonly schedule: RedisScheduleStore;
  private readonly locks: RedisLockStore;
  private readonly serviceKeys: RedisServiceKeyStore;
  private readonly audit: RedisAuditStore;
  private readonly events: RedisEventBus;

  /** Starts connecting in the background; see connect() to wait for the first connection. */
  constructor(options: RedisStoreOptions) {
    this.connection = new RedisConnection(options);
    this.counters = new RedisCounters(this.connection, options.logger);
    this.clients = new RedisClientStore(
      this.connection,
      this.counters,
      failpointAt(options.failpoint ?? null, options.logger),
    );
    this.schedule = new RedisScheduleStore(this.connection, this.counters);
    this.locks = new RedisLockStore(this.connection, this.counters);
    this.serviceKeys = new RedisServiceKeyStore(this.connection);
    this.audit = new RedisAuditStore(this.connection);
    this.events = new RedisEventBus(this.connection, options);
  }

  /**
   * Creates the store and waits up to the connect timeout for Redis. Never
   * throws for an unreachable Redis: the service starts, reports not-ready,
   * and the store keeps reconnecting.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    if (!(await store.connection.waitForConnection(CONNECT_TIMEOUT_MS))) {
      options.logger?.warn({}, 'Redis is not reachable yet; the store keeps reconnecting');
    } else {
      // Otherwise the first tokenStats does it.
      await store.counters.rebuildOnce().catch(() => undefined);
    }
    return store;
  }

  async ping(): Promise<void> {
    await this.connection.run((redis) => redis.ping());
  }

  async close(): Promise<void> {
    await Promise.all([this.connection.close(), this.events.close()]);
  }

  insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    return this.clients.insertClient(entry, dueAt);
  }
  insertClients(entries: readonly ClientEntry[], dueAt: number): Promise<(DuplicateClientError | null)[]> {
    return this.clients.insertClients(entries, dueAt);
  }
  getClient(id: string): Promise<ClientEntry | null> {
    return this.clients.getClient(id);
  }
  listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    return this.clients.listClients(query);
  }
  listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.clients.listClientIds(afterId, limit);
  }
  updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
  ): Promise<UpdateOutcome> {
    return this.clients.updateClient(id, expectedGeneration, change, releaseLockOf);
  }
  deleteClient(id: string): Promise<ClientEntry | null> {
    return this.clients.deleteClient(id);
  }
  tokenStats(failingLimit: number): Promise<TokenStats> {
    return this.clients.tokenStats(failingLimit);
  }

  setDue(id: string, dueAt: number): Promise<void> {
    return this.schedule.setDue(id, dueAt);
  }
  removeDue(id: string): Promise<void> {
    return this.schedule.removeDue(id);
  }
  claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim> {
    return this.schedule.claimDue(now, leaseUntil, limit);
  }

  lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead> {
    return this.locks.lockAndRead(id, owner, ttlMs);
  }
  extendLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.locks.extendLock(id, owner, ttlMs);
  }
  extendLocks(locks: HeldLock[], ttlMs: number): Promise<string[]> {
    return this.locks.extendLocks(locks, ttlMs);
  }
  releaseLock(id: string, owner: string): Promise<boolean> {
    return this.locks.releaseLock(id, owner);
  }

  insertServiceKey(record: ServiceKeyRecord): Promise<void> {
    return this.serviceKeys.insertServiceKey(record);
  }
  getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    return this.serviceKeys.getServiceKey(id);
  }
  listServiceKeys(): Promise<ServiceKeyRecord[]> {
    return this.serviceKeys.listServiceKeys();
  }
  deleteServiceKey(id: string): Promise<boolean> {
    return this.serviceKeys.deleteServiceKey(id);
  }

  appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent> {
    return this.audit.appendAudit(event, maxEvents);
  }
  appendAudits(events: readonly Omit<AuditEvent, 'id'>[], maxEvents: number): Promise<AuditEvent[]> {
    return this.audit.appendAudits(events, maxEvents);
  }
  listAudit(query: AuditPageQuery): Promise<AuditEvent[]> {
    return this.audit.listAudit(query);
  }

  publish(event: StoreEvent): Promise<void> {
    return this.events.publish(event);
  }
  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void {
    this.events.subscribe(onEvent, onResync);
  }
}
