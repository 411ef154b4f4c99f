import type { HeldLock, LockedRead, LockStore } from '../interfaces/lock-store';
import { lockTtl, pairsToRecord } from './redis-codec';
import { parseEntry } from './redis-entry-codec';
import type { RedisConnection } from './redis-connection';
import type { RedisCounters } from './redis-counters';
import { RedisWebhookStore } from './redis-webhook.store';

/** Refresh locks on Redis: one key per client, holding its owner's token, with a time to live. */
export class RedisLockStore implements LockStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly counters: RedisCounters,
    private readonly webhooks: RedisWebhookStore,
  ) {}

  /** Also finishes queuing the client's webhook events and counting it when a crash left that pending. */
  async lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead> {
    const { keys } = this.connection;
    const lockKeys: [lock: string, client: string] = [keys.lock(id), keys.client(id)];
    const fields = await this.connection.script('lockAndRead', lockKeys, [owner, lockTtl(ttlMs)]);
    if (fields === null) return { locked: false };
    const record = pairsToRecord(fields);
    // The outbox before the index step, as updateClient does: the mark stays until both ran.
    if (await this.webhooks.dispatchOutboxOrLeavePending(id, RedisWebhookStore.outboxOf(record))) {
      await this.counters.repairIfPending(id, record);
    }
    return { locked: true, entry: parseEntry(id, record) };
  }

  async extendLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.connection.script('extendLock', [this.connection.keys.lock(id)], [owner, lockTtl(ttlMs)])) === 1;
  }

  /**
   * One script call for every lock, so renewing costs one round trip however
   * many locks are held. On a Cluster, where each client's lock sits in its own
   * slot, one call per lock, all sent at once (one round trip per master).
   */
  async extendLocks(locks: HeldLock[], ttlMs: number): Promise<string[]> {
    if (locks.length === 0) return [];
    const batches = this.connection.isCluster ? locks.map((lock) => [lock]) : [locks];
    const lost = await Promise.all(batches.map((batch) => this.extendBatch(batch, ttlMs)));
    return lost.flat();
  }

  private async extendBatch(locks: HeldLock[], ttlMs: number): Promise<string[]> {
    const lockKeys = locks.map(({ id }) => this.connection.keys.lock(id));
    const owners = locks.map(({ owner }) => owner);
    const lost = await this.connection.script('extendLocks', lockKeys, [lockTtl(ttlMs), ...owners]);
    return lost.map((index) => locks[index - 1].id);
  }

  async releaseLock(id: string, owner: string): Promise<boolean> {
    return (await this.connection.script('releaseLock', [this.connection.keys.lock(id)], [owner])) === 1;
  }
}
