import type { DueClaim, DueClient, ScheduleStore } from '../interfaces/schedule-store';
import type { RedisConnection } from './redis-connection';
import type { RedisCounters } from './redis-counters';

/** The refresh schedule on Redis: one sorted set, client id scored by due time. */
export class RedisScheduleStore implements ScheduleStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly counters: RedisCounters,
  ) {}

  async setDue(id: string, dueAt: number): Promise<void> {
    await this.connection.run((redis) => redis.zadd(this.connection.keys.schedule, dueAt, id));
  }

  /**
   * For a client found gone: a delete that crashed before its last steps is
   * finished here (uncounted and unlisted), the schedule entry removed last.
   */
  async removeDue(id: string): Promise<void> {
    const { keys } = this.connection;
    const gone = (await this.connection.run((redis) => redis.exists(keys.client(id)))) === 0;
    await this.connection.pipeline((pipeline) => {
      if (gone) {
        this.counters.queueRemoval(pipeline, id);
        pipeline.zrem(keys.clients, id);
      }
      pipeline.zrem(keys.schedule, id);
    });
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim> {
    const [idsAndScores, next] = await this.connection.script(
      'claimDue',
      [this.connection.keys.schedule],
      [now, leaseUntil, Math.max(0, limit)],
    );
    const due: DueClient[] = [];
    for (let index = 0; index < idsAndScores.length; index += 2) {
      due.push({ id: idsAndScores[index], dueAt: Number(idsAndScores[index + 1]) });
    }
    return { due, nextDueAt: next.length === 0 ? null : Number(next[1]) };
  }
}
