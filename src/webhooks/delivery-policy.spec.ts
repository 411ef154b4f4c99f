import { settleAttempt } from './delivery-policy';

describe('settleAttempt', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const retries = [5, 300];

  it('delivers on any 2xx', () => {
    expect(settleAttempt(0, 204, now, retries)).toEqual({
      state: 'delivered',
      lastStatus: 204,
      lastAttemptAt: '2026-01-01T00:00:00.000Z',
      nextAttemptMs: null,
    });
  });

  it('retries anything else after the next delay, then fails', () => {
    expect(settleAttempt(0, 500, now, retries)).toMatchObject({ state: 'pending', nextAttemptMs: now + 5_000 });
    expect(settleAttempt(1, null, now, retries)).toMatchObject({
      state: 'pending',
      lastStatus: null,
      nextAttemptMs: now + 300_000,
    });
    expect(settleAttempt(2, 301, now, retries)).toMatchObject({
      state: 'failed',
      lastStatus: 301,
      nextAttemptMs: null,
    });
  });
});
