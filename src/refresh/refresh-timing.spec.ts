import { backoffDelayMs, refreshWindowStart, scheduledRefreshAt, BACKOFF_CAP_MS } from './refresh-timing';

const HOUR = 3_600_000;
const settings = { refreshBeforeSeconds: 600, minTokenTtlSeconds: 60 };

describe('scheduledRefreshAt', () => {
  it('draws from the first half of the last REFRESH_BEFORE_SECONDS of a one-hour token', () => {
    expect(scheduledRefreshAt(0, HOUR, settings, () => 0)).toBe(HOUR - 600_000);
    expect(scheduledRefreshAt(0, HOUR, settings, () => 0.999999)).toBeCloseTo(HOUR - 300_000, -1);
  });

  it('uses half the lifetime as the window for short tokens', () => {
    // 20 s token: window 10 s, refresh between 10 s and 5 s before expiry
    expect(scheduledRefreshAt(0, 20_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1 }, () => 0)).toBe(10_000);
    expect(scheduledRefreshAt(0, 20_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1 }, () => 1)).toBe(15_000);
  });

  it('never schedules later than MIN_TOKEN_TTL_SECONDS before expiry', () => {
    expect(scheduledRefreshAt(0, 100_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 40 }, () => 1)).toBe(60_000);
  });

  it('never schedules before the token was obtained', () => {
    expect(scheduledRefreshAt(5_000, 10_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 60 }, () => 0)).toBe(5_000);
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
    expect(refreshWindowStart(0, 20_000, { refreshBeforeSeconds: 600, minTokenTtlSeconds: 1 })).toBe(10_000);
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
