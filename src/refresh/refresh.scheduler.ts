import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import { StoreEventsService } from '../store/store-events.service';
import { FallbackRenewer } from './fallback-renewer';
import { BATCH_FIRST_FETCH_DELAY_MS, FirstFetches } from './first-fetches';
import { FirstFetchPacer } from './first-fetch-pacer';
import { LOOP_BUSY_METER, type LoopBusyMeter } from './loop-busy-meter';
import { Refresher } from './refresher';
import { WakeTimer } from './wake-timer';

/**
 * The scheduler's timers (the tick, the claim's wake-up, the start of first
 * fetches ahead) are registered with @nestjs/schedule's SchedulerRegistry, so
 * every timer of the app is listed (and cleared at shutdown) in one place.
 * They are plain setInterval/setTimeout underneath, not decorators: the tick
 * period comes from the configuration and the wake-ups are re-armed for each
 * earliest time, which a decorator's fixed schedule cannot express.
 */
const INTERVAL_NAME = 'token-refresh-tick';
const WAKE_TIMEOUT_NAME = 'token-refresh-wake';
const AHEAD_TIMEOUT_NAME = 'token-refresh-first-fetches-ahead';
/** A claimed client not rescheduled by then (its replica died) is due again; keeps takeover within 30 s. */
const CLAIM_LEASE_MS = 20_000;
/**
 * How long finished refreshes are gathered before the schedule is asked for
 * more: a busy replica claims in batches, not with one round trip per refresh.
 * It is also the least a due client waits.
 */
const CLAIM_BATCH_WINDOW_MS = 5;
/**
 * Share of the slots that first fetches taken ahead of their due time may
 * fill: the rest stays free for refreshes of held tokens falling due
 * meanwhile, which then never wait for a first fetch to finish.
 */
const AHEAD_SHARE_OF_SLOTS = 0.75;
/**
 * A refresh of a held token claimed this late means this process is short of
 * CPU rather than of slots (first fetches and imports compete with it for the
 * event loop): first fetches taken ahead are halved, and batches wait.
 */
const HELD_LATE_MS = 100;
/** A batch's first fetches are taken ahead once no batch was stored here for this long (an import has paused). */
const IMPORT_QUIET_MS = 500;

/**
 * Takes the clients that are due from the store's schedule (a sorted set, so
 * a claim costs what is due, not what is registered) and refreshes them. It
 * wakes when the earliest scheduled client falls due, not on the next tick,
 * so refreshes start on time to within a few milliseconds; the tick
 * (SCHEDULER_TICK_MS) only catches schedules changed by other replicas. A
 * backlog drains at the speed of the upstream: as refreshes finish, more due
 * clients are claimed at once. First fetches of clients registered here come
 * after refreshes of held tokens: they are scheduled by FirstFetchPacer, and
 * taken ahead of that time only by slots the claim left idle, at its rate.
 */
