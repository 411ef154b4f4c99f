import type { UsageKind, UsageStamps, UsageStore } from '../interfaces/usage-store';

/** Usage times in process memory: one map per kind, each time only ever moved forward. */
export class MemoryUsage implements UsageStore {
  private readonly times: Record<UsageKind, Map<string, number>> = { clients: new Map(), serviceKeys: new Map() };

  async recordUsage(stamps: UsageStamps): Promise<void> {
    for (const kind of Object.keys(this.times) as UsageKind[]) {
      const times = this.times[kind];
      for (const [id, at] of stamps[kind]) {
        if (at > (times.get(id) ?? Number.NEGATIVE_INFINITY)) times.set(id, at);
      }
    }
  }

  async lastUsage(kind: UsageKind, ids: readonly string[]): Promise<(number | null)[]> {
    return ids.map((id) => this.times[kind].get(id) ?? null);
  }

  async forgetUsage(kind: UsageKind, ids: readonly string[]): Promise<void> {
    for (const id of ids) this.times[kind].delete(id);
  }
}
