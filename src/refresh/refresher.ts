import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { SealedValueError, SecretBox, secretContext, tokenContext } from '../crypto/secret-box';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import { StoreEventsService } from '../store/store-events.service';
import type { ClientEntry, ClientStatus, StoredToken } from '../store/store.types';
import { REJECTED_RETRY_MS, SERVE_MARGIN_MS, backoffDelayMs, refreshWindowStart, scheduledRefreshAt } from './refresh-timing';
import { UpstreamClient } from './upstream/upstream.client';
import type { UpstreamOutcome } from './upstream/upstream.types';

export type RefreshReason = 'scheduled' | 'demand' | 'forced';

/** How a refresh that held the lock ended: when the client is next due (null: leave its schedule entry), and whether its write let the lock go. */
interface RefreshEnd {
  dueAt: number | null;
  lockReleased: boolean;
}

/**
 * A refresh lock lives this long unless its holder renews it (all held locks,
 * every third of it) while its request waits for an upstream slot and runs: a
 * replica that dies lets go within this time, whatever UPSTREAM_TIMEOUT_MS is.
 */
const LOCK_TTL_MS = 15_000;
/** How long a waiter sleeps between looks at the lock when no broadcast came (its holder may have died). */
const LOCK_RECHECK_MS = 1_000;
/** A scheduled refresh that found the client locked looks again this soon. */
const LOCKED_RETRY_MS = 2_000;

/**
 * Obtains tokens from the upstream: one refresh per client at a time across
 * replicas (a Redis lock with an owner token, renewed while held), and in
 * this process concurrent calls of one kind join one promise. Waiters are
 * woken by the store's broadcast when the token lands. Every write is fenced
 * on the client's generation, so a refresh that began before a rotation never
 * overwrites its result.
 */
