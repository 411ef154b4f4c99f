import type { ClientEntry } from '../store.types';

/** A refresh lock taken, with the client as it stood once the lock was held (null: no such client); or not taken. */
export type LockedRead = { locked: true; entry: ClientEntry | null } | { locked: false };

/** A lock an owner believes it holds. */
export interface HeldLock {
  id: string;
  owner: string;
}

/** One refresher per client across replicas: a lock per client id, owned by a token, released only by its owner. */
export interface LockStore {
  /**
   * Takes the client's refresh lock for `ttlMs` when nobody holds it and, in
   * the same step, reads the client: what the holder sees is never older than
   * the lock, so it cannot act on a token another replica replaced just before.
   */
  lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead>;
  /** Pushes the expiry of a lock `owner` still holds to `ttlMs` from now; false when it no longer holds it. */
  extendLock(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * extendLock for many locks in one step (one round trip on Redis). Returns
   * the ids whose lock its owner no longer held: those were not extended.
   */
  extendLocks(locks: HeldLock[], ttlMs: number): Promise<string[]>;
  /** Releases only when `owner` still holds it. */
  releaseLock(id: string, owner: string): Promise<boolean>;
}
