import { discardBody, isReplayableBody, isUnauthorized, withBearer } from './bearer-fetch.ts';
import { BrokerHttp, CallControl, type TokenCall } from './broker-http.ts';
import { TokenBrokerError } from './errors.ts';
import { resolveOptions, type ResolvedOptions, type TokenBrokerClientOptions } from './options.ts';
import { renewalDelayMs, renewalRetryDelayMs } from './policies.ts';
import {
  holdToken,
  TokenCache,
  type CacheEntry,
  type HeldToken,
  type PendingCall,
  type TokenInfo,
} from './token-cache.ts';

/** What `tokenProvider` returns: the official `@pipedream/sdk`'s `tokenProvider` option, and more. */
export interface TokenBrokerTokenProvider {
  /** What the SDK calls before each request. */
  getToken(): Promise<string>;
  /**
   * Runs an SDK call; when it fails with a 401 (an error whose `statusCode` or `status` is 401),
   * reports the token this provider handed out last and runs the call once more.
   */
  retryOnRejected<T>(operation: () => Promise<T>): Promise<T>;
}

export interface TokenBrokerClientStats {
  /** Clients with an entry in the cache. */
  cachedClients: number;
  /** HTTP requests sent to the broker since start, retries included. */
  brokerRequests: number;
}

/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const accessTokenOf = (token: HeldToken): string => token.accessToken;
const infoOf = (token: HeldToken): Promise<TokenInfo> => token.asInfo;
const ignore = (): void => undefined;

/**
 * Tokens from the broker for this process: cached, renewed in the background before they
 * near expiry, one broker request per client however many callers ask at once.
 */
export class TokenBrokerClient {
  private readonly options: ResolvedOptions;
  private readonly http: BrokerHttp;
  private readonly cache: TokenCache;
  private readonly reports = new Map<string, Promise<string>>();

  constructor(options: TokenBrokerClientOptions) {
    this.options = resolveOptions(options);
    this.http = new BrokerHttp(this.options);
    this.cache = new TokenCache(this.options.maxCacheEntries, (entry) => this.forget(entry));
  }

  /** The client's access token, with at least minTtlSeconds left. Only a cold or idle client waits for the broker. */
  getToken(clientId: string): Promise<string> {
    const held = this.usableToken(clientId);
    return held === null ? this.acquire(clientId).then(accessTokenOf) : held.asString;
  }

  /** `{ accessToken, expiresAt }`, on the same terms as getToken. */
  getTokenInfo(clientId: string): Promise<TokenInfo> {
    const held = this.usableToken(clientId);
    return held === null ? this.acquire(clientId).then(infoOf) : held.asInfo;
  }

  /**
   * Tells the broker the upstream refused this token (its refresh route with `rejectedToken`)
   * and resolves to the token to use now. Reports of one token at once share one request; a
   * token already replaced here costs no request.
   */
  reportRejected(clientId: string, rejectedToken: string): Promise<string> {
    const held = this.cache.get(clientId)?.token ?? null;
    if (held !== null && held.accessToken !== rejectedToken && Date.now() < held.usableUntilMs) return held.asString;
    const key = `${clientId}\n${rejectedToken}`;
    const inFlight = this.reports.get(key);
    if (inFlight !== undefined) return inFlight;
    const report = this.report(clientId, rejectedToken).finally(() => this.reports.delete(key));
    this.reports.set(key, report);
    return report;
  }

  /**
   * fetch with `Authorization: Bearer <token>`. On a 401 from that URL the token is reported and
   * the request sent once more with the new one, unless its body cannot be sent twice (a stream):
   * then the 401 is the answer.
   */
  async fetch(clientId: string, input: string | URL, init?: RequestInit): Promise<Response> {
    const token = await this.getToken(clientId);
    return this.sendReportingRejection(clientId, input, init, token);
  }

  /**
   * For the official `@pipedream/sdk`:
   * `new PipedreamClient({ projectId, tokenProvider: broker.tokenProvider(id) })`.
   */
  tokenProvider(clientId: string): TokenBrokerTokenProvider {
    let handedOut: string | null = null;
    const getToken = async (): Promise<string> => (handedOut = await this.getToken(clientId));
    return {
      getToken,
      retryOnRejected: async <T>(operation: () => Promise<T>): Promise<T> => {
        try {
          return await operation();
        } catch (error) {
          if (!isUnauthorized(error) || handedOut === null) throw error;
          await this.reportRejected(clientId, handedOut);
          return operation();
        }
      },
    };
  }

  stats(): TokenBrokerClientStats {
    return { cachedClients: this.cache.size, brokerRequests: this.http.requestsSent };
  }

  /** Stops renewals and broker calls in flight (their callers get `client_closed`) and empties the cache. */
  close(): void {
    this.http.close();
    for (const entry of this.cache.clear()) this.forget(entry);
  }

  private usableToken(clientId: string): HeldToken | null {
    const entry = this.cache.get(clientId);
    if (entry === undefined) return null;
    const nowMs = Date.now();
    entry.lastUsedMs = nowMs;
    const token = entry.token;
    return token !== null && nowMs < token.usableUntilMs ? token : null;
  }

