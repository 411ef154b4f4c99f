import type { ChainableCommander } from 'ioredis';
import { failingScore, isFailingState, type StoreLogger } from '../store-helpers';
import { CLIENT_STATES, type ClientState, type ClientStatus, type TokenStats } from '../store.types';
import type { PipelineStep, RedisConnection } from './redis-connection';
import { parseEntry } from './redis-entry-codec';
import { groupedBy, scoredMembers } from './grouped';
import type { StatsShardKeys } from './redis-keys';
import { minimum } from './shards';
import { queueScript, type IndexChange } from './script-loader';

/** How long a deleted client's tombstone is kept: far longer than any write's index step can come late. */
const REMOVED_KEEP_MS = 24 * 3_600_000;
/** The counters' layout; a prefix without it is rebuilt once from the client hashes (an upgrade). */
const STATS_VERSION = '3';
const PAGE = 500;

/**
 * A new client's first index sequence: above any sequence an earlier client
 * of the same id reached (ids are random and never reused by the service;
 * tests reuse them), so a late step of that client cannot count over it.
 */
export function firstIndexSeq(now = Date.now()): number {
  return now * 1_000;
}

/** What the counters need to count one client: its index sequence, its status and its workspace (for the lists). */
export interface IndexedClient {
  id: string;
  seq: number;
  /** Just inserted: an earlier client of this id (a reused id) is gone for good. */
  fresh?: true;
  status: ClientStatus;
  workspaceId: string;
}

/**
 * The counters and failing list of /health/tokens on Redis, kept by
 * indexClient-4.lua in the shard of each client's id (see
 * redis-client.store.ts for the guarantee). Every step here is idempotent:
 * running it again, late, or after another writer's is always safe, which is
 * what lets a crash be repaired by running it again.
 */
