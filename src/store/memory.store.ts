import {
  DuplicateClientError,
  type AuditPageQuery,
  type BrokerStore,
  type ClientChange,
  type ClientPageQuery,
  type DueClaim,
  type HeldLock,
  type LockedRead,
  type UpdateOutcome,
  type UsageKind,
  type UsageStamps,
} from './broker-store';
import type { AuditEvent, ClientEntry, ClientState, ServiceKeyRecord, StoreEvent, TokenStats } from './store.types';
import {
  compareStreamIds,
  deliver,
  matchesAuditQuery,
  parseStreamId,
  sortServiceKeys,
  type StoreLogger,
} from './store-helpers';
import { MemoryClients } from './memory/memory-clients';
import { DueSchedule, StreamIdClock } from './memory/memory-indexes';
import { MemoryUsage } from './memory/memory-usage';
import { MemoryWebhooks } from './memory/memory-webhooks';
import {
  CERTIFICATE_EXPIRING,
  CERTIFICATE_WARNING_INTERVAL_MS,
  clientEventType,
  type DeliveryRecord,
  type DeliveryResult,
  type WebhookEvent,
  type WebhookEventData,
  type WebhookRecord,
} from './webhook.types';

interface Subscription {
  onEvent: (event: StoreEvent) => void;
  onResync: () => void;
}

/**
 * The store for a single process: nothing is shared with other replicas and
 * nothing survives a restart. It keeps the same indexes and counters as
 * RedisStore so that both behave alike under test/store-contract/; values
 * are cloned on the way in and out so callers never share state with it.
 */
export class MemoryStore implements BrokerStore {
  readonly kind = 'memory' as const;

  private readonly clients = new MemoryClients();
  private readonly schedule = new DueSchedule();
  private readonly locks = new Map<string, { owner: string; expiresAt: number }>();
  private readonly serviceKeys = new Map<string, ServiceKeyRecord>();
  private readonly auditEvents: AuditEvent[] = [];
  private readonly auditIds = new StreamIdClock();
  private readonly usage = new MemoryUsage();
  private readonly webhooks = new MemoryWebhooks();
  /** Numbers the events this store raises. */
  private eventSequence = 0;
  /** Client id -> epoch ms of its last certificate_expiring event (the Redis store keeps it in the client hash). */
  private readonly certificateWarnedAt = new Map<string, number>();
  private subscriptions: Subscription[] = [];

  constructor(private readonly options: { logger?: StoreLogger } = {}) {}

