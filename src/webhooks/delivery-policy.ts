import type { DeliveryResult } from '../store/webhook.types';

/**
 * How an attempt settles a delivery: any 2xx is delivered; anything else (a
 * status, a timeout, a refused or reset connection: `status` null) is retried
 * after the next delay of WEBHOOK_RETRY_SECONDS, and failed once they are used up.
 * Pure: the caller gives the time.
 */
export function settleAttempt(
  attemptsBefore: number,
  status: number | null,
  now: number,
  retrySeconds: readonly number[],
): DeliveryResult {
  const lastAttemptAt = new Date(now).toISOString();
  if (status !== null && status >= 200 && status < 300) {
    return { state: 'delivered', lastStatus: status, lastAttemptAt, nextAttemptMs: null };
  }
  const delay = retrySeconds[attemptsBefore];
  if (delay === undefined) return { state: 'failed', lastStatus: status, lastAttemptAt, nextAttemptMs: null };
  return { state: 'pending', lastStatus: status, lastAttemptAt, nextAttemptMs: now + delay * 1_000 };
}
