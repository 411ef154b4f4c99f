import type { DuplicateClientError } from '../broker-store';
import type { ClientEntry, ClientRecord, ClientStatus, StoredToken, TokenStats } from '../store.types';

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

/**
 * Registered clients with their status and held token. State counters
 * (tokenStats) are kept by the store as entries change. Every successful
 * updateClient and deleteClient broadcasts `{ kind: 'client' }` as part of
 * the write itself: a change that is stored cannot go unannounced.
 */
export interface ClientStore {
  /** Stores a new client, due for its first refresh at `dueAt`. */
  insertClient(entry: ClientEntry, dueAt: number): Promise<void>;
  /**
   * Stores new clients, each exactly as insertClient would (in order, so the
   * second of two entries with one OAuth client id in a workspace is the
   * duplicate), all due at `dueAt`. Per entry: null when stored, or the
   * DuplicateClientError insertClient would have thrown (that entry is not
   * stored). Any other failure throws, and leaves the entries not yet
   * indexed as an interrupted insertClient would.
   */
  insertClients(entries: readonly ClientEntry[], dueAt: number): Promise<(DuplicateClientError | null)[]>;
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
   * With `dueAt`, the client is scheduled at that time in the same round
   * trip, also whatever the outcome: for a refresh that claimed the client
   * and keeps its state (a write that changes state leaves the schedule
   * where the repair of that change needs it, and reschedules once done).
   * After 'stale' the caller reschedules; a client gone ('not_found') is
   * dropped from the schedule when that entry is next claimed.
   */
  updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
    dueAt?: number,
  ): Promise<UpdateOutcome>;
  /** Removes the client, its token, its schedule entry and its lock; returns what was removed. */
  deleteClient(id: string): Promise<ClientEntry | null>;
  tokenStats(failingLimit: number): Promise<TokenStats>;
}