  async ping(): Promise<void> {}

  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    this.clients.insert(entry);
    this.schedule.set(entry.client.id, dueAt);
  }

  async insertClients(entries: readonly ClientEntry[], dueAt: number): Promise<(DuplicateClientError | null)[]> {
    const outcomes: (DuplicateClientError | null)[] = [];
    for (const entry of entries) {
      try {
        await this.insertClient(entry, dueAt);
        outcomes.push(null);
      } catch (error) {
        if (!(error instanceof DuplicateClientError)) throw error;
        outcomes.push(error);
      }
    }
    return outcomes;
  }

  async getClient(id: string): Promise<ClientEntry | null> {
    return this.clients.get(id);
  }

  async listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    return this.clients.list(query);
  }

  async listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.clients.idsAfter(afterId, limit);
  }

  async updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
    dueAt?: number,
  ): Promise<UpdateOutcome> {
    if (releaseLockOf !== undefined) this.releaseHeldLock(id, releaseLockOf);
    if (dueAt !== undefined) this.schedule.set(id, dueAt);
    const entry = this.clients.stored(id);
    if (!entry) return 'not_found';
    if (entry.client.generation !== expectedGeneration) return 'stale';
    const leftState = this.clients.applyChange(entry, change);
    // In the same step as the change, as on Redis: nothing can stop in between here.
    if (leftState !== null) this.raiseClientEvent(entry, leftState);
    await this.publish({ kind: 'client', id });
    return 'ok';
  }

  async deleteClient(id: string): Promise<ClientEntry | null> {
    const entry = this.clients.delete(id);
    if (!entry) return null;
    this.schedule.delete(id);
    this.locks.delete(id);
    this.certificateWarnedAt.delete(id);
    await this.publish({ kind: 'client', id });
    return entry;
  }

  async tokenStats(failingLimit: number): Promise<TokenStats> {
    return { ...this.clients.stats(failingLimit), nextDueAt: this.schedule.earliest() };
  }

  async setDue(id: string, dueAt: number): Promise<void> {
    this.schedule.set(id, dueAt);
  }

  async removeDue(id: string): Promise<void> {
    this.schedule.delete(id);
  }

  async deferDue(ids: readonly string[], from: number, until: number): Promise<number> {
    let moved = 0;
    for (const id of ids) {
      if (this.schedule.dueAt(id) !== from) continue;
      this.schedule.set(id, until);
      moved += 1;
    }
    return moved;
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim> {
    const due = this.schedule.claim(now, leaseUntil, limit);
    return { due, nextDueAt: this.schedule.earliest() };
  }

  async lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead> {
    const held = this.locks.get(id);
    if (held && held.expiresAt > Date.now()) return { locked: false };
    this.locks.set(id, { owner, expiresAt: Date.now() + ttlMs });
    return { locked: true, entry: await this.getClient(id) };
  }

  async extendLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = this.locks.get(id);
    if (!held || held.owner !== owner || held.expiresAt <= Date.now()) return false;
    held.expiresAt = Date.now() + ttlMs;
    return true;
  }

  async extendLocks(locks: HeldLock[], ttlMs: number): Promise<string[]> {
    const lost: string[] = [];
    for (const { id, owner } of locks) if (!(await this.extendLock(id, owner, ttlMs))) lost.push(id);
    return lost;
  }

  async releaseLock(id: string, owner: string): Promise<boolean> {
    return this.releaseHeldLock(id, owner);
  }

  async insertServiceKey(record: ServiceKeyRecord): Promise<void> {
    this.serviceKeys.set(record.id, structuredClone(record));
    await this.publish({ kind: 'service_key', id: record.id });
  }

  async getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    const record = this.serviceKeys.get(id);
    return record ? structuredClone(record) : null;
  }

  async listServiceKeys(): Promise<ServiceKeyRecord[]> {
    return sortServiceKeys([...this.serviceKeys.values()].map((record) => structuredClone(record)));
  }

  async deleteServiceKey(id: string): Promise<boolean> {
    const deleted = this.serviceKeys.delete(id);
    if (deleted) await this.publish({ kind: 'service_key', id });
    return deleted;
  }

  async appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent> {
    const stored: AuditEvent = { id: this.auditIds.next(), ...structuredClone(event) };
    this.auditEvents.push(stored);
    if (this.auditEvents.length > maxEvents) this.auditEvents.splice(0, this.auditEvents.length - maxEvents);
    return structuredClone(stored);
  }

  async appendAudits(events: readonly Omit<AuditEvent, 'id'>[], maxEvents: number): Promise<AuditEvent[]> {
    const stored: AuditEvent[] = [];
    for (const event of events) stored.push(await this.appendAudit(event, maxEvents));
    return stored;
  }

  async listAudit(query: AuditPageQuery): Promise<AuditEvent[]> {
    const before = query.beforeId === undefined ? null : parseStreamId(query.beforeId);
    const page: AuditEvent[] = [];
    for (let index = this.auditEvents.length - 1; index >= 0 && page.length < query.limit; index -= 1) {
      const event = this.auditEvents[index];
      if (before && compareStreamIds(parseStreamId(event.id), before) >= 0) continue;
      if (matchesAuditQuery(event, query)) page.push(structuredClone(event));
    }
    return page;
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

  async insertWebhook(record: WebhookRecord): Promise<void> {
    this.webhooks.insert(record);
    await this.publish({ kind: 'webhook', id: record.id });
  }

  async getWebhook(id: string): Promise<WebhookRecord | null> {
    return this.webhooks.get(id);
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return this.webhooks.list();
  }

  async replaceWebhookSecret(id: string, expectedSealed: string, sealedSecret: string): Promise<boolean> {
    return this.webhooks.replaceSecret(id, expectedSealed, sealedSecret);
  }

  async deleteWebhook(id: string): Promise<boolean> {
    const deleted = this.webhooks.delete(id);
    await this.publish({ kind: 'webhook', id });
    return deleted;
  }

  async enqueueEvent(event: WebhookEvent, onlyWebhookId?: string): Promise<number> {
    return this.webhooks.enqueue(structuredClone(event), onlyWebhookId);
  }

  async raiseCertificateExpiring(clientId: string, now: number): Promise<boolean> {
    const entry = this.clients.stored(clientId);
    const warnedAt = this.certificateWarnedAt.get(clientId);
    if (!entry || (warnedAt !== undefined && now - warnedAt < CERTIFICATE_WARNING_INTERVAL_MS)) return false;
    this.certificateWarnedAt.set(clientId, now);
    const { client } = entry;
    const certificateExpiresAt = (client.type === 'oauth_client_credentials' && client.certificateExpiresAt) || null;
    this.webhooks.enqueue({
      id: `evt_${clientId}_cert_${now}`,
      type: CERTIFICATE_EXPIRING,
      timestamp: new Date(now).toISOString(),
      data: { ...eventData(entry), certificateExpiresAt },
    });
    return true;
  }

  async claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<DeliveryRecord[]> {
    return this.webhooks.claim(now, leaseUntil, limit);
  }

  async settleDelivery(id: string, expectedAttempts: number, result: DeliveryResult): Promise<boolean> {
    return this.webhooks.settle(id, expectedAttempts, result);
  }

  async listDeliveries(webhookId: string, limit: number, beforeId?: string): Promise<DeliveryRecord[]> {
    return this.webhooks.listDeliveries(webhookId, limit, beforeId);
  }

  async countPendingDeliveries(): Promise<number> {
    return this.webhooks.pending();
  }

  async publish(event: StoreEvent): Promise<void> {
    const message = structuredClone(event);
    // Delivered on the next tick, as Redis would, so a subscriber never runs inside the publisher's call.
    process.nextTick(() => {
      for (const subscription of this.subscriptions) {
        deliver(subscription.onEvent, structuredClone(message), this.options.logger);
      }
    });
  }

  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void {
    this.subscriptions.push({ onEvent, onResync });
  }

  async close(): Promise<void> {
    this.subscriptions = [];
  }

  private releaseHeldLock(id: string, owner: string): boolean {
    const held = this.locks.get(id);
    if (!held || held.owner !== owner || held.expiresAt <= Date.now()) return false;
    this.locks.delete(id);
    return true;
  }

  private raiseClientEvent({ client, status }: ClientEntry, previousState: ClientState): void {
    const type = clientEventType(previousState, status.state);
    if (type === null) return;
    this.eventSequence += 1;
    this.webhooks.enqueue({
      id: `evt_${client.id}_${this.eventSequence}`,
      type,
      timestamp: new Date().toISOString(),
      data: eventData({ client, status }),
    });
  }
}

/** What every client event tells a receiver about the client. */
function eventData({ client, status }: Pick<ClientEntry, 'client' | 'status'>): WebhookEventData {
  const { state, lastError, failingSince } = status;
  return { clientId: client.id, workspaceId: client.workspaceId, name: client.name, state, lastError, failingSince };
}
