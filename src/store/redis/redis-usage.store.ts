import type { UsageKind, UsageStamps, UsageStore } from '../interfaces/usage-store';
import type { RedisConnection } from './redis-connection';

/**
 * Usage times on Redis: one hash per kind under the hash tag {usage}, so a
 * batch of both kinds is one script call in one Cluster slot, and a page of
 * views reads its times with one HMGET.
 */
export class RedisUsageStore implements UsageStore {
  constructor(private readonly connection: RedisConnection) {}

  async recordUsage(stamps: UsageStamps): Promise<void> {
    if (stamps.clients.size === 0 && stamps.serviceKeys.size === 0) return;
    const { keys } = this.connection;
    await this.connection.script(
      'recordUsage',
      [keys.usageClients, keys.usageServiceKeys],
      [{ clients: flatten(stamps.clients), serviceKeys: flatten(stamps.serviceKeys) }],
    );
  }

  async lastUsage(kind: UsageKind, ids: readonly string[]): Promise<(number | null)[]> {
    if (ids.length === 0) return [];
    const times = await this.connection.run((redis) => redis.hmget(this.keyOf(kind), ...ids));
    return times.map((time) => (time === null ? null : Number(time)));
  }

  async forgetUsage(kind: UsageKind, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.connection.run((redis) => redis.hdel(this.keyOf(kind), ...ids));
  }

  private keyOf(kind: UsageKind): string {
    return kind === 'clients' ? this.connection.keys.usageClients : this.connection.keys.usageServiceKeys;
  }
}

function flatten(stamps: ReadonlyMap<string, number>): string[] {
  const flat: string[] = [];
  for (const [id, at] of stamps) flat.push(id, String(at));
  return flat;
}
