import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { ClientMaterial } from '../client-auth/sealed-material';
import { BrokerError } from '../common/broker-error';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import type { ClientEntry, ClientStatus, StoredToken } from '../store/store.types';
import { nextState, refusalMessage, type RefreshReason } from './refresh-policy';
import { RefreshScheduler } from './refresh.scheduler';
import { Refresher } from './refresher';

export type { RefreshReason } from './refresh-policy';
/** The hot path serves a token only while it has this much more than MIN_TOKEN_TTL_SECONDS left. */
export { SERVE_MARGIN_MS } from './refresh-timing';

/**
 * What a verified rotation writes: the client's new status, its first token
 * (null for API keys), and when it is next due.
 */
export interface VerifiedCredentials {
  status: ClientStatus;
  token: StoredToken | null;
  dueAt: number;
}

/**
 * All the rest of the broker sees of refreshing. Behind it: the pure policy
 * (refresh-policy.ts), the refresh lock (lock-manager.ts), the runner
 * (refresher.ts), the scheduler (refresh.scheduler.ts) and the upstream HTTP
 * client (upstream/).
 */
@Injectable()
export class RefreshFacade {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    private readonly refresher: Refresher,
    private readonly scheduler: RefreshScheduler,
  ) {}

  /**
   * Runs, or joins, the one refresh of this client for this reason; resolves
   * once it has landed, failed, or been done by someone else. The caller then
   * reads the outcome from the store.
   */
  refresh(id: string, reason: RefreshReason, actor?: Principal): Promise<void> {
    return this.refresher.refresh(id, reason, actor);
  }

  /**
   * Asks the upstream whether `material` (secret, key, certificate) works for `entry`, the client as it
   * will be once rotated (its new generation, its current status). Throws 422
   * `credentials_rejected` when the upstream refuses it and 503
   * `upstream_unavailable` when it cannot tell; otherwise returns what to write.
   */
  async verify(entry: ClientEntry, material: ClientMaterial): Promise<VerifiedCredentials> {
    const askedAt = Date.now();
    const outcome = await this.refresher.ask(entry.client, material, true);
    if (outcome.kind === 'rejected') {
      const refusal = refusalMessage(outcome, 'the new credentials', false);
      throw new BrokerError('rotation_rejected', `The ${refusal}; the old secret stays in force`);
    }
    if (outcome.kind === 'transient') {
      throw BrokerError.upstreamUnavailable(outcome.retryAfterSeconds ?? 5, `${outcome.reason}; nothing was changed`);
    }
    const next = nextState(entry, outcome, 'demand', Date.now(), askedAt, this.config);
    const sealed = this.refresher.seal(entry.client.id, next);
    return { status: sealed.status, token: sealed.token ?? null, dueAt: sealed.dueAt };
  }

  /** Makes the client due at `dueAt`; the scheduler claims it then (within milliseconds when it is due now). */
  async schedule(id: string, dueAt: number): Promise<void> {
    await this.store.setDue(id, dueAt);
    this.scheduler.pump();
  }

  /**
   * Clients announced by registering() are stored: their first fetches start
   * within milliseconds when slots are idle, before their due time.
   */
  registered(ids: readonly string[]): void {
    this.scheduler.firstFetchesStored(ids);
    this.scheduler.pump();
  }

  /**
   * Clients about to be registered together (call before storing them):
   * returns the due time of their first fetches, to store them with. It is
   * now unless first fetches are queued; then it is spread after them, at the
   * pace the upstream takes beside the refreshes of held tokens, so those
   * are never queued behind an import. With `batch` (an import), they are
   * put off until no batch has been stored here for a moment (see
   * RefreshScheduler), so an import does not pay for them as it goes. A GET
   * still fetches a pending client's token at once.
   */
  registering(ids: readonly string[], batch = false): number {
    return this.scheduler.expectFirstFetches(ids, batch);
  }

  /** Clients announced by registering() that were not stored after all. */
  notRegistered(ids: readonly string[]): void {
    this.scheduler.dropFirstFetches(ids);
  }

  /**
   * Waits, up to `maxWaitMs`, while more clients are due than this replica has
   * refresh slots for, so that admin writes let refreshes of held tokens go
   * first. With `batch`, only while those are refreshes of held tokens.
   */
  caughtUp(maxWaitMs: number, batch = false): Promise<void> {
    return this.scheduler.caughtUp(maxWaitMs, batch);
  }

  /** True while scheduler ticks complete: the readiness probe's view of refreshing. */
  isSchedulerRunning(): boolean {
    return this.scheduler.isRunning();
  }

  /** Shutdown, first step: takes no more scheduled work; refreshes running finish. */
  stopScheduling(): void {
    this.scheduler.stop();
  }

  /**
   * Shutdown, last step: lets running refreshes finish for up to `graceMs`,
   * then gives back every refresh lock still held and makes those clients due
   * now, so another replica takes them at once.
   */
  drain(graceMs: number): Promise<void> {
    return this.refresher.drain(graceMs);
  }
}
