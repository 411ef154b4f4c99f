import {
  DuplicateClientError,
  type AuditPageQuery,
  type BrokerStore,
  type ClientChange,
  type ClientPageQuery,
  type DueClaim,
  type DueClient,
  type LockedRead,
  type UpdateOutcome,
} from './broker-store';
import {
  CLIENT_STATES,
  type AuditEvent,
  type ClientEntry,
  type ClientState,
  type ClientStatus,
  type ServiceKeyRecord,
  type StoreEvent,
  type TokenStats,
} from './store.types';
import {
  assertSameIdentity,
  compareStreamIds,
  deliver,
  failingScore,
  isFailingState,
  matchesAuditQuery,
  parseStreamId,
  sortServiceKeys,
  type StoreLogger,
} from './store-helpers';

interface Subscription {
  onEvent: (event: StoreEvent) => void;
  onResync: () => void;
}

/**
 * The store for a single process: nothing is shared with other replicas and
 * nothing survives a restart. It keeps the same indexes and counters as
 * RedisStore so that both behave alike under test/store.contract.ts; values
 * are cloned on the way in and out so callers never share state with it.
 */
export class MemoryStore implements BrokerStore {
  readonly kind = 'memory' as const;

  private readonly clients = new Map<string, ClientEntry>();
  private readonly allIds = new SortedIds();
  private readonly idsByWorkspace = new Map<string, SortedIds>();
  /** workspaceId -> OAuth client id -> broker client id. */
  private readonly oauthClientIds = new Map<string, Map<string, string>>();
  private readonly stateCounts = emptyStateCounts();
  /** Failing or rejected client id -> when it started failing (epoch ms). */
  private readonly failingSince = new Map<string, number>();
  private readonly schedule = new DueSchedule();
  private readonly locks = new Map<string, { owner: string; expiresAt: number }>();
  private readonly serviceKeys = new Map<string, ServiceKeyRecord>();
  private readonly auditEvents: AuditEvent[] = [];
  private readonly auditIds = new StreamIdClock();
  private subscriptions: Subscription[] = [];

  constructor(private readonly options: { logger?: StoreLogger } = {}) {}

  async ping(): Promise<void> {}

  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    const { id, workspaceId, clientId } = entry.client;
    if (this.clients.has(id)) throw new Error(`a client with id ${id} already exists`);
    const workspaceClientIds = this.oauthClientIds.get(workspaceId) ?? new Map<string, string>();
    if (clientId !== null) {
      const existingId = workspaceClientIds.get(clientId);
      if (existingId !== undefined) throw new DuplicateClientError(existingId);
      workspaceClientIds.set(clientId, id);
      this.oauthClientIds.set(workspaceId, workspaceClientIds);
    }
    this.clients.set(id, structuredClone(entry));
    this.allIds.add(id);
    const workspaceIds = this.idsByWorkspace.get(workspaceId) ?? new SortedIds();
    workspaceIds.add(id);
    this.idsByWorkspace.set(workspaceId, workspaceIds);
    this.stateCounts[entry.status.state] += 1;
    this.trackFailing(id, entry.status);
    this.schedule.set(id, dueAt);
  }

  async getClient(id: string): Promise<ClientEntry | null> {
    const entry = this.clients.get(id);
    return entry ? structuredClone(entry) : null;
  }

  async listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    const index = query.workspaceId === undefined ? this.allIds : this.idsByWorkspace.get(query.workspaceId);
    const ids = index?.after(query.afterId, query.limit) ?? [];
    return ids.map((id) => structuredClone(this.clients.get(id)!));
  }

  async listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.allIds.after(afterId, limit);
  }

  async updateClient(id: string, expectedGeneration: number, change: ClientChange, releaseLockOf?: string): Promise<UpdateOutcome> {
    if (releaseLockOf !== undefined) this.releaseHeldLock(id, releaseLockOf);
    const entry = this.clients.get(id);
    if (!entry) return 'not_found';
    if (entry.client.generation !== expectedGeneration) return 'stale';
    if (change.client) {
      assertSameIdentity(entry.client, change.client);
      entry.client = structuredClone(change.client);
    }
    if (change.status) {
      const previousState = entry.status.state;
      entry.status = structuredClone(change.status);
      if (previousState !== change.status.state) {
        this.stateCounts[previousState] -= 1;
        this.stateCounts[change.status.state] += 1;
        this.trackFailing(id, change.status);
      }
    }
    if (change.token !== undefined) entry.token = structuredClone(change.token);
    await this.publish({ kind: 'client', id });
    return 'ok';
  }

  async deleteClient(id: string): Promise<ClientEntry | null> {
    const entry = this.clients.get(id);
    if (!entry) return null;
    const { workspaceId, clientId } = entry.client;
    this.clients.delete(id);
    this.allIds.delete(id);
    this.idsByWorkspace.get(workspaceId)?.delete(id);
    if (clientId !== null) this.oauthClientIds.get(workspaceId)?.delete(clientId);
    this.stateCounts[entry.status.state] -= 1;
    this.failingSince.delete(id);
    this.schedule.delete(id);
    this.locks.delete(id);
    await this.publish({ kind: 'client', id });
    return entry;
  }

  async tokenStats(failingLimit: number): Promise<TokenStats> {
    const byState = emptyStateCounts();
    for (const state of CLIENT_STATES) byState[state] = Math.max(0, this.stateCounts[state]);
    // Same order as Redis ZREVRANGE: score descending, then id descending.
    const failingIds = [...this.failingSince.entries()]
      .sort(([idA, sinceA], [idB, sinceB]) => sinceB - sinceA || (idA < idB ? 1 : idA > idB ? -1 : 0))
      .slice(0, Math.max(0, failingLimit))
      .map(([id]) => id);
    return { total: this.clients.size, byState, failingIds, nextDueAt: this.schedule.earliest() };
  }

  async setDue(id: string, dueAt: number): Promise<void> {
    this.schedule.set(id, dueAt);
  }

  async removeDue(id: string): Promise<void> {
    this.schedule.delete(id);
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

  private trackFailing(id: string, status: ClientStatus): void {
    if (isFailingState(status.state)) this.failingSince.set(id, failingScore(status));
    else this.failingSince.delete(id);
  }
}

