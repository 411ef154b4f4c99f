import type { LoopBusyMeter } from './loop-busy-meter';

/**
 * Before any refresh is measured: what a refresh is assumed to hold its slot
 * for. Low on purpose, so that a first registration is not spread thin; the
 * average moves to the measured time within a few dozen refreshes.
 */
const INITIAL_REFRESH_MS = 20;
/** Weight of each new refresh time in the moving average. */
const REFRESH_MS_WEIGHT = 0.05;
/** Refreshes are counted, and the event loop's busy share read, over windows of this length. */
export const PACER_WINDOW_MS = 1_000;
/**
 * A window whose event loop was at least this busy tells what a refresh
 * costs this process; a quieter one is mostly idle time and tells too little.
 */
const MEASURING_BUSY_SHARE = 0.3;
/** Weight of each measuring window in the moving average of the refreshes per second this process can run. */
const CPU_CAPACITY_WEIGHT = 0.2;
/**
 * Share of the capacity that refreshes of every kind are held to by pacing
 * first fetches: the rest absorbs bursts of held refreshes and errors in the
 * estimate, so a held token's refresh rarely finds first fetches queued
 * ahead of it.
 */
const REFRESH_SHARE = 0.8;
/**
 * First fetches always get at least this share of what the slots take,
 * however busy refreshes of held tokens are. Of the slots, not of the CPU:
 * with the event loop kept busy by other work (token requests, say), the
 * CPU's measure falls with the refreshes that work leaves room for, and a
 * share of it would fall to nothing.
 */
const FIRST_FETCH_FLOOR_SHARE = 0.1;
/** First fetches taken ahead may start this much of their rate at once. */
const AHEAD_BURST_MS = 100;

/**
 * The rate of first fetches of newly registered clients: REFRESH_SHARE of
 * what this process can refresh per second, less the refreshes of held
 * tokens it claims. A new client has no token to protect, so its first fetch
 * has no deadline; a held token's refresh has one. And a token is refreshed
 * in the same part of its life as every other, so the first cycle after an
 * import asks for refreshes at the rate its first fetches came: paced so,
 * first fetches plus refreshes stay within the share, in that cycle too
 * (taken at full speed, a million first fetches made the first cycle's
 * refreshes up to 7 s late). The capacity is measured, not configured: the
 * least of what the slots take (slots over the mean time a refresh holds
 * one) and what the CPU takes (refreshes finished per second over the event
 * loop's busy share). Due times of first fetches are spaced at this rate,
 * and those taken ahead of them are started at it. Pure but for the meter it
 * is given.
 */
export class FirstFetchPacer {
  private refreshMs = INITIAL_REFRESH_MS;
  private cpuPerSecond = Number.POSITIVE_INFINITY;
  private heldPerSecond = 0;
  private heldInWindow = 0;
  private finishedInWindow = 0;
  private windowStart: number;
  /** When the first fetches handed out so far are all due: the next are spaced after it. */
  private tail = Number.NEGATIVE_INFINITY;
  /** First fetches that may be taken ahead now (a token bucket at perSecond(), full to begin with). */
  private aheadAllowance = Number.POSITIVE_INFINITY;
  private aheadAllowanceAt: number;

  constructor(
    private readonly slots: number,
    private readonly loopBusy: LoopBusyMeter,
    now: number,
  ) {
    this.windowStart = now;
    this.aheadAllowanceAt = now;
    loopBusy();
  }

  /** A refresh (any kind) finished, having held its slot for `ms`. */
  refreshed(ms: number): void {
    this.refreshMs += (Math.max(1, ms) - this.refreshMs) * REFRESH_MS_WEIGHT;
    this.finishedInWindow += 1;
  }

  /** `count` refreshes of held tokens were claimed at `now`. */
  heldClaimed(count: number, now: number): void {
    this.heldInWindow += count;
    this.roll(now);
  }

  /** Refreshes per second this process can run: the least of what its slots and its CPU take. */
  capacity(): number {
    return Math.min(this.slotsPerSecond(), this.cpuPerSecond);
  }

  /** First fetches per second: what REFRESH_SHARE of the capacity leaves beside the refreshes of held tokens. */
  perSecond(): number {
    const floor = this.slotsPerSecond() * FIRST_FETCH_FLOOR_SHARE;
    return Math.max(floor, this.capacity() * REFRESH_SHARE - this.heldPerSecond);
  }

  /** The due time of `count` first fetches registered together at `now`; the next ones come after them. */
  dueAt(count: number, now: number): number {
    const at = Math.max(now, this.tail);
    this.tail = at + (count * 1_000) / this.perSecond();
    return at;
  }

  /** Whether one more first fetch may be taken ahead of its due time at `now`; true counts it as taken. */
  takeAhead(now: number): boolean {
    this.roll(now);
    const rate = this.perSecond();
    const burst = Math.max(1, (rate * AHEAD_BURST_MS) / 1_000);
    this.aheadAllowance = Math.min(burst, this.aheadAllowance + ((now - this.aheadAllowanceAt) * rate) / 1_000);
    this.aheadAllowanceAt = now;
    if (this.aheadAllowance < 1) return false;
    this.aheadAllowance -= 1;
    return true;
  }

  /** When takeAhead() will next say yes, after it said no at `now`. */
  nextAheadAt(now: number): number {
    return now + Math.ceil(((1 - this.aheadAllowance) * 1_000) / this.perSecond());
  }

  private slotsPerSecond(): number {
    return (this.slots * 1_000) / this.refreshMs;
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < PACER_WINDOW_MS) return;
    this.heldPerSecond = (this.heldPerSecond + (this.heldInWindow * 1_000) / elapsed) / 2;
    const busy = this.loopBusy();
    if (busy >= MEASURING_BUSY_SHARE && this.finishedInWindow > 0) {
      const measured = (this.finishedInWindow * 1_000) / elapsed / busy;
      this.cpuPerSecond = Number.isFinite(this.cpuPerSecond)
        ? this.cpuPerSecond + (measured - this.cpuPerSecond) * CPU_CAPACITY_WEIGHT
        : measured;
    }
    this.heldInWindow = 0;
    this.finishedInWindow = 0;
    this.windowStart = now;
  }
}
