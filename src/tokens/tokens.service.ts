import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { mayAccessWorkspace, type Principal } from '../auth/principal';
import { BrokerError } from '../common/broker-error';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { SealedValueError, SecretBox, secretContext, tokenContext } from '../crypto/secret-box';
import { MetricsService, type TokenRequestOutcome } from '../metrics/metrics.service';
import { BROKER_STORE, StoreUnavailableError, type BrokerStore } from '../store/broker-store';
import type { ClientEntry } from '../store/store.types';
import { RefreshFacade, SERVE_MARGIN_MS } from '../refresh/refresh.facade';
import { SPANS, TracingService, type TraceSpan } from '../tracing/tracing.service';
import { UsageRecorder } from '../usage/usage-recorder';
import { TokenCache, answerBody, cachedToken, type CachedToken } from './token-cache';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_at: string | null;
  expires_in: number | null;
}

/** What this replica's memory alone says of a token request; `hit` carries the token to serve. */
export type TokenLookup =
  | { readonly outcome: 'hit'; readonly token: CachedToken }
  | { readonly outcome: 'miss' }
  | { readonly outcome: 'forbidden' };

const MISS: TokenLookup = { outcome: 'miss' };
const FORBIDDEN: TokenLookup = { outcome: 'forbidden' };

/**
 * Serves tokens. A token this replica already holds is served from memory,
 * with no store round trip; anything else is read from the store and, when
 * there is no servable token, fetched through the single refresh of
 * the refresh module (RefreshFacade).
 */
