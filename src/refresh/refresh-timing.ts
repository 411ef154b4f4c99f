/** Pure timing rules of SPEC.md "Refreshing"; `random` is injectable so tests can pin it. */

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_CAP_MS = 5 * 60_000;
export const REJECTED_RETRY_MS = 15 * 60_000;
/**
 * A token is served only while it has MIN_TOKEN_TTL_SECONDS plus this left, so
 * that it still has MIN_TOKEN_TTL_SECONDS when the answer reaches its caller
 * (transit and event-loop lag under load take milliseconds to tens of them).
 */
export const SERVE_MARGIN_MS = 500;
/** Retry-After beyond this is taken as this: an upstream must not park a client for days. */
export const RETRY_AFTER_CAP_MS = 60 * 60_000;

export interface RefreshWindowSettings {
  refreshBeforeSeconds: number;
  minTokenTtlSeconds: number;
  upstreamTimeoutMs: number;
}

/** A token's refresh window W: its last REFRESH_BEFORE_SECONDS, or half its lifetime if shorter. */
function refreshWindowMs(obtainedAt: number, expiresAt: number, settings: RefreshWindowSettings): number {
  const lifetimeMs = Math.max(0, expiresAt - obtainedAt);
  return Math.min(settings.refreshBeforeSeconds * 1000, lifetimeMs / 2);
}

/**
 * The refresh deadline: MIN_TOKEN_TTL_SECONDS + min(W/4, UPSTREAM_TIMEOUT_MS)
 * before expiry. A refresh drawn at the serving limit itself would land after
 * it (the request takes time, the scheduler wakes a few ms late), so the
 * margin leaves room for one upstream exchange, bounded by a quarter of the
 * window so that short windows keep some of their spread.
 */
export function refreshDeadline(obtainedAt: number, expiresAt: number, settings: RefreshWindowSettings): number {
  const windowMs = refreshWindowMs(obtainedAt, expiresAt, settings);
  return expiresAt - settings.minTokenTtlSeconds * 1000 - Math.min(windowMs / 4, settings.upstreamTimeoutMs);
}

/**
 * When to refresh a token: at a moment drawn uniformly from the first half of
 * its refresh window (between W and W/2 before expiry), and never later than
 * its refresh deadline (nor before it was obtained).
 */
export function scheduledRefreshAt(
  obtainedAt: number,
  expiresAt: number,
  settings: RefreshWindowSettings,
  random: () => number = Math.random,
): number {
  const windowMs = refreshWindowMs(obtainedAt, expiresAt, settings);
  const drawn = expiresAt - windowMs + random() * (windowMs / 2);
  return Math.max(obtainedAt, Math.min(drawn, refreshDeadline(obtainedAt, expiresAt, settings)));
}

/** The start of a token's refresh window: before it, a refresh would be wasted. */
export function refreshWindowStart(obtainedAt: number, expiresAt: number, settings: RefreshWindowSettings): number {
  const windowMs = refreshWindowMs(obtainedAt, expiresAt, settings);
  return Math.min(expiresAt - windowMs, refreshDeadline(obtainedAt, expiresAt, settings));
}

/** Exponential backoff with full jitter, at least what the upstream's Retry-After asked for. */
export function backoffDelayMs(
  consecutiveFailures: number,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(30, Math.max(0, consecutiveFailures - 1)));
  const jittered = Math.max(BACKOFF_BASE_MS / 10, random() * ceiling);
  return Math.max(jittered, Math.min(RETRY_AFTER_CAP_MS, (retryAfterSeconds ?? 0) * 1000));
}
