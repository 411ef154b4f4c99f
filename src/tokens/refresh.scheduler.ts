import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import { RefreshService } from './refresh.service';

const INTERVAL_NAME = 'token-refresh-tick';
/** A claimed client not rescheduled by then (its replica died) is due again; keeps takeover within 30 s. */
const CLAIM_LEASE_MS = 20_000;

/**
 * Each tick takes the clients that are due from the store's schedule (a
 * sorted set, so a tick costs what is due, not what is registered) and
 * refreshes them, at most UPSTREAM_CONCURRENCY at a time; as each finishes,
 * the next due ones are taken at once, so a backlog drains at the speed of
 * the upstream rather than one batch per tick.
 */
@Injectable()
export class RefreshScheduler implements OnApplicationBootstrap {
  private running = 0;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private lastTickAt: number | null = null;
  private failingSince: number | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly refresher: RefreshService,
    private readonly metrics: MetricsService,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const interval = setInterval(() => this.pump(), this.config.schedulerTickMs);
    interval.unref();
    this.registry.addInterval(INTERVAL_NAME, interval);
    this.pump();
  }

  /** Takes no more due clients; those running finish. */
  stop(): void {
    this.stopped = true;
    if (this.registry.doesExist('interval', INTERVAL_NAME)) this.registry.deleteInterval(INTERVAL_NAME);
  }

  /** True while ticks complete: the readiness probe's view of the scheduler. */
  isRunning(now = Date.now()): boolean {
    if (this.stopped || this.lastTickAt === null) return false;
    return now - this.lastTickAt <= Math.max(5_000, 3 * this.config.schedulerTickMs);
  }

  /** Takes due clients until none are due or every slot is busy. Safe to call at any time. */
  pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.claimWhileFree()
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
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      });
  }

  private async claimWhileFree(): Promise<void> {
    for (;;) {
      const free = this.config.upstreamConcurrency - this.running;
      if (free <= 0 || this.stopped) return;
      const now = Date.now();
      const due = await this.store.claimDue(now, now + CLAIM_LEASE_MS, free);
      for (const { id, dueAt } of due) {
        if (this.stopped) {
          // Stopped while claiming: hand the client back at once rather than after the lease.
          await this.store.setDue(id, dueAt);
          continue;
        }
        this.metrics.refreshLag.observe(Math.max(0, now - dueAt) / 1000);
        this.running += 1;
        void this.refresher
          .refresh(id, 'scheduled')
          .catch((error) => this.logger.warn({ err: error, clientId: id }, 'scheduled refresh failed'))
          .finally(() => {
            this.running -= 1;
            this.pump();
          });
      }
      if (due.length < free) return;
    }
  }
}