@Injectable()
export class TokensService {
  private readonly minTtlMs: number;
  /** MIN_TOKEN_TTL_SECONDS itself: a token served with less left is counted (it should never happen). */
  private readonly minTtlFloorMs: number;
  private readonly forbiddenFromMemory;
  private readonly reads = new Map<string, { version: string; entry: Promise<ClientEntry | null> }>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly box: SecretBox,
    private readonly cache: TokenCache,
    private readonly refresher: RefreshFacade,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
    private readonly usage: UsageRecorder,
  ) {
    this.minTtlFloorMs = config.minTokenTtlSeconds * 1000;
    this.minTtlMs = this.minTtlFloorMs + SERVE_MARGIN_MS;
    this.forbiddenFromMemory = metrics.tokenRequests.labels('forbidden');
  }

  /**
   * The one decision of what this replica's memory can answer, for both of
   * TokenRoute's dispatchers: a held token with enough life left (hit), a
   * client of a workspace the principal may not use (forbidden), or nothing
   * servable without the store (miss). Synchronous and free of side effects:
   * the hot path may still decline a hit (the key's budget), and whoever
   * answers one does so through `serve`.
   */
  lookup(principal: Principal, id: string, now: number): TokenLookup {
    const token = this.cache.get(id);
    if (token === undefined) return MISS;
    if (!mayAccessWorkspace(principal, token.workspaceId)) return FORBIDDEN;
    return this.servable(token, now) ? { outcome: 'hit', token } : MISS;
  }

  /** The answer to a hit of `lookup`, counted as served from memory and stamped as used. */
  serve(principal: Principal, id: string, token: CachedToken, now: number): string {
    this.metrics.countServedFromMemory();
    this.checkTtl(token, now);
    this.usage.stamp(principal, id, now);
    return answerBody(token, now);
  }

  /** The serialised token response: from memory when `lookup` finds it, else through the store. */
  async getToken(principal: Principal, id: string): Promise<string> {
    const now = Date.now();
    const found = this.lookup(principal, id, now);
    if (found.outcome === 'hit') return this.serve(principal, id, found.token, now);
    if (found.outcome === 'forbidden') {
      this.forbiddenFromMemory.inc();
      throw forbidden();
    }
    return this.counted(id, async (span) => {
      this.metrics.tokenCache.inc({ result: 'miss' });
      const version = this.cache.version(id);
      const entry = await this.load(id, principal);
      span.set({ workspaceId: entry.client.workspaceId });
      const held = this.servableToken(entry, Date.now());
      if (held) {
        this.cache.set(id, held, version);
        return { response: this.answer(principal, id, held), outcome: 'served' };
      }
      this.refuseWithoutUpstream(entry, Date.now());
      await this.refresher.refresh(id, 'demand');
      return { response: this.answer(principal, id, await this.afterRefresh(id, principal)), outcome: 'fetched' };
    });
  }

  /**
   * For a caller whose token the upstream refused. When it names a token that
   * is no longer the current one, the current one is the answer; otherwise
   * one refresh runs, coalesced with any other forced refresh of the client.
   */
  async forceRefresh(principal: Principal, id: string, rejectedToken: string | undefined): Promise<TokenResponse> {
    return this.counted(id, async (span) => {
      const entry = await this.load(id, principal);
      span.set({ workspaceId: entry.client.workspaceId });
      const held = this.servableToken(entry, Date.now());
      if (held && rejectedToken !== undefined && !sameSecret(held.accessToken, rejectedToken)) {
        this.usage.stamp(principal, id, Date.now());
        return { response: toResponse(this.checkTtl(held, Date.now()), Date.now()), outcome: 'served' };
      }
      if (entry.status.state === 'rejected') throw rejected(entry);
      await this.refresher.refresh(id, 'forced', principal);
      const fetched = await this.afterRefresh(id, principal, { refuseRejected: true });
      this.usage.stamp(principal, id, Date.now());
      return { response: toResponse(this.checkTtl(fetched, Date.now()), Date.now()), outcome: 'fetched' };
    });
  }

  /** The answer of the store path, stamped as used like a hit's. */
  /** A token answered through the store path: checked against the floor, stamped as used, serialised. */
  private answer(principal: Principal, id: string, token: CachedToken): string {
    const now = Date.now();
    this.checkTtl(token, now);
    this.usage.stamp(principal, id, now);
    return answerBody(token, now);
  }

  /**
   * The token to answer with once the refresh is over. A forced refresh that
   * found the credentials refused answers 502 even while the old token is
   * valid: that token is the one its caller was just refused with.
   */
  private async afterRefresh(
    id: string,
    principal: Principal,
    options: { refuseRejected?: boolean } = {},
  ): Promise<CachedToken> {
    const version = this.cache.version(id);
    const entry = await this.load(id, principal);
    if (options.refuseRejected && entry.status.state === 'rejected') throw rejected(entry);
    const now = Date.now();
    const held = this.servableToken(entry, now);
    if (held) {
      this.cache.set(id, held, version);
      return held;
    }
    this.refuseWithoutUpstream(entry, now);
    throw BrokerError.upstreamUnavailable(1, 'the token request did not complete in time');
  }

  /** The answer when no servable token is held and the upstream must not (or cannot) be asked now. */
  private refuseWithoutUpstream(entry: ClientEntry, now: number): void {
    const { status } = entry;
    if (status.state === 'rejected') throw rejected(entry);
    if (status.state === 'failing' && status.nextAttemptAt !== null && status.nextAttemptAt > now) {
      throw BrokerError.upstreamUnavailable(
        (status.nextAttemptAt - now) / 1000,
        status.lastError ?? 'upstream failing',
      );
    }
  }

  private async load(id: string, principal: Principal): Promise<ClientEntry> {
    const entry = await this.read(id);
    if (!entry) throw BrokerError.notFound('Client');
    authorize(principal, entry.client.workspaceId);
    return entry;
  }

  /**
   * Concurrent reads of one client share one store round trip: a herd of
   * callers woken by the one refresh would otherwise read the same entry once
   * each. A caller joins only a read begun since the client's last change
   * event (the cache's version): a waiter woken by the event that announced
   * its token must not get a read that began before that token landed. The
   * entry is shared, so it is only ever read, never changed.
   */
  private read(id: string): Promise<ClientEntry | null> {
    const version = this.cache.version(id);
    const running = this.reads.get(id);
    if (running && running.version === version) return running.entry;
    const entry: Promise<ClientEntry | null> = this.store.getClient(id).finally(() => {
      if (this.reads.get(id)?.entry === entry) this.reads.delete(id);
    });
    this.reads.set(id, { version, entry });
    return entry;
  }

  /** The token to serve from this entry, decrypted, or null when none may be served. */
  private servableToken(entry: ClientEntry, now: number): CachedToken | null {
    const { client, status, token } = entry;
    if (client.type === 'api_key') {
      if (status.state === 'rejected') return null;
      return cachedToken(
        client.workspaceId,
        client.type,
        this.open(client.sealedSecret, secretContext(client.id)),
        null,
      );
    }
    if (!token || token.generation !== client.generation || token.expiresAt - now < this.minTtlMs) return null;
    try {
      const accessToken = this.box.open(token.sealedAccessToken, tokenContext(client.id, token));
      return cachedToken(client.workspaceId, client.type, accessToken, token.expiresAt);
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      // A token that does not open is never served; a fresh one is fetched instead.
      this.logger.error({ clientId: client.id, reason: error.message }, 'stored token cannot be opened');
      return null;
    }
  }

  private open(sealed: string, context: string): string {
    try {
      return this.box.open(sealed, context);
    } catch (error) {
      if (error instanceof SealedValueError) {
        throw new BrokerError(
          'credentials_rejected',
          'The stored API key cannot be decrypted with the configured keys; rotate it',
        );
      }
      throw error;
    }
  }

  private servable(token: CachedToken, now: number): boolean {
    return token.expiresAt === null || token.expiresAt - now >= this.minTtlMs;
  }

  /** A check apart from servable(): counts a token about to be served with less than MIN_TOKEN_TTL_SECONDS left. */
  private checkTtl(token: CachedToken, now: number): CachedToken {
    if (token.expiresAt !== null && token.expiresAt - now < this.minTtlFloorMs)
      this.metrics.tokensServedBelowMinTtl.inc();
    return token;
  }

  /** A token request not answered from memory: counted, timed, and traced when tracing is on. */
  private counted<T>(
    id: string,
    work: (span: TraceSpan) => Promise<{ response: T; outcome: TokenRequestOutcome }>,
  ): Promise<T> {
    return this.tracing.inSpan(SPANS.tokenRequest, { clientId: id }, async (span) => {
      const started = performance.now();
      const finish = (outcome: TokenRequestOutcome): void => {
        this.metrics.tokenRequests.inc({ outcome });
        this.metrics.tokenRequestDuration.observe({ outcome }, (performance.now() - started) / 1000);
        span.set({ outcome });
      };
      try {
        const { response, outcome } = await work(span);
        finish(outcome);
        return response;
      } catch (error) {
        finish(outcomeOf(error));
        throw error;
      }
    });
  }
}