@Injectable()
export class RefreshScheduler implements OnApplicationBootstrap {
  /**
   * Refreshes this replica runs at once: UPSTREAM_CONCURRENCY. More would wait
   * in the host's queue holding their locks and claims, and behind a slow
   * upstream another replica with free slots could not take them (the
   * SIGTERM fault scenario caught a handed-back client waiting 5 s so).
   */
  private readonly maxRunning: number;
  private running = 0;
  private claiming = false;
  private claimAgain = false;
  /** The last claim filled every free slot: more may be due, so a finishing refresh makes room for them. */
  private backlogged = false;
  /**
   * The last claim that filled every slot took refreshes of tokens already
   * held, not only first fetches of clients just registered: what a batch's
   * caughtUp waits for (its own first fetches must not hold the rest of it back).
   */
  private heldBacklogged = false;
  /** The last claim that took refreshes of held tokens took one HELD_LATE_MS late or more. */
  private heldLate = false;
  /** Clients registered here whose first fetch is not claimed yet. */
  private readonly firstFetches = new FirstFetches();
  private stopListening: (() => void) | null = null;
  private readonly aheadSlots: number;
  /** Slots first fetches taken ahead may fill now: AHEAD_SHARE_OF_SLOTS, halved while held tokens' refreshes are late. */
  private aheadLimit: number;
  private readonly pacer: FirstFetchPacer;
  private readonly fallbacks: FallbackRenewer;
  /** Claims due clients (a store round trip). */
  private readonly wake: WakeTimer;
  /**
   * Starts first fetches ahead without claiming: the pacer lets one more start
   * every millisecond or so, and a claim for each cost the broker and Redis
   * more than the first fetches did (a million-client import's ran at half
   * the rate the CPU allowed).
   */
  private readonly ahead: WakeTimer;
  private stopped = false;
  private lastTickAt: number | null = null;
  private failingSince: number | null = null;
  /** When a batch was last announced here (expectFirstFetches): first fetches are not taken ahead while imports go on. */
  private importSeenAt = Number.NEGATIVE_INFINITY;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly refresher: Refresher,
    private readonly metrics: MetricsService,
    private readonly registry: SchedulerRegistry,
    private readonly events: StoreEventsService,
    @Inject(LOOP_BUSY_METER) loopBusy: LoopBusyMeter,
  ) {
    this.maxRunning = config.upstreamConcurrency;
    this.aheadSlots = Math.max(1, Math.floor(this.maxRunning * AHEAD_SHARE_OF_SLOTS));
    this.aheadLimit = this.aheadSlots;
    this.pacer = new FirstFetchPacer(this.maxRunning, loopBusy, Date.now());
    this.fallbacks = new FallbackRenewer(store, logger, this.firstFetches);
    this.wake = new WakeTimer(registry, WAKE_TIMEOUT_NAME, () => this.claimNow());
    this.ahead = new WakeTimer(registry, AHEAD_TIMEOUT_NAME, () => this.startFirstFetchesAhead());
  }

  onApplicationBootstrap(): void {
    // A client registered here changes once its first token is stored, by whichever replica claimed it
    // (insertions announce nothing): with several replicas most first fetches are claimed by the others,
    // and none of those may be taken ahead here afterwards, nor counted as waiting.
    this.stopListening = this.events.onClientChanged((id) => this.firstFetches.settle(id));
    const interval = setInterval(() => this.claimNow(), this.config.schedulerTickMs);
    interval.unref();
    this.registry.addInterval(INTERVAL_NAME, interval);
    this.claimNow();
  }

  /**
   * Waits, up to `maxWaitMs`, while more clients are due than this replica has
   * refresh slots for: admin writes call it so that refreshes of the tokens
   * already held come first when the process is saturated. With `batch`, only
   * while such claims took refreshes of held tokens, or took them late (short
   * of CPU): a batch's first fetches are spread by the pacer and must not hold
   * the rest of it back.
   */
  async caughtUp(maxWaitMs: number, batch = false): Promise<void> {
    const giveUpAt = Date.now() + maxWaitMs;
    const behind = () => (batch ? this.heldBacklogged || this.heldLate : this.backlogged);
    while (behind() && !this.stopped && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, CLAIM_BATCH_WINDOW_MS));
    }
  }

  /** Takes no more due clients; those running finish. */
  stop(): void {
    this.stopped = true;
    this.stopListening?.();
    this.wake.clear();
    this.ahead.clear();
    if (this.registry.doesExist('interval', INTERVAL_NAME)) this.registry.deleteInterval(INTERVAL_NAME);
  }

  /** True while ticks complete: the readiness probe's view of the scheduler. */
  isRunning(now = Date.now()): boolean {
    if (this.stopped || this.lastTickAt === null) return false;
    return now - this.lastTickAt <= Math.max(5_000, 3 * this.config.schedulerTickMs);
  }

  /**
   * A client has just become due (registered, say): it is claimed within
   * CLAIM_BATCH_WINDOW_MS, together with any others made due meanwhile.
   */
  pump(): void {
    this.wakeBy(Date.now() + CLAIM_BATCH_WINDOW_MS);
  }

  /** Claims due clients for every free slot now (or as soon as the claim running now is done). */
  private claimNow(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    void this.claim()
      .then(() => {
        if (this.failingSince !== null) this.logger.info('scheduler ticks complete again');
        this.failingSince = null;
        this.lastTickAt = Date.now();
      })
      .catch((error) => {
        // Once per outage, not once per tick: a store outage would otherwise write a line a second.
        if (this.failingSince === null) this.logger.warn({ err: error }, 'scheduler tick failed; retrying every tick');
        this.failingSince ??= Date.now();
      })
      .finally(() => {
        this.claiming = false;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.claimNow();
        }
      });
  }

  private async claim(): Promise<void> {
    if (!this.stopped) this.fallbacks.renewFallingDue(Date.now());
    const free = this.maxRunning - this.running;
    if (free <= 0) {
      this.backlogged = true;
      return;
    }
    const now = Date.now();
    const { due, nextDueAt } = await this.store.claimDue(now, now + CLAIM_LEASE_MS, free);
    for (const { id, dueAt } of due) {
      if (this.stopped) {
        // Stopped while claiming: hand the client back at once rather than after the lease.
        await this.store.setDue(id, dueAt);
        continue;
      }
      this.metrics.refreshLag.observe(Math.max(0, now - dueAt) / 1000);
      this.start(id);
    }
    this.backlogged = due.length === free;
    let held = 0;
    let earliestHeldDueAt = Number.POSITIVE_INFINITY;
    for (const { id, dueAt } of due) {
      if (this.firstFetches.settle(id)) continue;
      held += 1;
      earliestHeldDueAt = Math.min(earliestHeldDueAt, dueAt);
    }
    this.pacer.heldClaimed(held, now);
    this.heldBacklogged = this.backlogged && held > 0;
    this.followHeldLateness(held, now - earliestHeldDueAt);
    this.firstFetches.forget(now);
    this.startFirstFetchesAhead();
    if (!this.backlogged && nextDueAt !== null) this.wakeBy(Math.max(nextDueAt, Date.now() + CLAIM_BATCH_WINDOW_MS));
  }

  /**
   * Halves the first fetches taken ahead while held tokens' refreshes are
   * claimed late; adds one back per claim on time, and per claim that found
   * no held token due with slots to spare (none was late: after an import,
   * whose batches made them late, first fetches may run long before any held
   * token falls due, and must not crawl on one slot meanwhile).
   */
  private followHeldLateness(held: number, worstLateMs: number): void {
    if (held === 0 && this.backlogged) return;
    this.heldLate = held > 0 && worstLateMs >= HELD_LATE_MS;
    this.aheadLimit = this.heldLate
      ? Math.max(1, Math.floor(this.aheadLimit / 2))
      : Math.min(this.aheadSlots, this.aheadLimit + 1);
  }

  /** Runs a scheduled refresh of the client in a slot; a freed slot wakes a claim when more is waiting. */
  private start(id: string): void {
    this.running += 1;
    const startedAt = Date.now();
    void this.refresher
      .refresh(id, 'scheduled')
      .catch((error) => this.logger.warn({ err: error, clientId: id }, 'scheduled refresh failed'))
      .finally(() => {
        this.running -= 1;
        // A freed slot is filled by the next claim, up to CLAIM_BATCH_WINDOW_MS later: part of its turn.
        this.pacer.refreshed(Date.now() - startedAt + CLAIM_BATCH_WINDOW_MS);
        if (this.backlogged) this.wakeBy(Date.now() + CLAIM_BATCH_WINDOW_MS);
        else if (this.firstFetches.waiting > 0) this.aheadBy(Date.now() + CLAIM_BATCH_WINDOW_MS);
      });
  }

  /**
   * Slots that the claim (refreshes due, held tokens first by due time) left
   * idle go to first fetches of clients stored here, ahead of their due time,
   * earliest first, at the pacer's rate (the first cycle after an import
   * echoes it): their schedule entry is the fallback when this replica is
   * gone. A refresh of a held token falling due meanwhile still finds a free
   * slot (AHEAD_SHARE_OF_SLOTS, less while those are late:
   * followHeldLateness); one claimed later than its ahead run began joins
   * that run (the refresher coalesces).
   */
  private startFirstFetchesAhead(): void {
    const importQuietAt = this.importSeenAt + IMPORT_QUIET_MS;
    if (this.firstFetches.waiting > 0 && Date.now() < importQuietAt) {
      this.aheadBy(importQuietAt);
      return;
    }
    for (const id of this.firstFetches.waitingInOrder()) {
      if (this.stopped || this.running >= this.aheadLimit) return;
      const now = Date.now();
      if (!this.pacer.takeAhead(now)) {
        // A few at a time: the pacer lets that many pile up meanwhile.
        this.aheadBy(Math.max(this.pacer.nextAheadAt(now), now + CLAIM_BATCH_WINDOW_MS));
        return;
      }
      this.firstFetches.settle(id);
      this.start(id);
    }
  }

  /**
   * Clients about to be registered here, together: returns the due time to
   * store them with (see FirstFetchPacer). Announced before they are stored,
   * so that a claim that takes them at once still knows them for first fetches.
   */
  expectFirstFetches(ids: readonly string[], batch = false): number {
    const now = Date.now();
    if (batch) this.importSeenAt = now;
    const dueAt = this.pacer.dueAt(ids.length, now) + (batch ? BATCH_FIRST_FETCH_DELAY_MS : 0);
    this.firstFetches.announce(ids, dueAt, batch);
    return dueAt;
  }

  /** Clients announced by expectFirstFetches that were not stored after all. */
  dropFirstFetches(ids: readonly string[]): void {
    this.firstFetches.drop(ids);
  }

  /** Clients announced by expectFirstFetches are stored: their first fetches may be taken ahead (see pump()). */
  firstFetchesStored(ids: readonly string[]): void {
    this.firstFetches.markStored(ids);
  }

  /** Claims at `at` at the latest; anything beyond the next tick is left to the tick. */
  private wakeBy(at: number): void {
    if (this.stopped || at - Date.now() >= this.config.schedulerTickMs) return;
    this.wake.by(at);
  }

  /** Starts first fetches ahead at `at` at the latest, without a claim. */
  private aheadBy(at: number): void {
    if (!this.stopped) this.ahead.by(at);
  }
}
