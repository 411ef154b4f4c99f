import type { ChainableCommander } from 'ioredis';
import type { DuplicateClientError } from '../broker-store';
import type { ClientChange, ClientPageQuery, ClientStore, UpdateOutcome } from '../interfaces/client-store';
import { identityChangeError } from '../store-helpers';
import type { ClientEntry, TokenStats } from '../store.types';
import { clientEvent, pairsToRecord } from './redis-codec';
import { decodeStatus, parseEntry } from './redis-entry-codec';
import type { RedisConnection } from './redis-connection';
import { insertArgs, updateArgs } from './redis-client-args';
import { RedisClientIdReservations } from './redis-client-id-reservations';
import { firstIndexSeq, type RedisCounters } from './redis-counters';
import { noFailpoint, type Failpoint } from './failpoint';
import { groupedBy, scoredMembers } from './grouped';
import { queueScript, type UpdateClientArgs, type UpdateReply } from './script-loader';
import { RedisWebhookStore } from './redis-webhook.store';

/** A client written with a status, or deleted, is due within this: see the class comment. */
export const REPAIR_WITHIN_MS = 20_000;

/**
 * Clients on Redis. Writes that touch global indexes are ordered so that a
 * crash or an outage between two steps cannot lose a registered client nor
 * make an index point at a wrong one:
 * - insert first makes the client due within REPAIR_WITHIN_MS (in the same
 *   round trip as the hash, on one Redis), then writes the client hash, claims
 *   the OAuth client id, schedules it at its due time, lists it and counts it:
 *   a client stored is always scheduled, whatever step a crash cuts off
 *   (insertClients takes the same steps for many clients, each step one
 *   pipeline for all of them);
 * - delete removes the client hash (and its lock) first, then uncounts it,
 *   unlists it and unschedules it.
 * So an index entry whose hash is missing always belongs to a deleted client:
 * listClients skips (and drops) such entries and claimClientId (redis-client-id-reservations.ts) takes over
 * such a client id.
 *
 * The counters and failing list of /health/tokens (RedisCounters) live in
 * shards of their own (a client is counted in the shard of its id), a client
 * in its own slot: no one script may write both, so they are
 * written in two steps, and the second is made safe to repeat instead.
 * - A write that changes a client's state bumps its index sequence and marks
 *   it "index pending" in the same script (the first step). The second step,
 *   indexClient-4.lua, counts the client under its state unless the counters
 *   already count that sequence or a later one, then the mark is cleared. So
 *   it can be run again, late, or by anyone, and never counts twice; counters
 *   only move a client from one state to another, so they are never negative.
 * - A crash between the steps leaves the mark on the client. Whoever next
 *   writes the client (updateClient) or takes its refresh lock (lockAndRead:
 *   every scheduled refresh) finishes the step. Such a write, and a delete,
 *   first pulls the client's schedule entry to within REPAIR_WITHIN_MS, in the
 *   same round trip: after any crash, a replica claims it within that time
 *   (or within the claim lease, for a scheduled refresh) and repairs it; a
 *   deleted client is then found gone and uncounted by removeDue.
 * - Cost: a write that does not change the state is unchanged but for one
 *   ZADD in the same round trip; a change of state costs two more round
 *   trips (index step, clear the mark); a repair costs what it reads.
 * Webhook events ride on the same mark (redis-webhook.store.ts): a change of
 * state that raises one records it in the client hash in the first step, and
 * it is queued for delivery before the index step, so a repair finds it.
 * Guarantee: the counters and the failing list equal a recount of the client
 * hashes whenever no write is between its steps, and at most
 * REPAIR_WITHIN_MS plus one scheduler tick after any crash (of a replica, or
 * of Redis with its AOF), as soon as one replica runs.
 */
export class RedisClientStore implements ClientStore {
  private readonly clientIds: RedisClientIdReservations;

  constructor(
    private readonly connection: RedisConnection,
    private readonly counters: RedisCounters,
    private readonly webhooks: RedisWebhookStore,
    private readonly failpoint: Failpoint = noFailpoint,
  ) {
    this.clientIds = new RedisClientIdReservations(connection);
  }