@Injectable()
export class RefreshService implements OnModuleInit, OnModuleDestroy {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Client id -> owner token of each refresh lock this replica holds. */
  private readonly heldLocks = new Map<string, string>();
  /** Owner tokens need only be unique (they fence, they guard nothing): a random replica id and a counter. */
  private readonly replicaId = randomBytes(8).toString('hex');
  private lockSequence = 0;
  private lockRenewal: NodeJS.Timeout | null = null;
  private readonly waitLimitMs: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly box: SecretBox,
    private readonly upstream: UpstreamClient,
    private readonly events: StoreEventsService,
    private readonly audit: AuditService,
  ) {
    this.waitLimitMs = 2 * config.upstreamTimeoutMs + 10_000;
  }

  onModuleInit(): void {
    this.lockRenewal = setInterval(() => this.renewHeldLocks(), LOCK_TTL_MS / 3);
    this.lockRenewal.unref();
  }

  onModuleDestroy(): void {
    if (this.lockRenewal) clearInterval(this.lockRenewal);
  }

  /**
   * Runs, or joins, the one refresh of this client for this reason. Resolves
   * once it has landed, failed, or been done by someone else; the caller then
   * reads the outcome from the store. Calls of different reasons do not join
   * each other (a scheduled pass that finds the lock taken gives up at once,
   * which a caller waiting for a token must not), and meet at the lock instead.
   */
  refresh(id: string, reason: RefreshReason, actor?: Principal): Promise<void> {
    const key = `${reason}:${id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const job = this.runExclusively(id, reason, actor).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, job);
    return job;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Shutdown: lets running refreshes finish for up to `graceMs`, then gives
   * back every lock still held, so another replica need not wait them out,
   * and makes each of those clients due now: otherwise its schedule entry
   * would sit on this replica's claim lease (20 s) before anyone took it.
   */
  async releaseLocks(graceMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), sleep(graceMs)]);
    const now = Date.now();
    await Promise.allSettled(
      [...this.heldLocks].map(async ([id, owner]) => {
        await this.store.releaseLock(id, owner);
        await this.store.setDue(id, now);
      }),
    );
    this.heldLocks.clear();
  }

  private async runExclusively(id: string, reason: RefreshReason, actor?: Principal): Promise<void> {
    const owner = `${this.replicaId}.${(this.lockSequence += 1)}`;
    const giveUpAt = Date.now() + this.waitLimitMs;
    for (;;) {
      // Listening starts before the lock is tried, so a token that lands in between still wakes this caller.
      const wake = reason === 'scheduled' ? null : this.events.nextClientChange(id, LOCK_RECHECK_MS);
      const lock = await this.store.lockAndRead(id, owner, LOCK_TTL_MS);
      if (lock.locked) {
        wake?.cancel();
        this.heldLocks.set(id, owner);
        let end: RefreshEnd = { dueAt: null, lockReleased: false };
        try {
          end = await this.refreshHoldingLock(id, lock.entry, reason, owner, actor);
        } finally {
          this.heldLocks.delete(id);
          const released = end.lockReleased
            ? undefined
            : this.store.releaseLock(id, owner).catch((error) => this.logger.warn({ err: error, clientId: id }, 'could not release refresh lock'));
          await Promise.all([end.dueAt === null ? undefined : this.store.setDue(id, end.dueAt), released]);
        }
        return;
      }
      if (wake === null) {
        // Another replica is refreshing it and will reschedule it; if that replica died, look again soon.
        await this.store.setDue(id, Date.now() + LOCKED_RETRY_MS);
        return;
      }
      if ((await wake.changed) || Date.now() >= giveUpAt) return;
    }
  }

  /** Keeps every lock this replica holds alive while its refresh waits for an upstream slot and runs. */
  private renewHeldLocks(): void {
    for (const [id, owner] of this.heldLocks) {
      this.store.extendLock(id, owner, LOCK_TTL_MS).catch(() => undefined);
    }
  }

  /** Refreshes the client if it should be; says when it is next due, and whether the write released the lock. */
  private async refreshHoldingLock(
    id: string,
    entry: ClientEntry | null,
    reason: RefreshReason,
    owner: string,
    actor?: Principal,
  ): Promise<RefreshEnd> {
    if (!entry) {
      // Deleted while due (or its schedule entry outlived a crash mid-delete): nothing to refresh, ever.
      await this.store.removeDue(id);
      return { dueAt: null, lockReleased: false };
    }
    const now = Date.now();
    const decision = this.decide(entry, reason, now);
    if (decision !== 'refresh') return { dueAt: reason === 'scheduled' ? decision.dueAt : null, lockReleased: false };
    if (reason === 'forced' && actor) {
      await this.audit.record(actor, 'token.refresh_forced', id, entry.client.workspaceId);
    }
    // A token's life is counted from when it was asked for: the upstream may have issued it long before it arrived.
    const askedAt = Date.now();
    const outcome = await this.askUpstream(entry);
    const next = this.apply(entry, outcome, reason, Date.now(), askedAt);
    const written = await this.store.updateClient(id, entry.client.generation, { status: next.status, token: next.token }, owner);
    if (written !== 'ok') return { dueAt: null, lockReleased: true };
    this.logger.info(
      { clientId: id, workspaceId: entry.client.workspaceId, reason, outcome: outcome.kind, state: next.status.state },
      'refresh finished',
    );
    return { dueAt: next.dueAt, lockReleased: true };
  }

  /** Whether this refresh should reach the upstream, or when the client is next due instead. */
  private decide(entry: ClientEntry, reason: RefreshReason, now: number): 'refresh' | { dueAt: number } {
    const { client, status } = entry;
    const backingOff = status.nextAttemptAt !== null && status.nextAttemptAt > now;
    if (reason === 'forced') {
      const last = status.lastForcedRefreshAt;
      const coalesced = last !== null && now - last < this.config.forceRefreshMinIntervalSeconds * 1000;
      return coalesced || status.state === 'rejected' || (status.state === 'failing' && backingOff) ? { dueAt: now } : 'refresh';
    }
    if (status.state === 'rejected' || status.state === 'failing') {
      if (backingOff) return { dueAt: status.nextAttemptAt! };
      // Refused credentials are retried on the slow schedule only, never because a caller asked.
      return status.state === 'rejected' && reason === 'demand' ? { dueAt: now } : 'refresh';
    }
    if (client.type === 'api_key') {
      const nextCheck = Date.parse(status.lastRefreshAt ?? '') + this.config.apiKeyCheckIntervalSeconds * 1000;
      return Number.isNaN(nextCheck) || now >= nextCheck ? 'refresh' : { dueAt: nextCheck };
    }
    const token = entry.token;
    if (!token) return 'refresh';
    // In its window, a token is refreshed whatever it holds: no need to open it first.
    if (reason === 'scheduled' && now >= refreshWindowStart(token.obtainedAt, token.expiresAt, this.config)) return 'refresh';
    if (!this.servable(entry, now)) return 'refresh';
    // A caller found no servable token, but one is there now: another replica has just fetched it.
    if (reason === 'demand') return { dueAt: now };
    return { dueAt: scheduledRefreshAt(token.obtainedAt, token.expiresAt, this.config) };
  }

  /** A token of the current generation, with at least MIN_TOKEN_TTL_SECONDS left, that opens. */
  private servable({ client, token }: ClientEntry, now: number): boolean {
    if (!token || token.generation !== client.generation) return false;
    if (token.expiresAt - now < this.config.minTokenTtlSeconds * 1000 + SERVE_MARGIN_MS) return false;
    try {
      this.box.open(token.sealedAccessToken, tokenContext(client.id));
      return true;
    } catch (error) {
      if (error instanceof SealedValueError) return false;
      throw error;
    }
  }

  private async askUpstream(entry: ClientEntry): Promise<UpstreamOutcome> {
    const { client } = entry;
    let secret: string;
    try {
      secret = this.box.open(client.sealedSecret, secretContext(client.id));
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      this.logger.error({ clientId: client.id, reason: error.message }, 'stored secret cannot be opened');
      return { kind: 'rejected', httpStatus: null, error: 'undecryptable_secret', description: 'the stored secret cannot be decrypted with BROKER_ENCRYPTION_KEYS; rotate it' };
    }
    if (client.type === 'api_key') return this.upstream.checkApiKey(secret);
    return this.upstream.requestToken({
      tokenUrl: client.tokenUrl!,
      clientId: client.clientId!,
      clientSecret: secret,
      scope: client.scope,
      format: client.tokenRequestFormat,
    });
  }

  /**
   * The status, token and next due time that follow from an upstream answer
   * that arrived at `now` to a request sent at `askedAt`.
   */
  apply(
    entry: ClientEntry,
    answer: UpstreamOutcome,
    reason: RefreshReason,
    now: number,
    askedAt = now,
  ): { status: ClientStatus; token: StoredToken | null | undefined; dueAt: number } {
    const { client, status } = entry;
    const at = new Date(now).toISOString();
    const lastForcedRefreshAt = reason === 'forced' ? now : status.lastForcedRefreshAt;
    const outcome = this.usableOrTransient(answer);
    switch (outcome.kind) {
      case 'token': {
        const expiresAt = askedAt + outcome.expiresInSeconds * 1000;
        return {
          status: { ...healthy(at, lastForcedRefreshAt), tokenExpiresAt: new Date(expiresAt).toISOString() },
          token: {
            sealedAccessToken: this.box.seal(outcome.accessToken, tokenContext(client.id)),
            expiresAt,
            obtainedAt: askedAt,
            generation: client.generation,
          },
          dueAt: scheduledRefreshAt(askedAt, expiresAt, this.config),
        };
      }
      case 'valid':
        return {
          status: healthy(at, lastForcedRefreshAt),
          token: undefined,
          dueAt: now + this.config.apiKeyCheckIntervalSeconds * 1000,
        };
      case 'rejected': {
        const said = [outcome.error, outcome.description].filter(Boolean).join(': ');
        const httpStatus = outcome.httpStatus === null ? '' : ` ${outcome.httpStatus}`;
        return {
          status: {
            ...status,
            state: 'rejected',
            lastError: `upstream refused the credentials${httpStatus}${said ? ` (${said})` : ''}`,
            failingSince: status.failingSince ?? at,
            consecutiveFailures: 0,
            nextAttemptAt: now + REJECTED_RETRY_MS,
            lastForcedRefreshAt,
          },
          token: undefined,
          dueAt: now + REJECTED_RETRY_MS,
        };
      }
      case 'transient': {
        if (status.state === 'rejected') {
          // Still refused as far as anyone knows: keep what the upstream said, and the slow retry.
          const nextAttemptAt = now + Math.max(REJECTED_RETRY_MS, backoffDelayMs(1, outcome.retryAfterSeconds));
          return { status: { ...status, nextAttemptAt, lastForcedRefreshAt }, token: undefined, dueAt: nextAttemptAt };
        }
        // A refusal by the host's open circuit sent nothing: it does not lengthen this client's backoff
        // (else a long outage would leave clients backing off for minutes after the host is back);
        // the client tries again once the circuit lets a probe through, spread over a second.
        const consecutiveFailures = outcome.notSent ? status.consecutiveFailures : status.consecutiveFailures + 1;
        const nextAttemptAt = outcome.notSent
          ? now + (outcome.retryAfterSeconds ?? 1) * 1000 + Math.random() * 1000
          : now + backoffDelayMs(consecutiveFailures, outcome.retryAfterSeconds);
        return {
          status: {
            ...status,
            state: 'failing',
            lastError: `upstream unavailable: ${outcome.reason}`,
            failingSince: status.failingSince ?? at,
            consecutiveFailures,
            nextAttemptAt,
            lastForcedRefreshAt,
          },
          token: undefined,
          dueAt: nextAttemptAt,
        };
      }
    }
  }

  /**
   * A token that would leave less than MIN_TOKEN_TTL_SECONDS at once can never
   * be served: it counts as a failed attempt (with backoff), not as a token to
   * refresh again immediately, which would ask the upstream in a loop.
   */
  private usableOrTransient(outcome: UpstreamOutcome): UpstreamOutcome {
    if (outcome.kind !== 'token' || outcome.expiresInSeconds > this.config.minTokenTtlSeconds) return outcome;
    return {
      kind: 'transient',
      reason: `the upstream issued a token that lives ${outcome.expiresInSeconds} s, no more than MIN_TOKEN_TTL_SECONDS`,
      httpStatus: null,
      retryAfterSeconds: null,
    };
  }
}

function healthy(at: string, lastForcedRefreshAt: number | null): ClientStatus {
  return {
    state: 'ready',
    tokenExpiresAt: null,
    lastRefreshAt: at,
    lastError: null,
    failingSince: null,
    consecutiveFailures: 0,
    nextAttemptAt: null,
    lastForcedRefreshAt,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