class StreamIdClock {
  private lastMs = 0;
  private sequence = 0;

  next(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = 0;
    } else {
      this.sequence += 1;
    }
    return `${this.lastMs}-${this.sequence}`;
  }
}

function emptyStateCounts(): Record<ClientState, number> {
  return { pending: 0, ready: 0, failing: 0, rejected: 0 };
}

/** Ids kept sorted (code-unit order, as Redis orders ASCII members) for cursor pages without a sort per call. */
class SortedIds {
  private readonly ids: string[] = [];

  add(id: string): void {
    const index = this.firstIndexNotBelow(id);
    if (this.ids[index] !== id) this.ids.splice(index, 0, id);
  }

  delete(id: string): void {
    const index = this.firstIndexNotBelow(id);
    if (this.ids[index] === id) this.ids.splice(index, 1);
  }

  /** Up to `limit` ids strictly greater than `afterId`. */
  after(afterId: string | undefined, limit: number): string[] {
    if (limit <= 0) return [];
    let start = afterId === undefined ? 0 : this.firstIndexNotBelow(afterId);
    if (this.ids[start] === afterId) start += 1;
    return this.ids.slice(start, start + limit);
  }

  private firstIndexNotBelow(id: string): number {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.ids[middle] < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

interface DueEntry {
  dueAt: number;
  id: string;
}

/**
 * One due time per client, with a min-heap ordered like the Redis sorted set
 * (due time, then id) so a claim costs O(claimed · log n), not a scan.
 * Heap entries are never changed in place: a rescheduled or removed client
 * leaves its old entry behind, and it is dropped when it reaches the top.
 */
class DueSchedule {
  private readonly dueAtById = new Map<string, number>();
  private readonly heap: DueEntry[] = [];

  set(id: string, dueAt: number): void {
    if (this.dueAtById.get(id) === dueAt) return;
    this.dueAtById.set(id, dueAt);
    this.push({ id, dueAt });
  }

  delete(id: string): void {
    this.dueAtById.delete(id);
  }

  earliest(): number | null {
    this.dropSuperseded();
    return this.heap[0]?.dueAt ?? null;
  }

  claim(now: number, leaseUntil: number, limit: number): DueClient[] {
    // A client rescheduled back to an earlier time can have two live heap entries; it is claimed once.
    const claimed = new Map<string, number>();
    while (claimed.size < limit) {
      this.dropSuperseded();
      const top = this.heap[0];
      if (!top || top.dueAt > now) break;
      this.pop();
      if (!claimed.has(top.id)) claimed.set(top.id, top.dueAt);
    }
    // Re-queued only now, so a lease that is itself already due is not claimed twice in one call.
    for (const id of claimed.keys()) {
      this.dueAtById.set(id, leaseUntil);
      this.push({ id, dueAt: leaseUntil });
    }
    return [...claimed].map(([id, dueAt]) => ({ id, dueAt }));
  }

  private dropSuperseded(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0];
      if (this.dueAtById.get(top.id) === top.dueAt) return;
      this.pop();
    }
  }

  private push(entry: DueEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (!isEarlier(heap[index], heap[parent])) break;
      [heap[index], heap[parent]] = [heap[parent], heap[index]];
      index = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let earliest = index;
      if (left < heap.length && isEarlier(heap[left], heap[earliest])) earliest = left;
      if (right < heap.length && isEarlier(heap[right], heap[earliest])) earliest = right;
      if (earliest === index) return;
      [heap[index], heap[earliest]] = [heap[earliest], heap[index]];
      index = earliest;
    }
  }
}

function isEarlier(a: DueEntry, b: DueEntry): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);
}
