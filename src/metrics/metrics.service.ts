import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type TokenRequestOutcome =
  | 'served'
  | 'fetched'
  | 'not_found'
  | 'forbidden'
  | 'credentials_rejected'
  | 'upstream_unavailable'
  | 'store_unavailable'
  | 'error';

export type UpstreamRequestKind = 'token' | 'api_key_check';
export type CircuitStateName = 'closed' | 'open' | 'half_open';
const CIRCUIT_STATES: readonly CircuitStateName[] = ['closed', 'open', 'half_open'];

/** Brings a gauge up to date just before /metrics is read (a state another module holds). */
export type ScrapeHook = () => void | Promise<void>;
export type UpstreamRequestOutcome = 'success' | 'rejected' | 'transient' | 'circuit_open';

/**
 * One registry per application instance (not prom-client's global one), so
 * two brokers in one test process keep separate figures.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /**
   * Tokens served from memory, counted as a plain number and added to the
   * counters below when /metrics is read: a prom-client increment costs a few
   * microseconds (it hashes its labels), several percent of a served token.
   */
  private servedFromMemoryPending = 0;
  private readonly scrapeHooks: ScrapeHook[] = [];

  readonly tokenRequests = new Counter({
    name: 'tb_token_requests_total',
    help: 'Token requests (GET and forced refresh) by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: () => this.flushServedFromMemory(),
  });

  readonly tokenCache = new Counter({
    name: 'tb_token_cache_total',
    help: 'In-process token cache lookups on the token route, by result (hit, miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => this.flushServedFromMemory(),
  });

  readonly upstreamRequests = new Counter({
    name: 'tb_upstream_requests_total',
    help: 'Requests to token URLs and the API-key check, by host, kind and outcome',
    labelNames: ['host', 'kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamLatency = new Histogram({
    name: 'tb_upstream_request_duration_seconds',
    help: 'Latency of upstream requests that were sent',
    labelNames: ['host', 'kind'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly refreshLag = new Histogram({
    name: 'tb_refresh_lag_seconds',
    help: 'Scheduled refreshes: how long after their due time they started',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly clientsByState = new Gauge({
    name: 'tb_clients',
    help: 'Registered clients by token state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  /** Requests answered from memory are not timed: they take microseconds, and timing them would cost more. */
  readonly tokenRequestDuration = new Histogram({
    name: 'tb_token_request_duration_seconds',
    help: 'Token requests not answered from memory (store read, perhaps a fetch), by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /** Never incremented while the broker keeps its contract: an alert fires on any increase. */
  readonly tokensServedBelowMinTtl = new Counter({
    name: 'tb_tokens_served_below_min_ttl_total',
    help: 'Tokens served with less than MIN_TOKEN_TTL_SECONDS left (should stay 0)',
    registers: [this.registry],
  });

  readonly refreshOverdue = new Gauge({
    name: 'tb_refresh_overdue_seconds',
    help: 'How long the earliest scheduled refresh has been waiting past its due time (0: none is late)',
    registers: [this.registry],
  });

  readonly upstreamCircuit = new Gauge({
    name: 'tb_upstream_circuit_state',
    help: "Each upstream host's circuit on this replica: 1 for its current state, 0 for the others",
    labelNames: ['host', 'state'] as const,
    registers: [this.registry],
  });

  readonly storeUp = new Gauge({
    name: 'tb_store_up',
    help: 'Whether the store (Redis) answered a ping at the last scrape (1) or not (0)',
    registers: [this.registry],
  });

  readonly ready = new Gauge({
    name: 'tb_ready',
    help: 'Whether this replica is ready (what GET /health/ready says: store answers, scheduler runs)',
    registers: [this.registry],
  });

  /** Where the least remaining certificate life comes from (the mutual-TLS agents); none until they register. */
  private certificateLifeSource: () => { clientId: string; remainingSeconds: number } | null = () => null;

  readonly certificateLife = new Gauge({
    name: 'tb_client_certificate_least_remaining_seconds',
    help: 'tls_client_auth: seconds until the soonest-expiring client certificate this replica holds expires, by client',
    labelNames: ['client'] as const,
    registers: [this.registry],
    collect: () => this.collectCertificateLife(),
  });

  readonly webhookDeliveries = new Counter({
    name: 'tb_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Where tb_webhook_pending is read from at each scrape (the store); unset until the delivery worker starts. */
  private webhooksPending: (() => Promise<number>) | null = null;

  readonly webhookPending = new Gauge({
    name: 'tb_webhook_pending',
    help: 'Webhook deliveries waiting for an attempt (all replicas: read from the store)',
    registers: [this.registry],
    collect: async () => {
      if (this.webhooksPending === null) return;
      // A store that does not answer leaves the last figure: /metrics must still answer.
      await this.webhooksPending().then(
        (pending) => this.webhookPending.set(pending),
        () => undefined,
      );
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tb_process_' });
    // Every outcome exported from the start, at 0: a rate over a series that does not exist yet is no data, not 0.
    for (const outcome of ['delivered', 'retry', 'failed'] as const) this.webhookDeliveries.labels(outcome).inc(0);
  }

  setCertificateLifeSource(source: () => { clientId: string; remainingSeconds: number } | null): void {
    this.certificateLifeSource = source;
  }

  private collectCertificateLife(): void {
    this.certificateLife.reset();
    const least = this.certificateLifeSource();
    if (least !== null) this.certificateLife.set({ client: least.clientId }, least.remainingSeconds);
  }

  /** A token served from this replica's memory: a cache hit and a `served` token request. */
  countServedFromMemory(): void {
    this.servedFromMemoryPending += 1;
  }

  countWebhooksPendingWith(read: () => Promise<number>): void {
    this.webhooksPending = read;
  }

  private flushServedFromMemory(): void {
    if (this.servedFromMemoryPending === 0) return;
    this.tokenRequests.inc({ outcome: 'served' }, this.servedFromMemoryPending);
    this.tokenCache.inc({ result: 'hit' }, this.servedFromMemoryPending);
    this.servedFromMemoryPending = 0;
  }

  /** Runs before every scrape; a hook that fails leaves its gauges as they were. */
  onScrape(hook: ScrapeHook): void {
    this.scrapeHooks.push(hook);
  }

  async beforeScrape(): Promise<void> {
    await Promise.allSettled(this.scrapeHooks.map(async (hook) => hook()));
  }

  setCircuitState(host: string, current: CircuitStateName): void {
    for (const state of CIRCUIT_STATES) this.upstreamCircuit.set({ host, state }, state === current ? 1 : 0);
  }

  recordUpstream(host: string, kind: UpstreamRequestKind, outcome: UpstreamRequestOutcome, seconds?: number): void {
    this.upstreamRequests.inc({ host, kind, outcome });
    if (seconds !== undefined) this.upstreamLatency.observe({ host, kind }, seconds);
  }
}
