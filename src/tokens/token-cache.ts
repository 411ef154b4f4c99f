import { Injectable } from '@nestjs/common';
import { StoreEventsService } from '../store/store-events.service';
import type { ClientType } from '../store/store.types';

/** A token this replica may serve without asking the store: decrypted, with what authorisation needs. */
export interface CachedToken {
  workspaceId: string;
  type: ClientType;
  accessToken: string;
  /** Epoch ms; null for api_key clients, whose key does not expire. */
  expiresAt: number | null;
  /**
   * The serialised answer up to `"expires_in":` (all of it for an API key),
   * made once when the token is cached, so serving it is one concatenation.
   */
  bodyPrefix: string;
  /** bodyPrefix's length in bytes, so that the answer's Content-Length needs no scan of it (answerBytes). */
  bodyPrefixBytes: number;
}

export function cachedToken(
  workspaceId: string,
  type: ClientType,
  accessToken: string,
  expiresAt: number | null,
): CachedToken {
  const bodyPrefix =
    expiresAt === null
      ? JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_at: null, expires_in: null })
      : `{"access_token":${JSON.stringify(accessToken)},"token_type":"Bearer","expires_at":"${new Date(expiresAt).toISOString()}","expires_in":`;
  return { workspaceId, type, accessToken, expiresAt, bodyPrefix, bodyPrefixBytes: Buffer.byteLength(bodyPrefix) };
}

/** The serialised token response: `bodyPrefix`, and for an expiring token the seconds left. */
export function answerBody(token: CachedToken, now: number): string {
  if (token.expiresAt === null) return token.bodyPrefix;
  return `${token.bodyPrefix}${Math.floor((token.expiresAt - now) / 1000)}}`;
}

/** The length in bytes of `body`, an answerBody of `token`: what it adds to the prefix is ASCII, a byte a character. */
export function answerBytes(token: CachedToken, body: string): number {
  return token.bodyPrefixBytes + body.length - token.bodyPrefix.length;
}

/**
 * The hot path's memory. Every change to a client on any replica is
 * broadcast by the store; the entry is dropped at once, so rotation and
 * deletion reach every replica as fast as the broadcast (milliseconds). When
 * the broadcast may have been missed (reconnect), everything is dropped.
 *
 * It holds the tokens of at most MAX_HELD clients, those served most
 * recently: a replica of a million clients keeps the ones its callers use,
 * not one decrypted token per client (about 400 bytes each). Eviction is a
 * clock (second chance): a hit only marks its entry, so serving costs no
 * reordering; when full, the oldest unmarked entry goes, and marked ones
 * met on the way are unmarked and moved behind the rest. An evicted client's
 * next request reads the store once, as after a refresh.
 */
export const MAX_HELD = 100_000;
const MAX_TRACKED = 100_000;

/** A held token, and whether it was served since the clock last passed it. */
interface Held {
  readonly token: CachedToken;
  used: boolean;
}

@Injectable()
export class TokenCache {
  private readonly entries = new Map<string, Held>();
  /**
   * Invalidations per client, so that a load which began before one does not
   * cache what it read. Bounded: past MAX_TRACKED it starts over under a new
   * era, which only makes loads in flight at that moment skip caching.
   */
  private invalidations = new Map<string, number>();
  private era = 0;

  constructor(events: StoreEventsService) {
    events.onClientChanged((id) => this.invalidate(id));
    events.onResync(() => this.clear());
  }

  get(id: string): CachedToken | undefined {
    const held = this.entries.get(id);
    if (held === undefined) return undefined;
    held.used = true;
    return held.token;
  }

  /** To take before reading the store, and hand back to `set`. */
  version(id: string): string {
    return `${this.era}:${this.invalidations.get(id) ?? 0}`;
  }

  /** Caches only when the client was not invalidated since `version` was taken. */
  set(id: string, token: CachedToken, version: string): void {
    if (version !== this.version(id)) return;
    if (!this.entries.delete(id)) this.makeRoom();
    this.entries.set(id, { token, used: false });
  }

  /** Evicts one entry when full: the oldest not served since the clock last passed it. */
  private makeRoom(): void {
    if (this.entries.size < MAX_HELD) return;
    for (const [id, held] of this.entries) {
      this.entries.delete(id);
      if (!held.used) return;
      held.used = false;
      this.entries.set(id, held);
    }
  }

  invalidate(id: string): void {
    this.entries.delete(id);
    if (this.invalidations.size >= MAX_TRACKED) this.startNewEra();
    this.invalidations.set(id, (this.invalidations.get(id) ?? 0) + 1);
  }

  clear(): void {
    this.entries.clear();
    this.startNewEra();
  }

  private startNewEra(): void {
    this.invalidations = new Map();
    this.era += 1;
  }

  get size(): number {
    return this.entries.size;
  }
}
