import type { CallControl } from './broker-http.ts';

/** What getTokenInfo resolves to. */
export interface TokenInfo {
  readonly accessToken: string;
  /** Local time after which the upstream no longer accepts the token; null for an `api_key` client. */
  readonly expiresAt: Date | null;
}

/** A token held for a client, with the promises every cached call hands out (made once, so a hit allocates nothing). */
export interface HeldToken {
  readonly accessToken: string;
  readonly expiresAtMs: number | null;
  /** From this moment on the token has less than minTtl left and is not returned; Infinity for an API key. */
  readonly usableUntilMs: number;
  readonly asString: Promise<string>;
  readonly asInfo: Promise<TokenInfo>;
}

export function holdToken(accessToken: string, expiresAtMs: number | null, minTtlMs: number): HeldToken {
  const info: TokenInfo = Object.freeze({
    accessToken,
    expiresAt: expiresAtMs === null ? null : new Date(expiresAtMs),
  });
  return {
    accessToken,
    expiresAtMs,
    usableUntilMs: expiresAtMs === null ? Infinity : expiresAtMs - minTtlMs,
    asString: Promise.resolve(accessToken),
    asInfo: Promise.resolve(info),
  };
}

/** The one broker call in flight for a client: every caller who needs a token now awaits it. */
export interface PendingCall {
  readonly promise: Promise<HeldToken>;
  readonly control: CallControl;
}

export class CacheEntry {
  token: HeldToken | null = null;
  pending: PendingCall | null = null;
  renewTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly clientId: string,
    public lastUsedMs: number,
  ) {}
}

/**
 * Entries by client id, at most `maxEntries`: a new client past that evicts the least recently
 * used one (found by a scan, paid only when a new client arrives at a full cache, so a hit stays
 * a map lookup and one field write).
 */
export class TokenCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly maxEntries: number,
    private readonly onEvicted: (entry: CacheEntry) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(clientId: string): CacheEntry | undefined {
    return this.entries.get(clientId);
  }

  getOrCreate(clientId: string, nowMs: number): CacheEntry {
    const found = this.entries.get(clientId);
    if (found !== undefined) return found;
    if (this.entries.size >= this.maxEntries) this.evictLeastRecentlyUsed();
    const entry = new CacheEntry(clientId, nowMs);
    this.entries.set(clientId, entry);
    return entry;
  }

  /** True while the entry is the one cached for its client (not evicted, dropped or replaced). */
  holds(entry: CacheEntry): boolean {
    return this.entries.get(entry.clientId) === entry;
  }

  delete(entry: CacheEntry): void {
    if (this.holds(entry)) this.entries.delete(entry.clientId);
  }

  /** Empties the cache, handing back what it held. */
  clear(): CacheEntry[] {
    const all = [...this.entries.values()];
    this.entries.clear();
    return all;
  }

  private evictLeastRecentlyUsed(): void {
    let oldest: CacheEntry | undefined;
    for (const entry of this.entries.values()) {
      if (oldest === undefined || entry.lastUsedMs < oldest.lastUsedMs) oldest = entry;
    }
    if (oldest === undefined) return;
    this.entries.delete(oldest.clientId);
    this.onEvicted(oldest);
  }
}
