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
}

/**
 * The hot path's memory. Every change to a client on any replica is
 * broadcast by the store; the entry is dropped at once, so rotation and
 * deletion reach every replica as fast as the broadcast (milliseconds). When
 * the broadcast may have been missed (reconnect), everything is dropped.
 */
@Injectable()
export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();
  /** Bumped on every invalidation, so a load that raced with one does not cache what it read. */
  private epochs = new Map<string, number>();
  private globalEpoch = 0;

  constructor(events: StoreEventsService) {
    events.onClientChanged((id) => this.invalidate(id));
    events.onResync(() => this.clear());
  }

  get(id: string): CachedToken | undefined {
    return this.entries.get(id);
  }

  /** The version to hand back to `set`, taken before reading the store. */
  version(id: string): string {
    return `${this.globalEpoch}:${this.epochs.get(id) ?? 0}`;
  }

  /** Caches only when nothing was invalidated since `version` was taken. */
  set(id: string, token: CachedToken, version: string): void {
    if (version === this.version(id)) this.entries.set(id, token);
  }

  invalidate(id: string): void {
    this.entries.delete(id);
    this.epochs.set(id, (this.epochs.get(id) ?? 0) + 1);
  }

  clear(): void {
    this.entries.clear();
    this.epochs = new Map();
    this.globalEpoch += 1;
  }

  get size(): number {
    return this.entries.size;
  }
}
