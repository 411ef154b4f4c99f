import { DuplicateClientError, type ClientChange, type ClientPageQuery } from '../broker-store';
import { CLIENT_STATES, type ClientEntry, type ClientState, type ClientStatus, type TokenStats } from '../store.types';
import { assertSameIdentity, failingScore, isFailingState } from '../store-helpers';
import { SortedIds, emptyStateCounts } from './memory-indexes';

/**
 * Client entries in process memory with the indexes RedisStore keeps beside
 * them (ids in order, per workspace, by OAuth client id, counts per state,
 * failing since), so that listing and statistics behave as they do on Redis.
 * Entries are cloned on the way in and out; only `stored` hands out the live
 * entry, for the store to change in place.
 */
export class MemoryClients {
  private readonly entries = new Map<string, ClientEntry>();
  private readonly allIds = new SortedIds();
  private readonly idsByWorkspace = new Map<string, SortedIds>();
  /** workspaceId -> OAuth client id -> broker client id. */
  private readonly oauthClientIds = new Map<string, Map<string, string>>();
  private readonly stateCounts = emptyStateCounts();
  /** Failing or rejected client id -> when it started failing (epoch ms). */
  private readonly failingSince = new Map<string, number>();

  insert(entry: ClientEntry): void {
    const { id, workspaceId, clientId } = entry.client;
    if (this.entries.has(id)) throw new Error(`a client with id ${id} already exists`);
    const workspaceClientIds = this.oauthClientIds.get(workspaceId) ?? new Map<string, string>();
    if (clientId !== null) {
      const existingId = workspaceClientIds.get(clientId);
      if (existingId !== undefined) throw new DuplicateClientError(existingId);
      workspaceClientIds.set(clientId, id);
      this.oauthClientIds.set(workspaceId, workspaceClientIds);
    }
    this.entries.set(id, structuredClone(entry));
    this.allIds.add(id);
    const workspaceIds = this.idsByWorkspace.get(workspaceId) ?? new SortedIds();
    workspaceIds.add(id);
    this.idsByWorkspace.set(workspaceId, workspaceIds);
    this.stateCounts[entry.status.state] += 1;
    this.trackFailing(id, entry.status);
  }

  get(id: string): ClientEntry | null {
    const entry = this.entries.get(id);
    return entry ? structuredClone(entry) : null;
  }

  /** The live entry, not a copy: for a change in place through `applyChange`. */
  stored(id: string): ClientEntry | undefined {
    return this.entries.get(id);
  }

  list(query: ClientPageQuery): ClientEntry[] {
    const index = query.workspaceId === undefined ? this.allIds : this.idsByWorkspace.get(query.workspaceId);
    const ids = index?.after(query.afterId, query.limit) ?? [];
    return ids.flatMap((id) => {
      const entry = this.entries.get(id);
      return entry === undefined ? [] : [structuredClone(entry)];
    });
  }

  idsAfter(afterId: string | undefined, limit: number): string[] {
    return this.allIds.after(afterId, limit);
  }

  /**
   * Applies `change` to a stored entry (whose generation the caller has
   * checked) and keeps the state indexes in step. Returns the state the client
   * left, or null when its state did not change, so the caller can raise the event.
   */
  applyChange(entry: ClientEntry, change: ClientChange): ClientState | null {
    let leftState: ClientState | null = null;
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
        this.trackFailing(entry.client.id, change.status);
        leftState = previousState;
      }
    }
    if (change.token !== undefined) entry.token = structuredClone(change.token);
    return leftState;
  }

  /** Removes the entry and every index of it; returns it, or null when there was none. */
  delete(id: string): ClientEntry | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const { workspaceId, clientId } = entry.client;
    this.entries.delete(id);
    this.allIds.delete(id);
    this.idsByWorkspace.get(workspaceId)?.delete(id);
    if (clientId !== null) this.oauthClientIds.get(workspaceId)?.delete(clientId);
    this.stateCounts[entry.status.state] -= 1;
    this.failingSince.delete(id);
    return entry;
  }

  /** TokenStats but for nextDueAt, which the schedule knows. */
  stats(failingLimit: number): Omit<TokenStats, 'nextDueAt'> {
    const byState = emptyStateCounts();
    // Nothing can stop between a write and its counting here: the counters are a recount at every instant.
    for (const state of CLIENT_STATES) byState[state] = this.stateCounts[state];
    // Same order as Redis ZREVRANGE: score descending, then id descending.
    const failingIds = [...this.failingSince.entries()]
      .sort(([idA, sinceA], [idB, sinceB]) => sinceB - sinceA || (idA < idB ? 1 : idA > idB ? -1 : 0))
      .slice(0, Math.max(0, failingLimit))
      .map(([id]) => id);
    return { total: this.entries.size, byState, failingIds };
  }

  private trackFailing(id: string, status: ClientStatus): void {
    if (isFailingState(status.state)) this.failingSince.set(id, failingScore(status));
    else this.failingSince.delete(id);
  }
}
