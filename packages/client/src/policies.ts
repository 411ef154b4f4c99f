import type { TokenBrokerError } from './errors.ts';

/** Pure timing decisions, free of I/O and clocks: each takes `nowMs` and returns milliseconds. */

export interface RenewalSettings {
  minTtlMs: number;
  apiKeyRefreshMs: number;
}

const FIRST_BACKOFF_MS = 100;
const MIN_RENEWAL_RETRY_MS = 1_000;
const MAX_RENEWAL_RETRY_MS = 30_000;

/**
 * When to renew a token just obtained, counted from now; null when it is not usable at all.
 * Late, so that the broker has a new token by then (it refreshes at a moment drawn from the first
 * half of REFRESH_BEFORE_SECONDS before expiry: 600 to 300 s by default) and a process makes one
 * request per token lifetime; early enough to leave a twentieth of the usable life (at least
 * minTtl, at most half of it) for retries before the token may no longer be returned: an hour-long
 * token is renewed 237 s before it expires.
 */
export function renewalDelayMs(expiresAtMs: number | null, nowMs: number, settings: RenewalSettings): number | null {
  if (expiresAtMs === null) return settings.apiKeyRefreshMs;
  const usableMs = expiresAtMs - settings.minTtlMs - nowMs;
  if (usableMs <= 0) return null;
  const leadMs = Math.min(usableMs / 2, Math.max(settings.minTtlMs, usableMs / 20));
  return usableMs - leadMs;
}

/**
 * The next try after a renewal that failed or brought back the same token: a quarter of the
 * usable life left, between 1 s and 30 s; null once the token is past use.
 */
export function renewalRetryDelayMs(
  expiresAtMs: number | null,
  nowMs: number,
  settings: RenewalSettings,
): number | null {
  const usableMs = expiresAtMs === null ? Infinity : expiresAtMs - settings.minTtlMs - nowMs;
  if (usableMs <= 0) return null;
  return Math.min(MAX_RENEWAL_RETRY_MS, Math.max(MIN_RENEWAL_RETRY_MS, usableMs / 4));
}

/**
 * The wait before another attempt at a broker call, or null when the error is not worth one:
 * the broker's Retry-After when it sent one, else exponential backoff with jitter up to maxBackoffMs.
 */
export function attemptDelayMs(
  error: TokenBrokerError,
  attempt: number,
  maxBackoffMs: number,
  random: () => number = Math.random,
): number | null {
  if (!error.retryable) return null;
  if (error.retryAfterSeconds !== null) return error.retryAfterSeconds * 1_000;
  const ceilingMs = Math.min(maxBackoffMs, FIRST_BACKOFF_MS * 2 ** attempt);
  return ceilingMs / 2 + (random() * ceilingMs) / 2;
}

/** `Retry-After` as seconds (RFC 9110: delay-seconds or an HTTP date); null when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - nowMs) / 1_000));
}
