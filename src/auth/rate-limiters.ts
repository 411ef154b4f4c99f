/**
 * Counts failures per source in fixed one-minute windows. In process memory:
 * each replica limits on its own, which bounds brute force per replica
 * without a store round trip on every failed request.
 */
export class FailureWindow {
  private readonly windows = new Map<string, { startedAt: number; failures: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `source` may try again, or 0 when it is under the limit. */
  retryAfterSeconds(source: string): number {
    const window = this.windows.get(source);
    if (!window) return 0;
    const elapsed = this.now() - window.startedAt;
    if (elapsed >= this.windowMs) {
      this.windows.delete(source);
      return 0;
    }
    return window.failures >= this.limit ? Math.ceil((this.windowMs - elapsed) / 1000) : 0;
  }

  recordFailure(source: string): void {
    const now = this.now();
    const window = this.windows.get(source);
    if (!window || now - window.startedAt >= this.windowMs) {
      if (this.windows.size > 100_000) this.evictExpired(now);
      this.windows.set(source, { startedAt: now, failures: 1 });
    } else {
      window.failures += 1;
    }
  }

  private evictExpired(now: number): void {
    for (const [source, window] of this.windows) {
      if (now - window.startedAt >= this.windowMs) this.windows.delete(source);
    }
  }
}

/** A token bucket per key: `ratePerSecond` sustained, bursts of the same size. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.ratePerSecond, updatedAt: now };
    bucket.tokens = Math.min(
      this.ratePerSecond,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond,
    );
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}
