import fc from 'fast-check';
import {
  backoffDelayMs,
  refreshDeadline,
  refreshWindowStart,
  scheduledRefreshAt,
  BACKOFF_CAP_MS,
} from './refresh-timing';

const HOUR = 3_600_000;
const settings = { refreshBeforeSeconds: 600, minTokenTtlSeconds: 60, upstreamTimeoutMs: 10_000 };

describe('scheduledRefreshAt', () => {
  it('draws from the first half of the last REFRESH_BEFORE_SECONDS of a one-hour token', () => {
    expect(scheduledRefreshAt(0, HOUR, settings, () => 0)).toBe(HOUR - 600_000);
    expect(scheduledRefreshAt(0, HOUR, settings, () => 0.999999)).toBeCloseTo(HOUR - 300_000, -1);
  });

  it('uses half the lifetime as the window for short tokens', () => {
    // 20 s token: window 10 s, refresh between 10 s and 5 s before expiry
    expect(
      scheduledRefreshAt(
        0,
        20_000,
        { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1, upstreamTimeoutMs: 10_000 },
        () => 0,
      ),
    ).toBe(10_000);
    expect(
      scheduledRefreshAt(
        0,
        20_000,
        { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1, upstreamTimeoutMs: 10_000 },
        () => 1,
      ),
    ).toBe(15_000);
  });

  it('never schedules later than MIN_TOKEN_TTL_SECONDS + min(W/4, UPSTREAM_TIMEOUT_MS) before expiry', () => {
    // 100 s token: W = 50 s, the draw would be 75 s; the deadline is 100 - 40 - min(12.5, 10) = 50 s.
    const tight = { refreshBeforeSeconds: 600, minTokenTtlSeconds: 40, upstreamTimeoutMs: 10_000 };
    expect(scheduledRefreshAt(0, 100_000, tight, () => 1)).toBe(50_000);
    // The same with a fast upstream timeout: the margin is the timeout, 100 - 40 - 2 = 58 s.
    expect(scheduledRefreshAt(0, 100_000, { ...tight, upstreamTimeoutMs: 2_000 }, () => 1)).toBe(58_000);
  });

  it('keeps every draw at or before the deadline, over many draws and short windows', () => {
    // The black-box run: 40 s tokens, REFRESH_BEFORE_SECONDS=30, MIN_TOKEN_TTL_SECONDS=10; one refresh in 4,000
    // was drawn on the serving limit itself. Every draw must leave min(W/4, timeout) before that limit.
    const draws = fc.record({
      lifetimeMs: fc.integer({ min: 1_000, max: 7_200_000 }),
      refreshBeforeSeconds: fc.integer({ min: 1, max: 3_600 }),
      minTokenTtlSeconds: fc.integer({ min: 0, max: 600 }),
      upstreamTimeoutMs: fc.integer({ min: 100, max: 60_000 }),
      obtainedAt: fc.integer({ min: 0, max: 2_000_000_000_000 }),
      random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    });
    fc.assert(
      fc.property(draws, ({ lifetimeMs, obtainedAt, random, ...timing }) => {
        const expiresAt = obtainedAt + lifetimeMs;
        const windowMs = Math.min(timing.refreshBeforeSeconds * 1000, lifetimeMs / 2);
        const at = scheduledRefreshAt(obtainedAt, expiresAt, timing, () => random);
        const limit = expiresAt - timing.minTokenTtlSeconds * 1000 - Math.min(windowMs / 4, timing.upstreamTimeoutMs);
        // A token too short for its deadline to fall inside the window is refreshed at once (never drawn early otherwise).
        const earliest = Math.min(expiresAt - windowMs, Math.max(obtainedAt, limit));
        return at <= Math.max(obtainedAt, limit) && at >= obtainedAt && at >= earliest;
      }),
      { numRuns: 20_000 },
    );
  });

  it('draws strictly before the deadline with the black-box settings', () => {
    const blackBox = { refreshBeforeSeconds: 30, minTokenTtlSeconds: 10, upstreamTimeoutMs: 10_000 };
    for (let i = 0; i < 4_000; i += 1) {
      const at = scheduledRefreshAt(0, 40_000, blackBox);
      // W = 20 s: drawn between 20 s and 10 s before expiry, deadline 15 s before it.
      expect(at).toBeGreaterThanOrEqual(20_000);
      expect(at).toBeLessThanOrEqual(25_000);
    }
    expect(refreshDeadline(0, 40_000, blackBox)).toBe(25_000);
  });

  it('never schedules before the token was obtained', () => {
    expect(scheduledRefreshAt(5_000, 10_000, settings, () => 0)).toBe(5_000);
  });

  it('spreads clients registered together over the half window', () => {
    const times = Array.from({ length: 1000 }, () => scheduledRefreshAt(0, HOUR, settings));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(HOUR - 600_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(HOUR - 300_000);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(250_000);
  });
});

describe('refreshWindowStart', () => {
  it('is W before expiry', () => {
    expect(refreshWindowStart(0, HOUR, settings)).toBe(HOUR - 600_000);
    expect(
      refreshWindowStart(0, 20_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1, upstreamTimeoutMs: 10_000 }),
    ).toBe(10_000);
  });
});

describe('backoffDelayMs', () => {
  it('grows exponentially under full jitter up to the 5 minute cap', () => {
    expect(backoffDelayMs(1, null, () => 1)).toBe(1_000);
    expect(backoffDelayMs(2, null, () => 1)).toBe(2_000);
    expect(backoffDelayMs(5, null, () => 1)).toBe(16_000);
    expect(backoffDelayMs(40, null, () => 1)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelayMs(5, null, () => 0.5)).toBe(8_000);
  });

  it('waits at least as long as Retry-After asks', () => {
    expect(backoffDelayMs(1, 30, () => 0.5)).toBe(30_000);
  });
});
