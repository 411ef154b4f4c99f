import type Redis from 'ioredis';
import { parseEntry } from '../../src/store/redis/redis-entry-codec';
import type { ClientEntry } from '../../src/store/store.types';

/** A client's entry as its hash in Redis holds it (either layout), read past the store: for tests that tamper. */
export async function storedEntry(redis: Redis, prefix: string, id: string): Promise<ClientEntry> {
  const entry = parseEntry(id, await redis.hgetall(`${prefix}{c:${id}}`));
  if (entry === null) throw new Error(`no client hash for ${id}`);
  return entry;
}

/**
 * A client hash's fields with each part's chunks (c, c1, c2, ...: redis-entry-codec.ts) joined into its first
 * field, so a search of the text sees every value whole.
 */
export function joinedChunks(hash: Record<string, string>): Record<string, string> {
  const joined: Record<string, string> = {};
  for (const [field, value] of Object.entries(hash)) if (!/^[cst]\d+$/.test(field)) joined[field] = value;
  for (const part of ['c', 's', 't']) {
    for (let index = 1; joined[part] !== undefined && hash[part + index] !== undefined; index++) {
      joined[part] += hash[part + index];
    }
  }
  return joined;
}
