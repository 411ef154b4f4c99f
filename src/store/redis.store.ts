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
  UsageKind,
  UsageStamps,
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
import { RedisUsageStore } from './redis/redis-usage.store';
import { RedisWebhookStore } from './redis/redis-webhook.store';
import type { AuditEvent, ClientEntry, ServiceKeyRecord, StoreEvent, TokenStats } from './store.types';
import type { DeliveryRecord, DeliveryResult, WebhookEvent, WebhookRecord } from './webhook.types';

export type RedisStoreOptions = RedisConnectionOptions & {
  /** TEST ONLY (TEST_FAILPOINT): where the process stops so a test can kill it there. */
  failpoint?: FailpointName | null;
};

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
  private readonly usage: RedisUsageStore;
  private readonly events: RedisEventBus;
  private readonly webhooks: RedisWebhookStore;

  /** Starts connecting in the background; see connect() to wait for the first connection. */
  constructor(options: RedisStoreOptions) {
    this.connection = new RedisConnection(options);
    this.counters = new RedisCounters(this.connection, options.logger);
    this.webhooks = new RedisWebhookStore(this.connection, options.logger);
    this.clients = new RedisClientStore(
      this.connection,
      this.counters,
      this.webhooks,
      failpointAt(options.failpoint ?? null, options.logger),
    );
    this.schedule = new RedisScheduleStore(this.connection, this.counters);
    this.locks = new RedisLockStore(this.connection, this.counters, this.webhooks);
    this.serviceKeys = new RedisServiceKeyStore(this.connection);
    this.audit = new RedisAuditStore(this.connection);
    this.usage = new RedisUsageStore(this.connection);
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
      // Otherwise the first tokenStats does it, and the first claim moves the schedule.
      await store.counters.rebuildOnce().catch(() => undefined);
      await store.schedule.migrateLegacySchedule().catch(() => undefined);
    }
    return store;
  }

  async ping(): Promise<void> {
    await this.connection.run((redis) => redis.ping());
  }

  async close(): Promise<void> {
    await Promise.all([this.connection.close(), this.events.close()]);
  }

  /** Admin writes wait for REDIS_WAIT_REPLICAS on every node they wrote: the client's, and its schedule shard's. */
  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    await this.clients.insertClient(entry, dueAt);
    await this.waitForReplicasOf(entry.client.id);
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
  /** A refresh's write (it releases its lock) does not wait for replicas; an admin's does. */
  async updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
    dueAt?: number,
  ): Promise<UpdateOutcome> {
    const outcome = await this.clients.updateClient(id, expectedGeneration, change, releaseLockOf, dueAt);
    if (outcome === 'ok' && releaseLockOf === undefined) await this.waitForReplicasOf(id);
    return outcome;
  }
  async deleteClient(id: string): Promise<ClientEntry | null> {
    const removed = await this.clients.deleteClient(id);
    if (removed !== null) await this.waitForReplicasOf(id);
    return removed;
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
  deferDue(ids: readonly string[], from: number, until: number): Promise<number> {
    return this.schedule.deferDue(ids, from, until);
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

  async insertServiceKey(record: ServiceKeyRecord): Promise<void> {
    await this.serviceKeys.insertServiceKey(record);
    await this.connection.waitForReplicas([this.connection.keys.serviceKeys]);
  }
  getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    return this.serviceKeys.getServiceKey(id);
  }
  listServiceKeys(): Promise<ServiceKeyRecord[]> {
    return this.serviceKeys.listServiceKeys();
  }
  async deleteServiceKey(id: string): Promise<boolean> {
    const deleted = await this.serviceKeys.deleteServiceKey(id);
    await this.connection.waitForReplicas([this.connection.keys.serviceKeys]);
    return deleted;
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

  recordUsage(stamps: UsageStamps): Promise<void> {
    return this.usage.recordUsage(stamps);
  }
  lastUsage(kind: UsageKind, ids: readonly string[]): Promise<(number | null)[]> {
    return this.usage.lastUsage(kind, ids);
  }
  forgetUsage(kind: UsageKind, ids: readonly string[]): Promise<void> {
    return this.usage.forgetUsage(kind, ids);
  }

  insertWebhook(record: WebhookRecord): Promise<void> {
    return this.webhooks.insertWebhook(record);
  }
  getWebhook(id: string): Promise<WebhookRecord | null> {
    return this.webhooks.getWebhook(id);
  }
  listWebhooks(): Promise<WebhookRecord[]> {
    return this.webhooks.listWebhooks();
  }
  replaceWebhookSecret(id: string, expectedSealed: string, sealedSecret: string): Promise<boolean> {
    return this.webhooks.replaceWebhookSecret(id, expectedSealed, sealedSecret);
  }
  deleteWebhook(id: string): Promise<boolean> {
    return this.webhooks.deleteWebhook(id);
  }
  enqueueEvent(event: WebhookEvent, onlyWebhookId?: string): Promise<number> {
    return this.webhooks.enqueueEvent(event, onlyWebhookId);
  }
  raiseCertificateExpiring(clientId: string, now: number): Promise<boolean> {
    return this.webhooks.raiseCertificateExpiring(clientId, now);
  }
  claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<DeliveryRecord[]> {
    return this.webhooks.claimDeliveries(now, leaseUntil, limit);
  }
  settleDelivery(id: string, expectedAttempts: number, result: DeliveryResult): Promise<boolean> {
    return this.webhooks.settleDelivery(id, expectedAttempts, result);
  }
  listDeliveries(webhookId: string, limit: number, beforeId?: string): Promise<DeliveryRecord[]> {
    return this.webhooks.listDeliveries(webhookId, limit, beforeId);
  }
  countPendingDeliveries(): Promise<number> {
    return this.webhooks.countPendingDeliveries();
  }

  private waitForReplicasOf(id: string): Promise<void> {
    const { keys } = this.connection;
    return this.connection.waitForReplicas([keys.client(id), keys.schedule(id)]);
  }

  publish(event: StoreEvent): Promise<void> {
    return this.events.publish(event);
  }
  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void {
    this.events.subscribe(onEvent, onResync);
  }
}
