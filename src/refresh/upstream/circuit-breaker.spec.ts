import { CircuitBreaker } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let clock: number;
  let breaker: CircuitBreaker;
  const advance = (ms: number): void => {
    clock += ms;
  };
  /** `count` failures, spread round-robin over the given clients. */
  const fail = (count: number, clients: string[]): void => {
    for (let i = 0; i < count; i += 1) breaker.recordFailure(clients[i % clients.length], false);
  };
  const openIt = (): void => fail(5, ['a', 'b', 'c']);

  beforeEach(() => {
    clock = 1_000_000;
    breaker = new CircuitBreaker({ now: () => clock });
  });

  describe('opening', () => {
    it("never opens on one client's retries, however many", () => {
      fail(1_000, ['broken']);
      expect(breaker.state).toBe('closed');
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: true, probe: false });
      expect(breaker.tryAdmit('broken')).toEqual({ admitted: true, probe: false });
    });

    it('never opens on the failures of two clients', () => {
      fail(1_000, ['broken-1', 'broken-2']);
      expect(breaker.state).toBe('closed');
    });

    it('opens once a run holds 5 failures from 3 different clients', () => {
      fail(4, ['a', 'a', 'b', 'c']);
      expect(breaker.state).toBe('closed');
      breaker.recordFailure('a', false);
      expect(breaker.state).toBe('open');
    });

    it('needs the fifth failure too: 3 clients failing once each is not yet a run long enough', () => {
      fail(3, ['a', 'b', 'c']);
      expect(breaker.state).toBe('closed');
    });

    it("opens as soon as the third client fails when the first two's retries already made the count", () => {
      fail(10, ['a', 'b']);
      breaker.recordFailure('c', false);
      expect(breaker.state).toBe('open');
    });

    it('starts a new run on any answer from the host: failures before it do not count', () => {
      fail(10, ['a', 'b']);
      breaker.recordSuccess();
      fail(10, ['c', 'a']);
      expect(breaker.state).toBe('closed');
      breaker.recordFailure('b', false);
      expect(breaker.state).toBe('open');
    });

    it('takes the thresholds and cooldowns as options', () => {
      breaker = new CircuitBreaker({
        now: () => clock,
        failureThreshold: 2,
        distinctClientThreshold: 2,
        initialCooldownMs: 100,
        maxCooldownMs: 150,
      });
      fail(2, ['a', 'b']);
      expect(breaker.tryAdmit('a')).toEqual({ admitted: false, retryAfterMs: 100 });
      advance(100);
      breaker.tryAdmit('c');
      breaker.recordFailure('c', true);
      expect(breaker.tryAdmit('c')).toEqual({ admitted: false, retryAfterMs: 150 });
    });
  });

  describe('open and half-open', () => {
    it('refuses everyone until the cooldown ends', () => {
      openIt();
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: false, retryAfterMs: 5_000 });
      advance(3_000);
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: false, retryAfterMs: 2_000 });
      expect(breaker.peek('healthy')).toEqual({ admitted: false, retryAfterMs: 2_000 });
    });

    it('half-opens after the cooldown and lets exactly one probe through', () => {
      openIt();
      advance(5_000);
      expect(breaker.state).toBe('half_open');
      expect(breaker.peek('healthy')).toEqual({ admitted: true, probe: false });
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: true, probe: true });
      expect(breaker.tryAdmit('other')).toEqual({ admitted: false, retryAfterMs: 1_000 });
      expect(breaker.peek('other')).toEqual({ admitted: false, retryAfterMs: 1_000 });
    });

    it('closes when the probe succeeds, with the cooldown and the run back at their start', () => {
      openIt();
      advance(5_000);
      breaker.tryAdmit('d');
      breaker.recordFailure('d', true);
      advance(10_000);
      breaker.tryAdmit('e');
      breaker.recordSuccess();
      expect(breaker.state).toBe('closed');
      fail(4, ['a', 'b', 'c']);
      expect(breaker.state).toBe('closed');
      breaker.recordFailure('d', false);
      expect(breaker.tryAdmit('x')).toEqual({ admitted: false, retryAfterMs: 5_000 });
    });

    it('re-opens when the probe fails, doubling the cooldown up to 60 s', () => {
      openIt();
      const cooldowns: number[] = [];
      for (let probe = 0; probe < 6; probe += 1) {
        const client = `prober-${probe}`;
        const refused = breaker.tryAdmit(client);
        if (refused.admitted) throw new Error('expected the open circuit to refuse');
        cooldowns.push(refused.retryAfterMs);
        advance(refused.retryAfterMs);
        expect(breaker.tryAdmit(client)).toEqual({ admitted: true, probe: true });
        breaker.recordFailure(client, true);
        expect(breaker.state).toBe('open');
      }
      expect(cooldowns).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    });

    it('ignores failures of requests sent before it opened: they do not extend the cooldown', () => {
      openIt();
      advance(1_000);
      fail(3, ['d', 'e', 'f']);
      expect(breaker.tryAdmit('g')).toEqual({ admitted: false, retryAfterMs: 4_000 });
    });

    it('gives the probe back when the admitted request was never sent', () => {
      openIt();
      advance(5_000);
      expect(breaker.tryAdmit('d')).toEqual({ admitted: true, probe: true });
      breaker.releaseProbe();
      expect(breaker.tryAdmit('e')).toEqual({ admitted: true, probe: true });
    });
  });

  describe('who probes', () => {
    it('keeps the probe for 2 s for a client that has not failed in this run', () => {
      openIt();
      advance(5_000);
      expect(breaker.tryAdmit('a')).toEqual({ admitted: false, retryAfterMs: 2_000 });
      advance(500);
      expect(breaker.peek('b')).toEqual({ admitted: false, retryAfterMs: 1_500 });
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: true, probe: true });
      breaker.recordSuccess();
      expect(breaker.tryAdmit('a')).toEqual({ admitted: true, probe: false });
    });

    it('lets a client that failed probe once no other asked within those 2 s: a dead host is still probed', () => {
      openIt();
      advance(7_000);
      expect(breaker.tryAdmit('a')).toEqual({ admitted: true, probe: true });
    });

    it("a broken client's failed probes keep their own clients out, never a healthy client", () => {
      fail(100, ['broken-1', 'broken-2', 'broken-3']);
      for (let round = 0; round < 5; round += 1) {
        const refused = breaker.peek('broken-1');
        if (refused.admitted) throw new Error('expected the circuit to refuse a failing client');
        // Nobody else asked during the preference either: a broken client probes.
        advance(refused.retryAfterMs + 2_000);
        expect(breaker.tryAdmit(`broken-${(round % 3) + 1}`).admitted).toBe(true);
        breaker.recordFailure(`broken-${(round % 3) + 1}`, true);
      }
      advance(60_000);
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: true, probe: true });
    });
  });

  describe("a rotation's verification", () => {
    it('re-opens the circuit when it fails, even in the middle of a cooldown: it was the probe', () => {
      openIt();
      advance(4_000);
      breaker.recordFailure('rotated', true);
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: false, retryAfterMs: 10_000 });
    });

    it('closes the circuit when it succeeds', () => {
      openIt();
      advance(1_000);
      breaker.recordSuccess();
      expect(breaker.state).toBe('closed');
      expect(breaker.tryAdmit('healthy')).toEqual({ admitted: true, probe: false });
    });

    it('counts as one more failure of its client while the circuit is closed', () => {
      fail(4, ['a', 'b']);
      breaker.recordFailure('rotated', true);
      expect(breaker.state).toBe('open');
    });
  });
});