  private acquire(clientId: string): Promise<HeldToken> {
    const refused = this.refuse(clientId);
    if (refused !== null) return Promise.reject(refused);
    const entry = this.cache.getOrCreate(clientId, Date.now());
    const pending = entry.pending ?? this.startCall(entry, { kind: 'get' }, true);
    pending.control.join();
    return pending.promise;
  }

  private async report(clientId: string, rejectedToken: string): Promise<string> {
    const refused = this.refuse(clientId);
    if (refused !== null) throw refused;
    const entry = this.cache.getOrCreate(clientId, Date.now());
    // Callers arriving during the report wait for its answer rather than get the refused token.
    if (entry.token?.accessToken === rejectedToken) {
      entry.token = null;
      this.scheduleRenewal(entry, null);
    }
    const pending = this.startCall(entry, { kind: 'refresh', rejectedToken }, true);
    return (await pending.promise).accessToken;
  }

  private refuse(clientId: string): TokenBrokerError | null {
    if (this.http.closed) {
      return new TokenBrokerError(`TokenBrokerClient is closed (client "${clientId}")`, {
        status: null,
        code: 'client_closed',
      });
    }
    if (typeof clientId !== 'string' || clientId === '') {
      return new TokenBrokerError('clientId must be a non-empty string', { status: null, code: 'bad_request' });
    }
    return null;
  }

  private startCall(entry: CacheEntry, call: TokenCall, awaited: boolean): PendingCall {
    const control = new CallControl(awaited);
    const promise = this.runCall(entry, call, control);
    const pending: PendingCall = { promise, control };
    entry.pending = pending;
    // Cleared once settled, whoever awaits it; a later call may have taken the slot already.
    promise.then(
      () => this.release(entry, pending),
      () => this.release(entry, pending),
    );
    return pending;
  }

  private release(entry: CacheEntry, pending: PendingCall): void {
    if (entry.pending === pending) entry.pending = null;
  }

  private async runCall(entry: CacheEntry, call: TokenCall, control: CallControl): Promise<HeldToken> {
    const previous = entry.token;
    try {
      const answer = await this.http.token(entry.clientId, call, control);
      const held = holdToken(answer.accessToken, answer.expiresAtMs, this.options.minTtlMs);
      this.keep(entry, held, previous);
      return held;
    } catch (error) {
      this.afterFailure(entry, error);
      throw error;
    }
  }

  private keep(entry: CacheEntry, held: HeldToken, previous: HeldToken | null): void {
    if (!this.cache.holds(entry)) return;
    entry.token = held;
    const nowMs = Date.now();
    // The broker had no newer token yet (a renewal that came too early): ask again sooner.
    const unchanged = previous !== null && previous.accessToken === held.accessToken && held.expiresAtMs !== null;
    const renewal = unchanged ? renewalRetryDelayMs : renewalDelayMs;
    this.scheduleRenewal(entry, renewal(held.expiresAtMs, nowMs, this.options));
  }

  private afterFailure(entry: CacheEntry, error: unknown): void {
    if (!(error instanceof TokenBrokerError) || error.code === 'client_closed' || !this.cache.holds(entry)) return;
    const context = { clientId: entry.clientId, status: error.status, code: error.code };
    if (error.revokesHeldToken) {
      this.options.logger.warn?.('token broker refused this client: its cached token is dropped', context);
      this.cache.delete(entry);
      this.forget(entry);
      return;
    }
    const token = entry.token;
    if (token === null) return;
    this.options.logger.warn?.(
      'token renewal failed: the cached token is served while it has minTtlSeconds left',
      context,
    );
    this.scheduleRenewal(entry, renewalRetryDelayMs(token.expiresAtMs, Date.now(), this.options));
  }

  private scheduleRenewal(entry: CacheEntry, delayMs: number | null): void {
    if (entry.renewTimer !== null) clearTimeout(entry.renewTimer);
    entry.renewTimer = null;
    if (delayMs === null || this.http.closed) return;
    const timer = setTimeout(() => this.renew(entry), Math.min(delayMs, MAX_TIMER_MS));
    timer.unref();
    entry.renewTimer = timer;
  }

  /** A renewal due: skipped for a client nobody asked for in idleSeconds (its next caller waits instead). */
  private renew(entry: CacheEntry): void {
    entry.renewTimer = null;
    if (this.http.closed || !this.cache.holds(entry) || entry.pending !== null) return;
    if (Date.now() - entry.lastUsedMs > this.options.idleMs) return;
    this.startCall(entry, { kind: 'get' }, false).promise.catch(ignore);
  }

  private forget(entry: CacheEntry): void {
    if (entry.renewTimer !== null) clearTimeout(entry.renewTimer);
    entry.renewTimer = null;
    entry.token = null;
  }

  private async sendReportingRejection(
    clientId: string,
    input: string | URL,
    init: RequestInit | undefined,
    token: string,
  ): Promise<Response> {
    const response = await this.options.fetch(input, withBearer(init, token));
    if (response.status !== 401 || !isReplayableBody(init?.body)) return response;
    await discardBody(response);
    const fresh = await this.reportRejected(clientId, token);
    return this.options.fetch(input, withBearer(init, fresh));
  }
}
