import type { AppLogger } from '../common/logger';
import type { BrokerStore } from '../store/broker-store';
import {
  BATCH_FIRST_FETCH_DELAY_MS,
  FALLBACK_RENEW_AHEAD_MS,
  type Fallbacks,
  type FirstFetches,
} from './first-fetches';

/** How often the fallbacks of first fetches held here are looked at. */
const FALLBACK_RENEW_EVERY_MS = 1_000;

/**
 * Moves on, once a second, the fallback entries of first fetches this
 * replica still holds that fall due within FALLBACK_RENEW_AHEAD_MS (see
 * FirstFetches). Runs beside claims, never holding one up; a renewal that
 * fails leaves those fallbacks to fall due and be claimed as before.
 */
export class FallbackRenewer {
  private lookedAt = Number.NEGATIVE_INFINITY;
  private renewing = false;

  constructor(
    private readonly store: BrokerStore,
    private readonly logger: AppLogger,
    private readonly firstFetches: FirstFetches,
  ) {}

  /** Renews those falling due, at most once a second and one renewal at a time. */
  renewFallingDue(now: number): void {
    if (this.renewing || now - this.lookedAt < FALLBACK_RENEW_EVERY_MS) return;
    this.lookedAt = now;
    const falling = this.firstFetches.takeFallingDue(now + FALLBACK_RENEW_AHEAD_MS);
    if (falling.length === 0) return;
    this.renewing = true;
    void this.renew(falling, now + BATCH_FIRST_FETCH_DELAY_MS).finally(() => (this.renewing = false));
  }

  private async renew(falling: Fallbacks[], until: number): Promise<void> {
    for (const { dueAt, ids } of falling) {
      try {
        await this.store.deferDue(ids, dueAt, until);
      } catch (error) {
        this.logger.warn({ err: error, clients: ids.length }, 'first-fetch fallbacks not renewed; they fall due');
        continue;
      }
      this.firstFetches.renewed(ids, until);
    }
  }
}
