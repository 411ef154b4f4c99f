import { Inject, Injectable } from '@nestjs/common';
import type { OutgoingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { MetricsService, type UpstreamRequestKind, type UpstreamRequestOutcome } from '../../metrics/metrics.service';
import { guardedLookup } from './address-guard';
import { classify } from './answer-classification';
import { CircuitBreaker, type CircuitState } from './circuit-breaker';
import { Redactor } from './redaction';
import { exchange, type OutgoingRequest } from './http-exchange';
import { tokenRequestBody } from './token-request-body';
import { unanswered, type Exchanged } from './unanswered-request';
import { hostKeyOf, invalidUrl, parseHttpUrl, portOf } from './upstream-url';
import { FifoLimiter } from '../../common/fifo-limiter';
import { SPANS, TracingService } from '../../tracing/tracing.service';
import { DEFAULT_EXPIRES_IN_SECONDS } from '../../client-auth/provider-settings';
import type { TokenRequest, TransientOutcome, UpstreamCaller, UpstreamOutcome } from './upstream.types';

const USER_AGENT = 'token-broker';

interface HostGuard {
  limiter: FifoLimiter;
  circuit: CircuitBreaker;
}

/**
 * Talks to token URLs and to Pipedream's API. It never throws for anything
 * the network or the upstream does: every answer, timeout or broken
 * connection becomes an UpstreamOutcome, and no outcome carries a secret.
 */
@Injectable()
export class UpstreamClient {
  private readonly guards = new Map<string, HostGuard>();
  private readonly tokenUrlLookup: LookupFunction;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
  ) {
    this.tokenUrlLookup = guardedLookup(config.tokenUrlAllowlist);
    metrics.onScrape(() => this.reportCircuits());
  }

  /**
   * One token request, built for the client's method. A private_key_jwt
   * assertion is signed here, for this request alone: every call (a retry
   * too) carries a new `jti`.
   */
  async requestToken(request: TokenRequest): Promise<UpstreamOutcome> {
    const url = parseHttpUrl(request.tokenUrl);
    if (url === null) return invalidUrl('token URL');
    if (request.proof.method === 'tls_client_auth' && url.protocol !== 'https:') {
      const description = 'tls_client_auth needs an https token URL';
      return { kind: 'rejected', httpStatus: null, error: 'invalid_url', description };
    }
    const built = tokenRequestBody(request);
    const redactor = new Redactor(() => built.sensitive);
    const headers: OutgoingHttpHeaders = {
      Accept: 'application/json',
      'Content-Type': built.json ? 'application/json' : 'application/x-www-form-urlencoded',
      'Content-Length': Buffer.byteLength(built.body),
      'User-Agent': USER_AGENT,
    };
    if (built.basicCredential !== null) headers.Authorization = `Basic ${built.basicCredential}`;
    const agent = request.proof.method === 'tls_client_auth' ? request.proof.agent : undefined;
    const lookup = this.tokenUrlLookup;
    const outgoing: OutgoingRequest = { method: 'POST', url, headers, body: built.body, lookup, agent };
    return this.send('token', outgoing, redactor, request, request.defaultExpiresInSeconds);
  }

  async checkApiKey(apiKey: string, caller: UpstreamCaller): Promise<UpstreamOutcome> {
    const url = parseHttpUrl(`${this.config.pipedreamApiBase}/v1/users/me`);
    if (url === null) return invalidUrl('PIPEDREAM_API_BASE');
    const headers: OutgoingHttpHeaders = {
      Accept: 'application/json',
      Authorization: `Bearer ${apiKey}`,
      'User-Agent': USER_AGENT,
    };
    return this.send('api_key_check', { method: 'GET', url, headers }, new Redactor(() => [apiKey]), caller);
  }

  /** The circuit guarding the host of `url` (a token URL or the API base). */
  circuitState(url: string): CircuitState {
    const parsed = parseHttpUrl(url);
    const guard = parsed === null ? undefined : this.guards.get(hostKeyOf(parsed));
    return guard ? guard.circuit.state : 'closed';
  }

  private async send(
    kind: UpstreamRequestKind,
    request: OutgoingRequest,
    redactor: Redactor,
    caller: UpstreamCaller,
    defaultExpiresInSeconds = DEFAULT_EXPIRES_IN_SECONDS,
  ): Promise<UpstreamOutcome> {
    const host = hostKeyOf(request.url);
    const { limiter, circuit } = this.guardFor(host);
    // A rotation's verification is one request an admin asked for: it is sent whatever the circuit says.
    const verification = caller.verification === true;
    // Refuse before queueing, so a caller does not wait behind a dead host's
    // timeouts only to hear that the circuit is open.
    const early = verification ? null : circuit.peek(caller.clientKey);
    if (early && !early.admitted) return this.refuse(host, kind, early.retryAfterMs);
    return limiter.run(async () => {
      // Asked again: the circuit may have opened while this request queued.
      const admission = verification ? { admitted: true as const, probe: false } : circuit.tryAdmit(caller.clientKey);
      if (!admission.admitted) return this.refuse(host, kind, admission.retryAfterMs);
      const started = performance.now();
      const { outcome, aboutHost } = await this.exchangeInSpan(
        kind,
        request,
        redactor,
        caller,
        defaultExpiresInSeconds,
      );
      if (!aboutHost) {
        if (admission.probe) circuit.releaseProbe();
        return outcome;
      }
      if (outcome.kind === 'transient') circuit.recordFailure(caller.clientKey, admission.probe || verification);
      else circuit.recordSuccess();
      this.metrics.recordUpstream(host, kind, metricOutcome(outcome), (performance.now() - started) / 1_000);
      return outcome;
    });
  }

  /** One exchange, in its own span when tracing is on: ids, host and outcome, never the URL's path or a header. */
  private exchangeInSpan(
    kind: UpstreamRequestKind,
    request: OutgoingRequest,
    redactor: Redactor,
    caller: UpstreamCaller,
    defaultExpiresInSeconds: number,
  ): Promise<Exchanged> {
    const { url, method } = request;
    const fields = {
      clientId: caller.clientKey,
      workspaceId: caller.workspaceId,
      host: url.hostname,
      port: portOf(url),
      method,
      upstreamKind: kind,
    };
    return this.tracing.inSpan(SPANS.upstreamRequest, fields, async (span) => {
      const exchanged = await exchange(request, this.config.upstreamTimeoutMs).then(
        (answer): Exchanged => ({
          outcome: classify(answer, kind, redactor, defaultExpiresInSeconds),
          aboutHost: true,
        }),
        (error: Error) => unanswered(error, kind),
      );
      const { outcome } = exchanged;
      span.set({
        outcome: outcome.kind,
        ...('httpStatus' in outcome && outcome.httpStatus !== null && { httpStatus: outcome.httpStatus }),
      });
      return exchanged;
    });
  }

  private reportCircuits(): void {
    for (const [host, guard] of this.guards) this.metrics.setCircuitState(host, guard.circuit.state);
  }

  private refuse(host: string, kind: UpstreamRequestKind, retryAfterMs: number): TransientOutcome {
    this.metrics.recordUpstream(host, kind, 'circuit_open');
    return {
      kind: 'transient',
      reason: 'circuit open',
      httpStatus: null,
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1_000)),
      notSent: true,
    };
  }

  private guardFor(host: string): HostGuard {
    let guard = this.guards.get(host);
    if (!guard) {
      guard = { limiter: new FifoLimiter(this.config.upstreamConcurrency), circuit: new CircuitBreaker() };
      this.guards.set(host, guard);
    }
    return guard;
  }
}

function metricOutcome(outcome: UpstreamOutcome): UpstreamRequestOutcome {
  if (outcome.kind === 'rejected') return 'rejected';
  if (outcome.kind === 'transient') return 'transient';
  return 'success';
}
