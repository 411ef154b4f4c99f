import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { openMaterial, type ClientMaterial } from '../client-auth/sealed-material';
import { SealedValueError, SecretBox, tokenContext } from '../crypto/secret-box';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import { StoreEventsService } from '../store/store-events.service';
import type { ClientEntry, ClientRecord, ClientStatus, StoredToken } from '../store/store.types';
import { SPANS, TracingService, type TraceSpan } from '../tracing/tracing.service';
import { expiringCertificate } from './certificate-expiry';
import { tokenRequestFor } from './client-proof';
import { LockManager } from './lock-manager';
import { decide, nextState, type NextState, type RefreshReason } from './refresh-policy';
import { ClientTlsAgents } from './upstream/tls-agents';
import { UpstreamClient } from './upstream/upstream.client';
import type { UpstreamOutcome } from './upstream/upstream.types';

/**
 * How a refresh that held the lock ended: when the client is next due (null:
 * leave its schedule entry), and whether its write let the lock go.
 */
interface RefreshEnd {
  dueAt: number | null;
  lockReleased: boolean;
}

/** A NextState with its token sealed, ready for the store. */
export interface SealedState {
  status: ClientStatus;
  token: StoredToken | undefined;
  dueAt: number;
}

/** How long a waiter sleeps between looks at the lock when no broadcast came (its holder may have died). */
const LOCK_RECHECK_MS = 1_000;
/** A scheduled refresh that found the client locked looks again this soon. */
const LOCKED_RETRY_MS = 2_000;

/**
 * Runs refreshes: takes the lock, decides (refresh-policy), asks the upstream,
 * and writes the policy's next state in one store write that also releases
 * the lock. In this process concurrent calls of one kind join one promise.
 * Waiters are woken by the store's broadcast when the token lands. Every
 * write is fenced on the client's generation, so a refresh that began before
 * a rotation never overwrites its result.
 */
