/**
 * Before any refresh is measured: what a refresh is assumed to hold its slot
 * for. Low on purpose, so that a first registration is not spread thin; the
 * average moves to the measured time within a few dozen refreshes.
 */
const INITIAL_REFRESH_MS = 20;
/** Weight of each new refresh time in the moving average. */
const REFRESH_MS_WEIGHT = 0.05;
/** Refreshes of held tokens are counted over windows of this length. */
const HELD_RATE_WINDOW_MS = 1_000;
/**
 * Share of the capacity left by refreshes of held tokens that first fetches
 * are spread over: the rest absorbs bursts of held refreshes and errors in
 * the estimate, so a held token's refresh rarely finds first fetches queued
 * ahead of it.
 */
const FIRST_FETCH_SHARE = 0.8;
/** First fetches always get at least this share of the capacity, however busy refreshes of held tokens are. */
const FIRST_FETCH_FLOOR_SHARE = 0.05;

/**
 * Gives the first fetches of newly registered clients their due times: now
 * when none are waiting, otherwise spaced after those handed out before at
 * the rate the upstream can take beside the refreshes of held tokens. A new
 * client has no token to protect, so its first fetch has no deadline; a held
 * token's refresh has one. Spread so, an import of any size never queues
 * first fetches ahead of a held token's refresh in the schedule (claims
 * follow due times), and registration never waits for first fetches.
 * Measured, not configured: slots times the mean time a refresh holds its
 * slot is what the upstream (and this process) answers per second. No I/O.
 */
export class FirstFetchPacer {
  private refreshMs = INITIAL_REFRESH_MS;
  private heldPerSecond = 0;
  private heldInWindow = 0;
  private windowStart: number;
  /** When the first fetches handed out so far are all due: the next are spaced after it. */
  private tail = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly slots: number,
    now: number,
  ) {
    this.windowStart = now;
  }

  /** A refresh (any kind) held its slot for `ms`. */
  refreshed(ms: number): void {
    this.refreshMs += (Math.max(1, ms) - this.refreshMs) * REFRESH_MS_WEIGHT;
  }

  /** `count` refreshes of held tokens were claimed at `now`. */
  heldClaimed(count: number, now: number): void {
    this.heldInWindow += count;
    const elapsed = now - this.windowStart;
    if (elapsed < HELD_RATE_WINDOW_MS) return;
    const rate = (this.heldInWindow * 1_000) / elapsed;
    this.heldPerSecond = (this.heldPerSecond + rate) / 2;
    this.heldInWindow = 0;
    this.windowStart = now;
  }

  /** First fetches per second the schedule is given. */
  perSecond(): number {
    const capacity = (this.slots * 1_000) / this.refreshMs;
    return Math.max(capacity * FIRST_FETCH_FLOOR_SHARE, (capacity - this.heldPerSecond) * FIRST_FETCH_SHARE);
  }

  /** The due time of `count` first fetches registered together at `now`; the next ones come after them. */
  dueAt(count: number, now: number): number {
    const at = Math.max(now, this.tail);
    this.tail = at + (count * 1_000) / this.perSecond();
    return at;
  }
}