export class RedisCounters {
  private rebuilt = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly logger?: StoreLogger,
  ) {}

  private get keys() {
    return this.connection.keys;
  }

  /** Counts the client as it is now and (re)adds it to the listing indexes; then clears its index-pending mark. */
  async index(client: IndexedClient, before?: PipelineStep): Promise<void> {
    await this.connection.steps([...(before ? [before] : []), (pipeline) => this.queueIndex(pipeline, client)]);
    await this.connection.script('markIndexed', [this.keys.client(client.id)], [String(client.seq)]);
  }

  /**
   * index() for many clients in two round trips: `before`, then the listing
   * entries (one ZADD per index key) and the counters (one script per shard),
   * then every mark cleared.
   */
  async indexAll(clients: readonly IndexedClient[], before?: PipelineStep): Promise<void> {
    if (clients.length === 0) return;
    await this.connection.steps([...(before ? [before] : []), (pipeline) => this.queueIndexAll(pipeline, clients)]);
    await this.connection.pipeline((pipeline) => {
      for (const { id, seq } of clients) queueScript(pipeline, 'markIndexed', [this.keys.client(id)], [String(seq)]);
    });
  }

  /** The index step as pipeline commands: listing entries first, then the counters. */
  queueIndex(pipeline: ChainableCommander, client: IndexedClient): void {
    pipeline.zadd(this.keys.clients, 0, client.id);
    pipeline.zadd(this.keys.workspaceClients(client.workspaceId), 0, client.id);
    this.queueChange(pipeline, changeOf(client));
  }

  private queueIndexAll(pipeline: ChainableCommander, clients: readonly IndexedClient[]): void {
    const idsOf = (group: readonly IndexedClient[]) => group.map(({ id }) => id);
    pipeline.zadd(this.keys.clients, ...scoredMembers(idsOf(clients), 0));
    for (const [workspaceId, group] of groupedBy(clients, (client) => client.workspaceId)) {
      pipeline.zadd(this.keys.workspaceClients(workspaceId), ...scoredMembers(idsOf(group), 0));
    }
    for (const group of groupedBy(clients, (client) => this.keys.stats(client.id).byState).values()) {
      queueScript(pipeline, 'indexClients', scriptKeys(this.keys.stats(group[0].id)), [group.map(changeOf)]);
    }
  }

  /** Uncounts a deleted client, for good: a late index step of an earlier write cannot count it again. */
  queueRemoval(pipeline: ChainableCommander, id: string): void {
    this.queueChange(pipeline, { id, now: Date.now(), removedKeepMs: REMOVED_KEEP_MS });
  }

  /** Finishes the index step a write left pending (a crash, or a failure after the write), from the hash's fields. */
  async repairIfPending(id: string, fields: Record<string, string>): Promise<void> {
    const entry = fields.unindexed === undefined ? null : parseEntry(id, fields);
    if (entry === null) return;
    const { status, client } = entry;
    await this.indexOrLeavePending({ id, seq: Number(fields.unindexed), status, workspaceId: client.workspaceId });
  }

  /** The index step after a write that stands whatever happens here: on failure the mark stays on the client. */
  async indexOrLeavePending(client: IndexedClient): Promise<void> {
    try {
      await this.index(client);
    } catch (error) {
      // The next write or claim of the client tries again.
      this.logger?.warn({ clientId: client.id, err: errorText(error) }, 'could not finish counting a client');
    }
  }

  /** One round trip: every shard's counts, earliest due time and first `failingLimit` failing clients. */
  async tokenStats(failingLimit: number): Promise<TokenStats> {
    await this.rebuildOnce();
    const { scheduleShards, statsShards } = this.keys;
    const replies = await this.connection.pipeline((pipeline) => {
      for (const { byState } of statsShards) pipeline.hgetall(byState);
      for (const key of scheduleShards) pipeline.zrange(key, 0, 0, 'WITHSCORES');
      // ZREVRANGE 0 -1 would read every failing client: a limit of 0 asks for none.
      if (failingLimit > 0) {
        for (const { failing } of statsShards) pipeline.zrevrange(failing, 0, failingLimit - 1, 'WITHSCORES');
      }
    });
    const counts = replies.slice(0, statsShards.length) as Record<string, string>[];
    const earliest = replies.slice(statsShards.length, statsShards.length + scheduleShards.length) as string[][];
    const failing = replies.slice(statsShards.length + scheduleShards.length) as string[][];
    const byState = {} as Record<ClientState, number>;
    let total = 0;
    for (const state of CLIENT_STATES) {
      byState[state] = counts.reduce((sum, shard) => sum + Number(shard[state] ?? 0), 0);
      total += byState[state];
    }
    return {
      total,
      byState,
      failingIds: latestFailing(failing, failingLimit),
      nextDueAt: minimum(earliest.map((first) => (first.length === 0 ? null : Number(first[1])))),
    };
  }

  /**
   * A prefix written by an older version has counters that index nothing:
   * they are rebuilt once, from every client hash (it costs what it reads).
   * Safe alongside writers and other replicas doing the same: each step is idempotent.
   */
  async rebuildOnce(): Promise<void> {
    if (this.rebuilt) return;
    if ((await this.connection.run((redis) => redis.get(this.keys.statsVersion))) !== STATS_VERSION) {
      await this.rebuild();
      await this.connection.run((redis) => redis.set(this.keys.statsVersion, STATS_VERSION));
    }
    this.rebuilt = true;
  }

  private async rebuild(): Promise<void> {
    let afterId: string | undefined;
    for (;;) {
      const ids = await this.connection.run((redis) =>
        redis.zrangebylex(this.keys.clients, afterId === undefined ? '-' : `(${afterId}`, '+', 'LIMIT', 0, PAGE),
      );
      if (ids.length === 0) break;
      const hashes = (await this.connection.pipeline((pipeline) => {
        for (const id of ids) pipeline.hgetall(this.keys.client(id));
      })) as Record<string, string>[];
      const clients: IndexedClient[] = [];
      ids.forEach((id, index) => {
        const fields = hashes[index];
        const entry = parseEntry(id, fields);
        if (entry === null) return;
        const { status, client } = entry;
        clients.push({ id, seq: Number(fields.iseq ?? 0), status, workspaceId: client.workspaceId });
      });
      // A page in one round trip: one script per shard, not one per client.
      if (clients.length > 0) await this.connection.pipeline((pipeline) => this.queueIndexAll(pipeline, clients));
      afterId = ids[ids.length - 1];
    }
    // One DEL per key: they sit in more than one slot.
    await this.connection.run((redis) => Promise.all(this.keys.legacyCounters.map((key) => redis.del(key))));
  }

  private queueChange(pipeline: ChainableCommander, change: IndexChange): void {
    queueScript(pipeline, 'indexClient', scriptKeys(this.keys.stats(change.id)), [change]);
  }
}

/** A shard's keys in the order indexClient-4.lua and indexClients-4.lua name them. */
function scriptKeys({ byState, counted, failing, removed }: StatsShardKeys): [string, string, string, string] {
  return [byState, counted, failing, removed];
}

/**
 * The first `limit` of the shards' failing lists (each ZREVRANGE ... WITHSCORES) in one Redis order: score
 * descending, then id descending, as one sorted set would give them.
 */
export function latestFailing(shards: readonly string[][], limit: number): string[] {
  const entries: { id: string; score: number }[] = [];
  for (const reply of shards) {
    for (let index = 0; index < reply.length; index += 2)
      entries.push({ id: reply[index], score: Number(reply[index + 1]) });
  }
  entries.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return entries.slice(0, Math.max(0, limit)).map(({ id }) => id);
}

/** What the counters' script is told of a client as it is now. */
function changeOf({ id, seq, fresh, status }: IndexedClient): IndexChange {
  const failing = isFailingState(status.state);
  return {
    id,
    state: status.state,
    seq: String(seq),
    fresh,
    failing,
    score: failing ? failingScore(status) : undefined,
    now: Date.now(),
    removedKeepMs: REMOVED_KEEP_MS,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