  private get keys() {
    return this.connection.keys;
  }

  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    const { client, status } = entry;
    const seq = firstIndexSeq();
    // A crash after the hash and before the schedule step leaves this entry: the client is claimed within
    // REPAIR_WITHIN_MS, then listed and counted (lockAndRead), or found gone and unscheduled (removeDue).
    const created = await this.connection.scriptAfter(
      (pipeline) => this.queueRepairWithin(pipeline, [client.id], 'or-add'),
      'insertClient',
      [this.keys.client(client.id)],
      [insertArgs(entry, seq)],
    );
    if (created !== 1) throw new Error(`a client with id ${client.id} already exists`);
    await this.failpoint('after-client-insert');
    if (client.clientId !== null) {
      try {
        await this.clientIds.claimClientId(client.workspaceId, client.clientId, client.id);
      } catch (error) {
        // The claim's error is what the caller must see. Whatever of the hash and its repair entry is left
        // behind is harmless: unlisted, and a claim of the entry finds the client gone and drops it.
        await this.connection
          .steps([
            (pipeline) => pipeline.del(this.keys.client(client.id)),
            (pipeline) => pipeline.zrem(this.keys.schedule(client.id), client.id),
          ])
          .catch(() => undefined);
        throw error;
      }
    }
    // Scheduled first: if the rest is lost, the first claim lists and counts it (lockAndRead's repair).
    const indexed = { id: client.id, seq, fresh: true as const, status, workspaceId: client.workspaceId };
    await this.counters.index(indexed, (pipeline) => pipeline.zadd(this.keys.schedule(client.id), dueAt, client.id));
  }

  /**
   * insertClient's steps, in its order, each step one pipeline for every
   * entry (a round trip per step, not per client): the hashes, the OAuth
   * client id claims (a taken one goes through claimClientId as in
   * insertClient), then schedule and index, then the index-pending marks.
   */
  async insertClients(entries: readonly ClientEntry[], dueAt: number): Promise<(DuplicateClientError | null)[]> {
    if (entries.length === 0) return [];
    const seq = firstIndexSeq();
    // As in insertClient: each client is due within REPAIR_WITHIN_MS before its hash exists.
    const ids = entries.map(({ client }) => client.id);
    await this.connection.pipeline((pipeline) => this.queueRepairWithin(pipeline, ids, 'or-add'));
    const created = await this.connection.pipeline((pipeline) => {
      for (const entry of entries) {
        queueScript(pipeline, 'insertClient', [this.keys.client(entry.client.id)], [insertArgs(entry, seq)]);
      }
    });
    const existing = entries.find((_, index) => created[index] !== 1);
    if (existing) throw new Error(`a client with id ${existing.client.id} already exists`);
    let outcomes: (DuplicateClientError | null)[];
    try {
      outcomes = await this.clientIds.claimClientIds(entries);
    } catch (error) {
      // As in insertClient: the claim's error is what the caller must see; hashes left behind are harmless.
      await this.dropHashes(entries).catch(() => undefined);
      throw error;
    }
    const duplicates = entries.filter((_, index) => outcomes[index] !== null);
    if (duplicates.length > 0) await this.dropHashes(duplicates);
    const stored = entries.filter((_, index) => outcomes[index] === null);
    const indexed = stored.map(({ client, status }) => ({
      id: client.id,
      seq,
      fresh: true as const,
      status,
      workspaceId: client.workspaceId,
    }));
    // Scheduled first: if the rest is lost, the first claim lists and counts it (lockAndRead's repair).
    await this.counters.indexAll(indexed, (pipeline) => {
      const storedIds = stored.map(({ client }) => client.id);
      for (const [key, group] of this.byScheduleShard(storedIds)) pipeline.zadd(key, ...scoredMembers(group, dueAt));
    });
    return outcomes;
  }

  /** Client ids per schedule shard: one ZADD per shard for a batch. */
  private byScheduleShard(ids: readonly string[]): Map<string, string[]> {
    return groupedBy(ids, (id) => this.keys.schedule(id));
  }

  async getClient(id: string): Promise<ClientEntry | null> {
    return parseEntry(id, await this.connection.run((redis) => redis.hgetall(this.keys.client(id))));
  }

  async listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    const { workspaceId } = query;
    const indexKey = workspaceId === undefined ? this.keys.clients : this.keys.workspaceClients(workspaceId);
    const page: ClientEntry[] = [];
    let afterId = query.afterId;
    // Index entries of deleted clients are skipped, so a page may take more than one read to fill.
    while (page.length < query.limit) {
      const wanted = query.limit - page.length;
      const ids = await this.idsAfter(indexKey, afterId, wanted);
      const entries = await this.readClients(ids);
      const orphans = ids.filter((_, index) => entries[index] === null);
      if (orphans.length > 0) await this.connection.run((redis) => redis.zrem(indexKey, ...orphans));
      for (const entry of entries) if (entry) page.push(entry);
      if (ids.length < wanted) break;
      afterId = ids[ids.length - 1];
    }
    return page;
  }

  async listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.idsAfter(this.keys.clients, afterId, limit);
  }

  async updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
    dueAt?: number,
  ): Promise<UpdateOutcome> {
    // The id is the key's, so the script cannot see a record that would change it.
    if (change.client && change.client.id !== id) throw identityChangeError();
    const args = updateArgs(id, expectedGeneration, change, releaseLockOf);
    const keys: [client: string, lock: string] = [this.keys.client(id), this.keys.lock(id)];
    const argv: [UpdateClientArgs, string, string] = [args, this.keys.events, clientEvent(id)];
    let reply: UpdateReply;
    if (dueAt === undefined) {
      const repairWithin = (pipeline: ChainableCommander): void => {
        if (change.status) this.queueRepairWithin(pipeline, [id]);
      };
      reply = await this.connection.scriptAfter(repairWithin, 'updateClient', keys, argv);
    } else {
      // The caller keeps the client's state, so the write leaves no index step to repair: no repair
      // entry, and the client is rescheduled (its claim replaced) in the same round trip.
      const [written] = await this.connection.steps(
        [
          (pipeline) => queueScript(pipeline, 'updateClient', keys, argv),
          (pipeline) => pipeline.zadd(this.keys.schedule(id), dueAt, id),
        ],
        'updateClient',
      );
      reply = written as UpdateReply;
    }
    const [outcome, unindexedSeq, state, status, workspaceId, ...events] = reply;
    if (outcome === 'immutable') throw identityChangeError();
    const indexPending = unindexedSeq !== undefined && state !== undefined && status !== undefined;
    if (outcome === 'ok' && indexPending && workspaceId !== undefined) {
      await this.failpoint('after-client-write');
      // The outbox first: the index step clears the mark that gets a crash repaired.
      if (!(await this.webhooks.dispatchOutboxOrLeavePending(id, events))) return outcome;
      const indexed = { id, seq: Number(unindexedSeq), status: decodeStatus(status, state), workspaceId };
      await this.counters.indexOrLeavePending(indexed);
    }
    return outcome;
  }

  async deleteClient(id: string): Promise<ClientEntry | null> {
    const fields = await this.connection.scriptAfter(
      (pipeline) => this.queueRepairWithin(pipeline, [id]),
      'deleteClient',
      [this.keys.client(id), this.keys.lock(id)],
      [this.keys.events, clientEvent(id)],
    );
    const record = fields === null ? null : pairsToRecord(fields);
    const entry = record === null ? null : parseEntry(id, record);
    if (record === null || entry === null) return null;
    await this.failpoint('after-client-write');
    // Events a crash left in the outbox still go out: the hash that held them is gone now.
    await this.webhooks.dispatchOutboxOrLeavePending(id, RedisWebhookStore.outboxOf(record));
    const { workspaceId, clientId } = entry.client;
    await this.connection.steps([
      (pipeline) => {
        this.counters.queueRemoval(pipeline, id);
        pipeline.zrem(this.keys.clients, id);
        pipeline.zrem(this.keys.workspaceClients(workspaceId), id);
      },
      // Last: while it stays, a claim finds the client gone and finishes the delete (removeDue).
      (pipeline) => pipeline.zrem(this.keys.schedule(id), id),
    ]);
    if (clientId !== null) {
      // Compare-and-delete: a newer client may already have taken this client id over.
      await this.clientIds.replaceClientIdOwner(workspaceId, { clientId, expectedOwner: id });
    }
    return entry;
  }

  tokenStats(failingLimit: number): Promise<TokenStats> {
    return this.counters.tokenStats(failingLimit);
  }

  /** Refused inserts: their hashes, then their repair entries (a claim of one left behind finds it gone). */
  private async dropHashes(entries: readonly ClientEntry[]): Promise<void> {
    await this.connection.steps([
      (pipeline) => {
        for (const { client } of entries) pipeline.del(this.keys.client(client.id));
      },
      (pipeline) => {
        for (const { client } of entries) pipeline.zrem(this.keys.schedule(client.id), client.id);
      },
    ]);
  }

  /**
   * Makes the clients due within REPAIR_WITHIN_MS (never later than they were): see the class comment.
   * 'or-add' also schedules a client that is not (an insert); otherwise only a scheduled one is moved.
   * One ZADD per schedule shard, so a batch costs a command per shard rather than per client.
   */
  private queueRepairWithin(pipeline: ChainableCommander, ids: readonly string[], unscheduled?: 'or-add'): void {
    const repairAt = Date.now() + REPAIR_WITHIN_MS;
    for (const [key, group] of this.byScheduleShard(ids)) {
      const members = scoredMembers(group, repairAt);
      if (unscheduled === 'or-add') pipeline.zadd(key, 'LT', ...members);
      else pipeline.zadd(key, 'XX', 'LT', ...members);
    }
  }

  private idsAfter(indexKey: string, afterId: string | undefined, limit: number): Promise<string[]> {
    if (limit <= 0) return Promise.resolve([]);
    const min = afterId === undefined ? '-' : `(${afterId}`;
    return this.connection.run((redis) => redis.zrangebylex(indexKey, min, '+', 'LIMIT', 0, limit));
  }

  private async readClients(ids: string[]): Promise<(ClientEntry | null)[]> {
    if (ids.length === 0) return [];
    const replies = await this.connection.pipeline((pipeline) => {
      for (const id of ids) pipeline.hgetall(this.keys.client(id));
    });
    return replies.map((fields, index) => parseEntry(ids[index], fields as Record<string, string>));
  }
}
