import { CircuitBreaker } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let clock: number;
  let breaker: CircuitBreaker;
  const advance = (ms: number): void => {
    clock += ms;
  };
  const failTimes = (count: number): void => {
    for (let i = 0; i < count; i += 1) breaker.recordFailure();
  };

  beforeEach(() => {
    clock = 1_000_000;
    breaker = new CircuitBreaker({ now: () => clock });
  });

  it('stays closed below five consecutive failures', () => {
    failTimes(4);
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAdmit()).toEqual({ admitted: true });
  });

  it('counts only consecutive failures: an answer from the host resets the count', () => {
    failTimes(4);
    breaker.recordSuccess();
    failTimes(4);
    expect(breaker.state).toBe('closed');
  });

  it('opens on the fifth consecutive failure and refuses until the cooldown ends', () => {
    failTimes(5);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 5_000 });
    advance(3_000);
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 2_000 });
    expect(breaker.peek()).toEqual({ admitted: false, retryAfterMs: 2_000 });
  });

  it('half-opens after the cooldown and lets exactly one probe through', () => {
    failTimes(5);
    advance(5_000);
    expect(breaker.state).toBe('half_open');
    expect(breaker.peek()).toEqual({ admitted: true });
    expect(breaker.peek()).toEqual({ admitted: true });
    expect(breaker.tryAdmit()).toEqual({ admitted: true });
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 1_000 });
    expect(breaker.peek()).toEqual({ admitted: false, retryAfterMs: 1_000 });
  });

  it('closes when the probe succeeds, with the cooldown back at its start', () => {
    failTimes(5);
    advance(5_000);
    breaker.tryAdmit();
    breaker.recordFailure();
    advance(10_000);
    breaker.tryAdmit();
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAdmit()).toEqual({ admitted: true });
    failTimes(5);
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 5_000 });
  });

  it('re-opens when the probe fails, doubling the cooldown up to 60 s', () => {
    failTimes(5);
    const cooldowns: number[] = [];
    for (let probe = 0; probe < 6; probe += 1) {
      const refused = breaker.tryAdmit();
      if (refused.admitted) throw new Error('expected the open circuit to refuse');
      cooldowns.push(refused.retryAfterMs);
      advance(refused.retryAfterMs);
      expect(breaker.tryAdmit()).toEqual({ admitted: true });
      breaker.recordFailure();
      expect(breaker.state).toBe('open');
    }
    expect(cooldowns).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  });

  it('ignores failures of requests sent before it opened: they do not extend the cooldown', () => {
    failTimes(5);
    advance(1_000);
    failTimes(3);
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 4_000 });
  });

  it('takes the failure threshold and cooldowns as options', () => {
    breaker = new CircuitBreaker({ now: () => clock, failureThreshold: 2, initialCooldownMs: 100, maxCooldownMs: 150 });
    failTimes(2);
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 100 });
    advance(100);
    breaker.tryAdmit();
    breaker.recordFailure();
    expect(breaker.tryAdmit()).toEqual({ admitted: false, retryAfterMs: 150 });
  });
});