@Injectable()
export class Refresher {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly waitLimitMs: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly box: SecretBox,
    private readonly upstream: UpstreamClient,
    private readonly events: StoreEventsService,
    private readonly audit: AuditService,
    private readonly locks: LockManager,
    private readonly tracing: TracingService,
    private readonly tlsAgents: ClientTlsAgents,
  ) {
    this.waitLimitMs = 2 * config.upstreamTimeoutMs + 10_000;
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

  /** Shutdown: lets running refreshes finish for up to `graceMs`, then gives back every lock still held. */
  async drain(graceMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), sleep(graceMs)]);
    await this.locks.releaseAll();
  }

  /**
   * Asks the upstream whether `material` (a secret, a key, a certificate and
   * key) obtains a token (or is a valid API key) for this client. A
   * rotation's verification is sent whatever the host's circuit says (an
   * admin asked for it), and its answer counts as the probe.
   */
  async ask(client: ClientRecord, material: ClientMaterial, verification = false): Promise<UpstreamOutcome> {
    const caller = { clientKey: client.id, workspaceId: client.workspaceId, verification };
    if (client.type === 'api_key') {
      if (material.kind === 'secret') return this.upstream.checkApiKey(material.secret, caller);
      const description = 'an API key client has no key pair';
      return { kind: 'rejected', httpStatus: null, error: 'misconfigured_client', description };
    }
    const request = tokenRequestFor(client, material, caller, this.tlsAgents);
    return 'kind' in request ? request : this.upstream.requestToken(request);
  }

  /** The policy's next state with its token sealed for the store. */
  seal(clientId: string, next: NextState): SealedState {
    const { token } = next;
    if (token === undefined) return { ...next, token: undefined };
    const { accessToken, ...rest } = token;
    return { ...next, token: { sealedAccessToken: this.box.seal(accessToken, tokenContext(clientId, rest)), ...rest } };
  }

  private async runExclusively(id: string, reason: RefreshReason, actor?: Principal): Promise<void> {
    const owner = this.locks.newOwner();
    const giveUpAt = Date.now() + this.waitLimitMs;
    for (;;) {
      // Listening starts before the lock is tried, so a token that lands in between still wakes this caller.
      const wake = reason === 'scheduled' ? null : this.events.nextClientChange(id, LOCK_RECHECK_MS);
      const lock = await this.locks.take(id, owner);
      if (lock.locked) {
        wake?.cancel();
        let end: RefreshEnd = { dueAt: null, lockReleased: false };
        try {
          end = await this.refreshHoldingLock(id, lock.entry, reason, owner, actor);
        } finally {
          await this.finish(id, owner, end);
        }
        return;
      }
      if (wake === null) {
        // Another replica is refreshing it and will reschedule it; if that replica died, look again soon.
        await this.store.setDue(id, Date.now() + LOCKED_RETRY_MS);
        return;
      }
      if ((await wake.changed) && !(await this.stillNeedsRefresh(id, reason))) return;
      if (Date.now() >= giveUpAt) return;
    }
  }

  /**
   * Whether a waiter woken by a change of the client must go on waiting. Any
   * change wakes it, not only the token it waits for: an event published
   * before the wait began can arrive after (on a Cluster, events cross the
   * cluster bus), so the client is read before the waiter gives up its wait.
   */
  private async stillNeedsRefresh(id: string, reason: RefreshReason): Promise<boolean> {
    const entry = await this.store.getClient(id);
    return (
      entry !== null && decide(entry, reason, Date.now(), this.config, (token) => this.opens(id, token)) === 'refresh'
    );
  }

  /** Lets go of the lock (unless the write already did) and reschedules the client, together. */
  private async finish(id: string, owner: string, end: RefreshEnd): Promise<void> {
    let released: Promise<void> | undefined;
    if (end.lockReleased) {
      this.locks.forget(id);
    } else {
      released = this.locks
        .release(id, owner)
        .catch((error) => this.logger.warn({ err: error, clientId: id }, 'could not release refresh lock'));
    }
    await Promise.all([end.dueAt === null ? undefined : this.store.setDue(id, end.dueAt), released]);
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
    const decision = decide(entry, reason, Date.now(), this.config, (token) => this.opens(id, token));
    if (decision !== 'refresh') return { dueAt: reason === 'scheduled' ? decision.dueAt : null, lockReleased: false };
    if (reason === 'forced' && actor) {
      await this.audit.record(actor, 'token.refresh_forced', id, entry.client.workspaceId);
    }
    const spanFields = { clientId: id, workspaceId: entry.client.workspaceId, reason };
    const { outcome, next, written, rescheduled } = await this.tracing.inSpan(SPANS.refresh, spanFields, (span) =>
      this.askAndWrite(entry, reason, owner, span),
    );
    // The client changed meanwhile, yet was rescheduled for the token that was not written: look at it again now.
    if (written === 'stale' && rescheduled) return { dueAt: Date.now(), lockReleased: true };
    if (written !== 'ok') return { dueAt: null, lockReleased: true };
    await this.warnOfCertificate(entry.client);
    this.logger.info(
      { clientId: id, workspaceId: entry.client.workspaceId, reason, outcome: outcome.kind, state: next.status.state },
      'refresh finished',
    );
    return { dueAt: rescheduled ? null : next.dueAt, lockReleased: true };
  }

  /**
   * Asks the upstream and writes what follows, releasing the lock. A
   * scheduled refresh (its client claimed) that keeps the client's state
   * reschedules it with the write, in the same round trip.
   */
  private async askAndWrite(entry: ClientEntry, reason: RefreshReason, owner: string, span: TraceSpan) {
    const { id, generation } = entry.client;
    // A token's life is counted from when it was asked for: the upstream may have issued it long before it arrived.
    const askedAt = Date.now();
    const answer = await this.askWithStoredSecret(entry.client);
    const next = this.nextSealed(entry, answer, reason, askedAt);
    const change = { status: next.status, token: next.token };
    const rescheduled = reason === 'scheduled' && next.status.state === entry.status.state;
    const written = await this.store.updateClient(id, generation, change, owner, rescheduled ? next.dueAt : undefined);
    span.set({ outcome: written === 'ok' ? next.status.state : written });
    return { outcome: answer, next, written, rescheduled };
  }

  /**
   * The state to write after an answer. Should working it out throw (an
   * answer no rule foresaw), the client is written as after a transient
   * failure instead: nothing written would mean no backoff and no record of
   * a forced refresh, so every caller would ask the upstream again at once.
   */
  private nextSealed(
    entry: ClientEntry,
    outcome: UpstreamOutcome,
    reason: RefreshReason,
    askedAt: number,
  ): SealedState {
    try {
      return this.seal(entry.client.id, nextState(entry, outcome, reason, Date.now(), askedAt, this.config));
    } catch (error) {
      const message = error instanceof Error ? error.message : 'unknown error';
      this.logger.error({ clientId: entry.client.id, reason: message }, 'upstream answer could not be applied');
      const failed: UpstreamOutcome = {
        kind: 'transient',
        reason: 'the upstream answer could not be applied',
        httpStatus: null,
        retryAfterSeconds: null,
      };
      return this.seal(entry.client.id, nextState(entry, failed, reason, Date.now(), askedAt, this.config));
    }
  }

  /** Raises client.certificate_expiring when due; a failure here is logged and never fails the refresh. */
  private async warnOfCertificate(client: ClientRecord): Promise<void> {
    const now = Date.now();
    const certificateExpiresAt = expiringCertificate(client, now);
    if (certificateExpiresAt === null) return;
    try {
      if (await this.store.raiseCertificateExpiring(client.id, now)) {
        const { id: clientId, workspaceId } = client;
        this.logger.warn({ clientId, workspaceId, certificateExpiresAt }, 'client certificate expiring');
      }
    } catch (error) {
      this.logger.warn({ err: error, clientId: client.id }, 'could not raise client.certificate_expiring');
    }
  }

  private opens(id: string, token: StoredToken): boolean {
    try {
      this.box.open(token.sealedAccessToken, tokenContext(id, token));
      return true;
    } catch (error) {
      if (error instanceof SealedValueError) return false;
      throw error;
    }
  }

  private async askWithStoredSecret(client: ClientRecord): Promise<UpstreamOutcome> {
    let material: ClientMaterial;
    try {
      material = openMaterial(this.box, client);
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      this.logger.error({ clientId: client.id, reason: error.message }, 'stored secret cannot be opened');
      return {
        kind: 'rejected',
        httpStatus: null,
        error: 'undecryptable_secret',
        description: 'the stored secret cannot be decrypted with BROKER_ENCRYPTION_KEYS; rotate it',
      };
    }
    return this.ask(client, material);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
