import { TokenBrokerError } from '../src/errors.ts';
import { attemptDelayMs, parseRetryAfter, renewalDelayMs, renewalRetryDelayMs } from '../src/policies.ts';

const settings = { minTtlMs: 60_000, apiKeyRefreshMs: 300_000 };
const error = (status: number | null, code: string, retryAfterSeconds: number | null = null): TokenBrokerError =>
  new TokenBrokerError('x', { status, code: code as never, retryAfterSeconds });

describe('renewal and retry policies', () => {
  it('renews an hour-long token 237 s before expiry: after the broker has refreshed its own (600 to 300 s before)', () => {
    expect(renewalDelayMs(3_600_000, 0, settings)).toBe(3_363_000);
  });

  it('keeps at least minTtl for retries, at most half of the usable life', () => {
    expect(renewalDelayMs(200_000, 0, settings)).toBe(80_000);
    expect(renewalDelayMs(100_000, 0, settings)).toBe(20_000);
    expect(renewalDelayMs(60_000, 0, settings)).toBeNull();
  });

  it('an API key (no expiry) is read again every apiKeyRefreshMs', () => {
    expect(renewalDelayMs(null, 123, settings)).toBe(300_000);
  });

  it('retries a renewal after a quarter of the usable life left, between 1 s and 30 s', () => {
    expect(renewalRetryDelayMs(3_600_000, 0, settings)).toBe(30_000);
    expect(renewalRetryDelayMs(100_000, 0, settings)).toBe(10_000);
    expect(renewalRetryDelayMs(61_000, 0, settings)).toBe(1_000);
    expect(renewalRetryDelayMs(60_000, 0, settings)).toBeNull();
    expect(renewalRetryDelayMs(null, 0, settings)).toBe(30_000);
  });

  it('waits as Retry-After says, backs off exponentially without it, and does not retry refusals', () => {
    expect(attemptDelayMs(error(503, 'upstream_unavailable', 3), 0, 5_000)).toBe(3_000);
    expect(attemptDelayMs(error(null, 'network_error'), 0, 5_000, () => 1)).toBe(100);
    expect(attemptDelayMs(error(null, 'network_error'), 3, 5_000, () => 0)).toBe(400);
    expect(attemptDelayMs(error(null, 'timeout'), 20, 5_000, () => 1)).toBe(5_000);
    expect(attemptDelayMs(error(500, 'internal'), 0, 5_000, () => 1)).toBe(100);
    for (const [status, code] of [
      [400, 'bad_request'],
      [401, 'unauthorized'],
      [403, 'forbidden'],
      [404, 'not_found'],
      [502, 'credentials_rejected'],
    ] as const) {
      expect(attemptDelayMs(error(status, code), 0, 5_000)).toBeNull();
    }
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
