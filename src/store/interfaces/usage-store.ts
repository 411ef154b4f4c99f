/** What usage times are kept for: clients (a token served for them) and service keys (a token served to them). */
export type UsageKind = 'clients' | 'serviceKeys';

/** Id -> epoch ms of the last use seen, per kind. */
export type UsageStamps = Record<UsageKind, ReadonlyMap<string, number>>;

/**
 * When each client and service key was last used. Replicas record their
 * stamps in batches, independently and in any order, so the store keeps the
 * latest time it was given for each id: a late batch never moves a time back.
 */
export interface UsageStore {
  /** Keeps, per id, the later of the stored time and the given one; one write (one round trip on Redis). */
  recordUsage(stamps: UsageStamps): Promise<void>;
  /** Epoch ms of each id's last recorded use, null for none, in the order of `ids`. */
  lastUsage(kind: UsageKind, ids: readonly string[]): Promise<(number | null)[]>;
  /** Drops the times of deleted clients or keys. */
  forgetUsage(kind: UsageKind, ids: readonly string[]): Promise<void>;
}
