import { performance } from 'node:perf_hooks';

/** Busy share of this process's event loop (0 to 1) since the meter was last read. */
export type LoopBusyMeter = () => number;

/** Injection token of the LoopBusyMeter the scheduler's first-fetch budget reads. */
export const LOOP_BUSY_METER = Symbol('LOOP_BUSY_METER');

/** The event loop's utilization between reads (perf_hooks): time in callbacks, collections included. */
export function eventLoopBusyMeter(): LoopBusyMeter {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}

/** First fetches taken ahead are counted, and the loop's busy share read, over windows of this length. */
export const BUDGET_WINDOW_MS = 500;
/**
 * Busy share of the event loop that first fetches taken ahead may bring it
 * to. A token is refreshed within the same part of its lifetime as every
 * other, so the first cycle after an import asks for refreshes at the rate
 * the first fetches came: taken at full speed, they would leave the broker
 * no room for anything else in that cycle (the million-client bench had it
 * at 0.93 core, and a 13% dip in the CPU it got made refreshes 4 s late).
 */
export const LOOP_BUSY_CEILING = 0.7;
/** Growth per window while the loop is under the ceiling: the ceiling over the busy share, within these. */
const LEAST_GROWTH = 1.1;
const MOST_GROWTH = 2;
/** However busy the loop is, first fetches taken ahead still start at this many per window. */
const FLOOR_PER_WINDOW = 5;
/** A limit this high limits nothing: it is dropped. */
const UNLIMITED_ABOVE = 100_000;

/**
 * How many first fetches may be taken ahead of their due time in each window:
 * unlimited while the event loop stays under LOOP_BUSY_CEILING, scaled to
 * bring it back under when it goes above, grown again by the room left
 * (from a tenth up to double each window) once it is under: from its floor
 * to no limit within 10 s of an idle loop. Held tokens' refreshes are never counted here nor held
 * back. Pure but for the meter it is given.
 */
export class FirstFetchBudget {
  private windowStart: number;
  private startedInWindow = 0;
  private limit = Number.POSITIVE_INFINITY;

  constructor(
    private readonly loopBusy: LoopBusyMeter,
    now: number,
  ) {
    this.windowStart = now;
    loopBusy();
  }

  /** Whether one more first fetch may be started ahead at `now`. */
  allows(now: number): boolean {
    this.roll(now);
    return this.startedInWindow < this.limit;
  }

  /** A first fetch was started ahead (after allows() said it may). */
  spent(): void {
    this.startedInWindow += 1;
  }

  /** When the budget is next renewed: the time to look again when it is spent. */
  nextWindowAt(): number {
    return this.windowStart + BUDGET_WINDOW_MS;
  }

  /** The current window's limit (Infinity: none). */
  get perWindow(): number {
    return this.limit;
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < BUDGET_WINDOW_MS) return;
    const busy = this.loopBusy();
    const startedPerWindow = (this.startedInWindow * BUDGET_WINDOW_MS) / elapsed;
    if (busy > LOOP_BUSY_CEILING) {
      this.limit = Math.max(FLOOR_PER_WINDOW, Math.floor((startedPerWindow * LOOP_BUSY_CEILING) / busy));
    } else if (this.limit !== Number.POSITIVE_INFINITY) {
      const growth = Math.min(MOST_GROWTH, Math.max(LEAST_GROWTH, LOOP_BUSY_CEILING / busy));
      const grown = Math.max(this.limit + 1, Math.round(this.limit * growth));
      this.limit = grown > UNLIMITED_ABOVE ? Number.POSITIVE_INFINITY : grown;
    }
    this.windowStart = now;
    this.startedInWindow = 0;
  }
}
