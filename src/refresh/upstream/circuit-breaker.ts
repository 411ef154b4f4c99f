export type CircuitState = 'closed' | 'open' | 'half_open';

/** `probe` is true for the one request let through a half-open circuit: its answer decides the circuit. */
export type Admission = { admitted: true; probe: boolean } | { admitted: false; retryAfterMs: number };

export interface CircuitBreakerOptions {
  /** Transient failures in one run (no answer from the host between them) that open the circuit. */
  failureThreshold?: number;
  /** Different clients those failures must come from: one client's retries alone never open it. */
  distinctClientThreshold?: number;
  /** Cooldown after the circuit first opens; doubles after each failed probe. */
  initialCooldownMs?: number;
  maxCooldownMs?: number;
  /**
   * Once half-open, the probe is kept this long for a client that has not failed in the current
   * run: a broken client's own failures then cannot keep the circuit open against healthy ones.
   */
  probePreferenceMs?: number;
  now?: () => number;
}

/**
 * Guards one upstream host. Closed, every request goes through. It opens when
 * a run of transient failures (no answer from the host in between) reaches
 * `failureThreshold` failures from at least `distinctClientThreshold`
 * different clients, and then refuses everything for a cooldown. Then it
 * half-opens and lets exactly one probe through, whose answer closes it or
 * opens it again for twice as long. Any answer from the host (a token, a
 * refusal) ends the run.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly distinctClientThreshold: number;
  private readonly initialCooldownMs: number;
  private readonly maxCooldownMs: number;
  private readonly probePreferenceMs: number;
  private readonly now: () => number;

  private failuresInRun = 0;
  /** The clients that failed since the host last answered. */
  private readonly failingClients = new Set<string>();
  private cooldownMs: number;
  /** When the current cooldown ends; null while closed. */
  private openUntil: number | null = null;
  private probeInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.distinctClientThreshold = options.distinctClientThreshold ?? 3;
    this.initialCooldownMs = options.initialCooldownMs ?? 5_000;
    this.maxCooldownMs = options.maxCooldownMs ?? 60_000;
    this.probePreferenceMs = options.probePreferenceMs ?? 2_000;
    this.now = options.now ?? Date.now;
    this.cooldownMs = this.initialCooldownMs;
  }

  get state(): CircuitState {
    if (this.openUntil === null) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half_open';
  }

  /** Whether a request for this client would be admitted now, without taking the half-open probe. */
  peek(clientKey: string): Admission {
    return this.admission(clientKey, false);
  }

  /** Admits a request for this client, taking the single probe slot when half-open. */
  tryAdmit(clientKey: string): Admission {
    return this.admission(clientKey, true);
  }

  /** The admitted probe sent nothing after all (the request could not be written): another may take its place. */
  releaseProbe(): void {
    this.probeInFlight = false;
  }

  /** The host answered (a token, or a refusal): it is alive. */
  recordSuccess(): void {
    this.failuresInRun = 0;
    this.failingClients.clear();
    this.cooldownMs = this.initialCooldownMs;
    this.openUntil = null;
    this.probeInFlight = false;
  }

  /**
   * A transient failure of a request sent for `clientKey`. `probe` is true for
   * the half-open probe and for a rotation's verification, which was sent
   * whatever the circuit said and so counts as a probe.
   */
  recordFailure(clientKey: string, probe: boolean): void {
    this.failingClients.add(clientKey);
    if (this.openUntil === null) {
      this.failuresInRun += 1;
      const enoughClients = this.failingClients.size >= this.distinctClientThreshold;
      if (enoughClients && this.failuresInRun >= this.failureThreshold) this.openUntil = this.now() + this.cooldownMs;
    } else if (probe) {
      this.probeInFlight = false;
      this.cooldownMs = Math.min(this.cooldownMs * 2, this.maxCooldownMs);
      this.openUntil = this.now() + this.cooldownMs;
    }
    // Otherwise the failure belongs to a request sent before the circuit
    // opened; it says nothing new and must not extend the cooldown.
  }

  private admission(clientKey: string, takeProbe: boolean): Admission {
    if (this.openUntil === null) return { admitted: true, probe: false };
    const now = this.now();
    const remainingMs = this.openUntil - now;
    if (remainingMs > 0) return { admitted: false, retryAfterMs: remainingMs };
    // Half-open with a probe already out: its answer is due within one
    // upstream timeout, so ask the caller to come back shortly.
    if (this.probeInFlight) return { admitted: false, retryAfterMs: 1_000 };
    const preferredUntil = this.openUntil + this.probePreferenceMs;
    if (this.failingClients.has(clientKey) && now < preferredUntil) {
      return { admitted: false, retryAfterMs: preferredUntil - now };
    }
    if (takeProbe) this.probeInFlight = true;
    return { admitted: true, probe: takeProbe };
  }
}
