import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { randomBytes } from 'node:crypto';
import { BROKER_STORE, type LockStore, type ScheduleStore } from '../store/broker-store';
import type { ClientEntry } from '../store/store.types';

/**
 * A refresh lock lives this long unless its holder renews it (all held locks,
 * every third of it) while its request waits for an upstream slot and runs: a
 * replica that dies lets go within this time, whatever UPSTREAM_TIMEOUT_MS is.
 */
export const LOCK_TTL_MS = 15_000;
const RENEWAL_INTERVAL_NAME = 'refresh-lock-renewal';

/** What taking a lock found: whether this owner holds it now, and the client as read under it. */
export type LockAttempt = { locked: true; entry: ClientEntry | null } | { locked: false };

/**
 * The refresh lock, and nothing else: one per client across replicas, held by
 * an owner token and released only by its owner. Every lock this replica
 * holds is renewed in one sweep, and all are given back at shutdown.
 */
@Injectable()
export class LockManager implements OnModuleInit, OnModuleDestroy {
  /** Client id -> owner token of each refresh lock this replica holds. */
  private readonly held = new Map<string, string>();
  /** Owner tokens need only be unique (they fence, they guard nothing): a random replica id and a counter. */
  private readonly replicaId = randomBytes(8).toString('hex');
  private sequence = 0;

  constructor(
    @Inject(BROKER_STORE) private readonly store: LockStore & ScheduleStore,
    private readonly registry: SchedulerRegistry,
  ) {}

  onModuleInit(): void {
    const renewal = setInterval(() => this.renewAll(), LOCK_TTL_MS / 3);
    renewal.unref();
    this.registry.addInterval(RENEWAL_INTERVAL_NAME, renewal);
  }

  onModuleDestroy(): void {
    if (this.registry.doesExist('interval', RENEWAL_INTERVAL_NAME)) this.registry.deleteInterval(RENEWAL_INTERVAL_NAME);
  }

  /** A new owner token: one per refresh, kept across its attempts at the lock. */
  newOwner(): string {
    return `${this.replicaId}.${(this.sequence += 1)}`;
  }

  /** Takes the client's lock for `owner` and reads the client in the same round trip. */
  async take(id: string, owner: string): Promise<LockAttempt> {
    const attempt = await this.store.lockAndRead(id, owner, LOCK_TTL_MS);
    if (!attempt.locked) return { locked: false };
    this.held.set(id, owner);
    return { locked: true, entry: attempt.entry };
  }

  /** The lock is no longer this replica's to renew: a write fenced on it has just released it. */
  forget(id: string): void {
    this.held.delete(id);
  }

  /** Gives the lock back, if `owner` still holds it. */
  async release(id: string, owner: string): Promise<void> {
    this.held.delete(id);
    await this.store.releaseLock(id, owner);
  }

  /**
   * Shutdown: gives back every lock still held, so another replica need not
   * wait them out, and makes each of those clients due now: otherwise its
   * schedule entry would sit on this replica's claim lease (20 s) before
   * anyone took it.
   */
  async releaseAll(): Promise<void> {
    const now = Date.now();
    await Promise.allSettled(
      [...this.held].map(async ([id, owner]) => {
        await this.store.releaseLock(id, owner);
        await this.store.setDue(id, now);
      }),
    );
    this.held.clear();
  }

  /** Keeps every lock this replica holds alive while its refresh waits for an upstream slot and runs. */
  renewAll(): void {
    if (this.held.size > 0) this.extendHeld([...this.held]);
  }

  /**
   * Renews every held lock in one store call (one script on Redis). A lock
   * this replica no longer holds has expired or been taken over: its refresh's
   * write is fenced on the owner and will not land, so there is nothing to do
   * here. A failed renewal only lets the locks expire, which the fencing allows for too.
   */
  private extendHeld(locks: [id: string, owner: string][]): void {
    this.store
      .extendLocks(
        locks.map(([id, owner]) => ({ id, owner })),
        LOCK_TTL_MS,
      )
      .catch(() => undefined);
  }
}