function authorize(principal: Principal, workspaceId: string): void {
  if (!mayAccessWorkspace(principal, workspaceId)) throw forbidden();
}

function forbidden(): BrokerError {
  return new BrokerError('forbidden', 'This service key may not fetch tokens for this workspace');
}

function rejected(entry: ClientEntry): BrokerError {
  // The kind of refusal only: the upstream's own words (lastError) are for admins, in the client view.
  return new BrokerError(
    'credentials_rejected',
    `The upstream refused this client's credentials (${entry.status.refusal ?? 'refused'}). Rotate its secret.`,
  );
}

function toResponse(token: CachedToken, now: number): TokenResponse {
  if (token.expiresAt === null) {
    return { access_token: token.accessToken, token_type: 'Bearer', expires_at: null, expires_in: null };
  }
  return {
    access_token: token.accessToken,
    token_type: 'Bearer',
    expires_at: new Date(token.expiresAt).toISOString(),
    expires_in: Math.floor((token.expiresAt - now) / 1000),
  };
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function outcomeOf(error: unknown): TokenRequestOutcome {
  if (error instanceof StoreUnavailableError) return 'store_unavailable';
  if (!(error instanceof BrokerError)) return 'error';
  switch (error.code) {
    case 'not_found':
    case 'forbidden':
    case 'credentials_rejected':
    case 'upstream_unavailable':
    case 'store_unavailable':
      return error.code;
    default:
      return 'error';
  }
}
