import { keySlot } from './redis-slot';

/**
 * How many shards the schedule, and the counters of /health/tokens, are
 * spread over. Each shard sits in its own slot, spread evenly over the 16384
 * slots (see shardTags), so a Cluster's masters each hold a share of the
 * schedule, of every claim and of the counting.
 */
export const SHARDS = 16;
const SLOTS = 16_384;

/**
 * One hash tag per shard of a structure named `name`, shard n's in the n-th
 * sixteenth of the slot range: masters given equal slot ranges (as
 * `redis-cli --cluster create` does) get equal numbers of shards, give or
 * take one. Searched once, deterministically.
 */
export function shardTags(name: string, shards = SHARDS): string[] {
  const width = SLOTS / shards;
  return Array.from({ length: shards }, (_, shard) => {
    for (let attempt = 0; ; attempt += 1) {
      const tag = `${name}:${shard}:${attempt}`;
      if (Math.floor(keySlot(`{${tag}}`) / width) === shard) return tag;
    }
  });
}

/** The shard of a client: a hash of its id, so the random ids the service makes spread evenly. */
export function shardOf(id: string, shards = SHARDS): number {
  return keySlot(id) % shards;
}

/** A due entry seen in one shard. */
export interface ShardEntry {
  shard: number;
  id: string;
  dueAt: number;
}

/**
 * How many of each shard's due entries a claim takes: the `limit` earliest
 * over all shards (so no shard waits behind another: claims follow due
 * times); among equal due times, shards take turns from `firstShard`.
 */
export function takeEarliest(entries: ShardEntry[], limit: number, firstShard: number, shards: number): number[] {
  const turn = (shard: number) => (shard - firstShard + shards) % shards;
  const taken = [...entries]
    .sort((a, b) => a.dueAt - b.dueAt || turn(a.shard) - turn(b.shard))
    .slice(0, Math.max(0, limit));
  const counts = new Array<number>(shards).fill(0);
  for (const { shard } of taken) counts[shard] += 1;
  return counts;
}

/** The least of the known values; null when none is known. */
export function minimum(values: (number | null)[]): number | null {
  let least: number | null = null;
  for (const value of values) if (value !== null && (least === null || value < least)) least = value;
  return least;
}
