import type { DueClaim, DueClient, ScheduleStore } from '../interfaces/schedule-store';
import { groupedBy } from './grouped';
import type { PipelineStep, RedisConnection } from './redis-connection';
import type { RedisCounters } from './redis-counters';
import { minimum, takeEarliest, type ShardEntry } from './shards';
import { queueScript } from './script-loader';

/** Ids per deferDue-1.lua call: a long script would hold up every other command of its shard's Redis. */
const DEFER_CHUNK = 500;
/** Entries moved per step from the schedule of the layout before shards. */
const MIGRATION_BATCH = 500;
/** How often a replica looks for entries an older replica still wrote to that schedule (a rolling upgrade). */
const MIGRATION_CHECK_MS = 60_000;

/**
 * The refresh schedule on Redis: client ids scored by due time, spread over
 * the shard sorted sets of redis-keys.ts (each in its own slot).
 *
 * A claim first reads, in one step, every shard's earliest due entries (at
 * most `limit` each) and earliest entry; it then takes the `limit` earliest
 * of them all, with one claimDue-1.lua per shard that has any (each script in
 * one slot, all sent at once). So claims follow due times across shards, no
 * shard waits behind another, and ties take turns. On one Redis that is two
 * round trips when something is due, one when nothing is.
 */
export class RedisScheduleStore implements ScheduleStore {
  private nextTurn = 0;
  private legacyCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly connection: RedisConnection,
    private readonly counters: RedisCounters,
  ) {}

  private get keys() {
    return this.connection.keys;
  }

  async setDue(id: string, dueAt: number): Promise<void> {
    await this.connection.run((redis) => redis.zadd(this.keys.schedule(id), dueAt, id));
  }

  /**
   * For a client found gone: a delete that crashed before its last steps is
   * finished here (uncounted and unlisted), the schedule entry removed last.
   */
  async removeDue(id: string): Promise<void> {
    const { keys } = this;
    const gone = (await this.connection.run((redis) => redis.exists(keys.client(id)))) === 0;
    await this.connection.steps([
      (pipeline) => {
        if (!gone) return;
        this.counters.queueRemoval(pipeline, id);
        pipeline.zrem(keys.clients, id);
      },
      (pipeline) => pipeline.zrem(keys.schedule(id), id),
    ]);
  }

  async deferDue(ids: readonly string[], from: number, until: number): Promise<number> {
    if (ids.length === 0) return 0;
    const defer: PipelineStep = (pipeline) => {
      for (const [key, group] of groupedBy(ids, (id) => this.keys.schedule(id))) {
        for (let start = 0; start < group.length; start += DEFER_CHUNK) {
          queueScript(pipeline, 'deferDue', [key], [from, until, ...group.slice(start, start + DEFER_CHUNK)]);
        }
      }
    };
    const replies = (await this.connection.steps([defer], 'deferDue')) as number[];
    return replies.reduce((sum, moved) => sum + moved, 0);
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim> {
    await this.migrateLegacyEvery(MIGRATION_CHECK_MS);
    const shards = this.keys.scheduleShards;
    const { entries, earliest } = await this.peek(now, Math.max(0, limit));
    const firstShard = this.nextTurn;
    this.nextTurn = (this.nextTurn + 1) % shards.length;
    const counts = takeEarliest(entries, limit, firstShard, shards.length);
    const claimed = shards.flatMap((key, shard) => (counts[shard] > 0 ? [{ key, shard, count: counts[shard] }] : []));
    const claim: PipelineStep = (pipeline) => {
      for (const { key, count } of claimed) queueScript(pipeline, 'claimDue', [key], [now, leaseUntil, count]);
    };
    const replies = (claimed.length === 0 ? [] : await this.connection.steps([claim], 'claimDue')) as [
      string[],
      string[],
    ][];
    const due: DueClient[] = [];
    replies.forEach(([idsAndScores, next], index) => {
      for (let at = 0; at < idsAndScores.length; at += 2) {
        due.push({ id: idsAndScores[at], dueAt: Number(idsAndScores[at + 1]) });
      }
      earliest[claimed[index].shard] = next.length === 0 ? null : Number(next[1]);
    });
    due.sort((a, b) => a.dueAt - b.dueAt);
    return { due, nextDueAt: minimum(earliest) };
  }

  /**
   * Moves the schedule of the layout before shards into the shards, a batch
   * at a time; an entry the shards already hold keeps the shards' time (it
   * was written since). Safe to run on several replicas at once.
   */
  async migrateLegacySchedule(): Promise<number> {
    const { legacySchedule } = this.keys;
    let moved = 0;
    for (;;) {
      const batch = await this.connection.run((redis) =>
        redis.zrange(legacySchedule, 0, MIGRATION_BATCH - 1, 'WITHSCORES'),
      );
      if (batch.length === 0) return moved;
      const ids: string[] = [];
      await this.connection.steps([
        (pipeline) => {
          for (let at = 0; at < batch.length; at += 2) {
            ids.push(batch[at]);
            pipeline.zadd(this.keys.schedule(batch[at]), 'NX', batch[at + 1], batch[at]);
          }
        },
        // Removed only once in the shards: a crash between the steps moves the batch again.
        (pipeline) => pipeline.zrem(legacySchedule, ...ids),
      ]);
      moved += ids.length;
    }
  }

  private async migrateLegacyEvery(intervalMs: number): Promise<void> {
    const now = Date.now();
    if (now - this.legacyCheckedAt < intervalMs) return;
    this.legacyCheckedAt = now;
    await this.migrateLegacySchedule();
  }

  /** Per shard: its due entries (at most `limit`, earliest first) and its earliest entry. */
  private async peek(now: number, limit: number): Promise<{ entries: ShardEntry[]; earliest: (number | null)[] }> {
    const shards = this.keys.scheduleShards;
    const replies = (await this.connection.pipeline((pipeline) => {
      for (const key of shards) {
        if (limit > 0) pipeline.zrangebyscore(key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
        pipeline.zrange(key, 0, 0, 'WITHSCORES');
      }
    })) as string[][];
    const perShard = limit > 0 ? 2 : 1;
    const entries: ShardEntry[] = [];
    const earliest = shards.map((_, shard) => {
      const first = replies[shard * perShard + perShard - 1];
      if (limit > 0) {
        const due = replies[shard * perShard];
        for (let at = 0; at < due.length; at += 2) entries.push({ shard, id: due[at], dueAt: Number(due[at + 1]) });
      }
      return first.length === 0 ? null : Number(first[1]);
    });
    return { entries, earliest };
  }
}
