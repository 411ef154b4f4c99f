import { Inject, Injectable } from '@nestjs/common';
import {
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { MetricsService, type UpstreamRequestKind, type UpstreamRequestOutcome } from '../../metrics/metrics.service';
import { ADDRESS_NOT_ALLOWED, guardedLookup } from './address-guard';
import { CircuitBreaker, type CircuitState } from './circuit-breaker';
import { Redactor } from './redaction';
import { tokenRequestBody } from './token-request-body';
import { tokenOutcomeOf } from './token-answer';
import { RequestNotSent, unanswered, type Exchanged } from './unanswered-request';
import { FifoLimiter } from '../../common/fifo-limiter';
import { SPANS, TracingService } from '../../tracing/tracing.service';
import { DEFAULT_EXPIRES_IN_SECONDS } from '../../client-auth/provider-settings';
import type {
  RejectedOutcome,
  TokenRequest,
  TransientOutcome,
  UpstreamCaller,
  UpstreamOutcome,
} from './upstream.types';

const MAX_BODY_BYTES = 64 * 1024;
const USER_AGENT = 'token-broker';

interface OutgoingRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: OutgoingHttpHeaders;
  body?: string;
  /** For token URLs: refuses host names that resolve to non-public addresses. */
  lookup?: LookupFunction;
  /** tls_client_auth: the client's own agent, holding its certificate and key. */
  agent?: Agent;
}

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

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

function parseHttpUrl(value: string): URL | null {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

function invalidUrl(what: string): RejectedOutcome {
  return { kind: 'rejected', httpStatus: null, error: 'invalid_url', description: `${what} is not an http(s) URL` };
}

/** hostname:port, with the scheme's default port spelled out, so one host has one circuit. */
function hostKeyOf(url: URL): string {
  return `${url.hostname}:${portOf(url)}`;
}

function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

function metricOutcome(outcome: UpstreamOutcome): UpstreamRequestOutcome {
  if (outcome.kind === 'rejected') return 'rejected';
  if (outcome.kind === 'transient') return 'transient';
  return 'success';
}

/**
 * One HTTP exchange with node:http, which never follows redirects. Resolves
 * with whatever status came back (the body cut at MAX_BODY_BYTES); rejects,
 * with a message fit to show, when no complete answer arrives in time.
 */
function exchange(request: OutgoingRequest, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let outgoing: ClientRequest | undefined;
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      finish();
    };
    const fail = (reason: string): void => settle(() => reject(new Error(reason)));
    const timer = setTimeout(() => {
      fail(`no complete answer within ${timeoutMs} ms`);
      outgoing?.destroy();
    }, timeoutMs);

    const options = {
      method: request.method,
      headers: request.headers,
      ...(request.lookup && { lookup: request.lookup }),
      ...(request.agent && { agent: request.agent }),
    };
    const onResponse = (response: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let received = 0;
      const complete = (): void =>
        settle(() =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      response.on('data', (chunk: Buffer) => {
        const kept = chunk.subarray(0, MAX_BODY_BYTES - received);
        chunks.push(kept);
        received += kept.length;
        if (received >= MAX_BODY_BYTES) {
          complete();
          response.destroy();
        }
      });
      response.on('end', complete);
      response.on('error', (error) => fail(networkFailure(error)));
      response.on('close', () => fail('connection closed before the answer was complete'));
    };
    try {
      outgoing = (request.url.protocol === 'https:' ? httpsRequest : httpRequest)(request.url, options, onResponse);
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        error.code === ADDRESS_NOT_ALLOWED ? settle(() => reject(error)) : fail(networkFailure(error)),
      );
      outgoing.end(request.body);
    } catch (error) {
      // Thrown synchronously for a request that cannot be written, such as a
      // header value with a line break.
      outgoing?.destroy();
      settle(() => reject(new RequestNotSent(errorCode(error))));
    }
  });
}

/** The error's code only: Node's messages can quote header values. */
function networkFailure(error: unknown): string {
  return `network error (${errorCode(error)})`;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}

function classify(
  answer: HttpAnswer,
  kind: UpstreamRequestKind,
  redactor: Redactor,
  defaultExpiresIn: number,
): UpstreamOutcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return kind === 'token' ? readToken(answer, defaultExpiresIn) : { kind: 'valid' };
  if (status >= 300 && status < 400) {
    return {
      kind: 'rejected',
      httpStatus: status,
      error: 'redirect',
      description: `answered HTTP ${status}, a redirect; redirects are not followed`,
    };
  }
  // The API-key check is refused only by 401 and 403; any other 4xx there (a 404 from a wrong
  // PIPEDREAM_API_BASE, say) says nothing about the key, so it must not reject every API-key client.
  const refused =
    kind === 'token'
      ? status >= 400 && status < 500 && status !== 408 && status !== 429
      : status === 401 || status === 403;
  if (refused) {
    const body = parseJsonObject(answer.body);
    return {
      kind: 'rejected',
      httpStatus: status,
      error: redactor.clean(body?.error),
      description: redactor.clean(body?.error_description),
    };
  }
  const reason =
    status === 429
      ? 'rate limited (HTTP 429)'
      : status === 408 || status >= 500
        ? `HTTP ${status}`
        : `unexpected HTTP status ${status}`;
  return {
    kind: 'transient',
    reason,
    httpStatus: status,
    retryAfterSeconds: parseRetryAfter(answer.headers['retry-after']),
  };
}

function readToken(answer: HttpAnswer, defaultExpiresIn: number): UpstreamOutcome {
  const retryAfter = parseRetryAfter(answer.headers['retry-after']);
  return tokenOutcomeOf(parseJsonObject(answer.body), answer.status, retryAfter, defaultExpiresIn);
}

function parseJsonObject(body: Buffer): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Retry-After as delta-seconds or an HTTP-date, in whole seconds from now. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form starts with a day name; Date.parse alone would also
  // take things like "-5" for a year.
  const at = /^[A-Za-z]{3}/.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1_000));
}
