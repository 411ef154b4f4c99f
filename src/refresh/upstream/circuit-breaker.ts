export type CircuitState = 'closed' | 'open' | 'half_open';

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number };

export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit. */
  failureThreshold?: number;
  /** Cooldown after the circuit first opens; doubles after each failed probe. */
  initialCooldownMs?: number;
  maxCooldownMs?: number;
  now?: () => number;
}

/**
 * Guards one upstream host. Closed, every request goes through; after
 * `failureThreshold` consecutive transient failures it opens and refuses
 * everything for a cooldown; then it half-opens and lets exactly one probe
 * through, whose result closes it or opens it again for twice as long.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly initialCooldownMs: number;
  private readonly maxCooldownMs: number;
  private readonly now: () => number;

  private consecutiveFailures = 0;
  private cooldownMs: number;
  /** When the current cooldown ends; null while closed. */
  private openUntil: number | null = null;
  private probeInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.initialCooldownMs = options.initialCooldownMs ?? 5_000;
    this.maxCooldownMs = options.maxCooldownMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.cooldownMs = this.initialCooldownMs;
  }

  get state(): CircuitState {
    if (this.openUntil === null) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half_open';
  }

  /** Whether a request would be admitted now, without taking the half-open probe. */
  peek(): Admission {
    return this.admission(false);
  }

  /** Admits a request, taking the single probe slot when half-open. */
  tryAdmit(): Admission {
    return this.admission(true);
  }

  /** The host answered (a token, or a refusal): it is alive. */
  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.cooldownMs = this.initialCooldownMs;
    this.openUntil = null;
    this.probeInFlight = false;
  }

  recordFailure(): void {
    if (this.openUntil === null) {
      this.consecutiveFailures += 1;
      if (this.consecutiveFailures >= this.failureThreshold) this.openUntil = this.now() + this.cooldownMs;
    } else if (this.probeInFlight) {
      this.probeInFlight = false;
      this.cooldownMs = Math.min(this.cooldownMs * 2, this.maxCooldownMs);
      this.openUntil = this.now() + this.cooldownMs;
    }
    // Otherwise the failure belongs to a request sent before the circuit
    // opened; it says nothing new and must not extend the cooldown.
  }

  private admission(takeProbe: boolean): Admission {
    if (this.openUntil === null) return { admitted: true };
    const remainingMs = this.openUntil - this.now();
    if (remainingMs > 0) return { admitted: false, retryAfterMs: remainingMs };
    // Half-open with a probe already out: its answer is due within one
    // upstream timeout, so ask the caller to come back shortly.
    if (this.probeInFlight) return { admitted: false, retryAfterMs: 1_000 };
    if (takeProbe) this.probeInFlight = true;
    return { admitted: true };
  }
}
