import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { hash, timingSafeEqual } from 'node:crypto';
import { BrokerError } from '../common/broker-error';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import type { ServiceKeyRecord } from '../store/store.types';
import { StoreEventsService } from '../store/store-events.service';
import type { Principal } from './principal';
import { FailureWindow, TokenBuckets } from './rate-limiters';

export const SERVICE_KEY_PREFIX = 'tbsk';

/** One-shot hashing: it runs on every request of the hot path, and skips building a Hash object. */
export const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer');

/** Splits `tbsk.<id>.<secret>`; null when the key is not of that shape. */
export function serviceKeyIdOf(key: string): string | null {
  if (!key.startsWith(`${SERVICE_KEY_PREFIX}.`)) return null;
  const start = SERVICE_KEY_PREFIX.length + 1;
  const end = key.indexOf('.', start);
  const valid = end > start && end < key.length - 1 && key.indexOf('.', end + 1) === -1;
  return valid ? key.slice(start, end) : null;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/**
 * Who is calling. Admin keys come from configuration; service keys are kept
 * in process memory (hashes only) and follow the store's events, so a
 * deleted key is refused on every replica as soon as the event lands, and
 * authentication costs no store round trip.
 */
@Injectable()
export class AuthService implements OnApplicationBootstrap {
  private readonly adminKeys: { digest: Buffer; principal: Principal }[];
  private serviceKeys = new Map<string, KnownServiceKey>();
  private readonly failedAuth: FailureWindow;
  private readonly tokenBudget: TokenBuckets;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    events: StoreEventsService,
  ) {
    this.adminKeys = config.adminKeys.map((key) => {
      const digest = sha256(key);
      return { digest, principal: { kind: 'admin', actor: `admin:${digest.toString('hex').slice(0, 8)}` } };
    });
    this.failedAuth = new FailureWindow(config.authFailureLimitPerMinute);
    this.tokenBudget = new TokenBuckets(config.tokenRequestsPerSecondPerKey);
    events.onServiceKeyChanged((id) => void this.onServiceKeyChanged(id));
    events.onResync(() => void this.loadServiceKeys());
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.loadServiceKeys();
  }

  /**
   * Resolves the Authorization header to a principal, or throws 401 (429 once
   * a source has failed too often). A valid key is never rate limited here.
   */
  async authenticate(authorization: string | undefined, source: string): Promise<Principal> {
    const known = this.authenticateFromMemory(authorization);
    if (known) return known;
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    const principal = match ? await this.principalFor(match[1], source) : null;
    if (principal) return principal;
    const retryAfterSeconds = this.failedAuth.retryAfterSeconds(source);
    if (retryAfterSeconds > 0) {
      throw new BrokerError('rate_limited', 'Too many failed authentication attempts', { retryAfterSeconds });
    }
    this.failedAuth.recordFailure(source);
    throw new BrokerError(
      'unauthorized',
      match ? 'Unknown or revoked key' : 'Send Authorization: Bearer <admin key or service key>',
    );
  }

  /**
   * The principal of a key this replica knows without asking the store (the
   * admin keys, and the service keys it holds): the hot path's authentication,
   * synchronous. Undefined when the store must be asked, or there is no such key.
   */
  authenticateFromMemory(authorization: string | undefined): Principal | undefined {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (!match) return undefined;
    const key = match[1];
    const id = serviceKeyIdOf(key);
    const known = id === null ? undefined : this.serviceKeys.get(id);
    if (known?.seen !== undefined && sameBytes(known.seen, key)) return known.principal;
    const digest = sha256(key);
    const admin = this.adminFor(digest);
    if (admin) return admin;
    if (!known || !timingSafeEqual(known.digest, digest)) return undefined;
    known.seen = Buffer.from(key);
    return known.principal;
  }

  /**
   * Takes one token request from the key's budget (admin keys have none).
   * When the budget is spent it takes nothing and returns the 429 to answer,
   * for the caller to throw, or (the hot path) to leave to the full route.
   */
  chargeTokenRequest(principal: Principal): BrokerError | null {
    if (principal.kind !== 'service') return null;
    const retryAfterSeconds = this.tokenBudget.take(principal.serviceKeyId);
    if (retryAfterSeconds === 0) return null;
    return new BrokerError('rate_limited', 'This service key is over its token request budget', { retryAfterSeconds });
  }

  /** A key changed somewhere: forget it here first, so a deleted key is refused even if the reload fails. */
  private async onServiceKeyChanged(id: string): Promise<void> {
    this.serviceKeys.delete(id);
    try {
      await this.reloadServiceKey(id);
    } catch (error) {
      this.logger.warn(
        { err: error, serviceKeyId: id },
        'could not reload a changed service key; it will be read again on next use',
      );
    }
  }

  private async principalFor(key: string, source: string): Promise<Principal | null> {
    const digest = sha256(key);
    const admin = this.adminFor(digest);
    if (admin) return admin;
    const id = serviceKeyIdOf(key);
    if (id === null) return null;
    // A source over its failure limit does not get to make the store look up more ids.
    const known =
      this.serviceKeys.get(id) ??
      (this.failedAuth.retryAfterSeconds(source) > 0 ? undefined : await this.reloadServiceKey(id));
    return known && timingSafeEqual(known.digest, digest) ? known.principal : null;
  }

  /** Compares with every admin key, so the time taken does not depend on which one matched. */
  private adminFor(digest: Buffer): Principal | undefined {
    let admin: Principal | undefined;
    for (const candidate of this.adminKeys) {
      if (timingSafeEqual(candidate.digest, digest)) admin = candidate.principal;
    }
    return admin;
  }

  private async reloadServiceKey(id: string) {
    const record = await this.store.getServiceKey(id);
    if (!record) {
      this.serviceKeys.delete(id);
      this.tokenBudget.forget(id);
      return undefined;
    }
    const entry = cacheEntry(record);
    this.serviceKeys.set(id, entry);
    return entry;
  }

  private async loadServiceKeys(): Promise<void> {
    try {
      const records = await this.store.listServiceKeys();
      this.serviceKeys = new Map(records.map((record) => [record.id, cacheEntry(record)]));
    } catch (error) {
      // Keys are also looked up one by one on a miss, so a store that is down at start only delays this.
      this.logger.warn({ err: error }, 'could not load service keys; will load them on demand');
    }
  }
}

interface KnownServiceKey {
  record: ServiceKeyRecord;
  /** SHA-256 of the key, as stored. */
  digest: Buffer;
  principal: Principal;
  /**
   * The key itself, once a request has presented it and matched the digest.
   * Later requests are compared with it directly, still in constant time: a
   * SHA-256 per request was the largest single cost of serving a held token.
   * It lives in this process only (as admin keys do, from configuration); the
   * store keeps the hash alone, and the entry goes when the key is deleted.
   */
  seen?: Buffer;
}

/** Constant-time equality of a remembered key and a presented one (their lengths are no secret: keys have one format). */
function sameBytes(remembered: Buffer, presented: string): boolean {
  const bytes = Buffer.from(presented);
  return bytes.length === remembered.length && timingSafeEqual(bytes, remembered);
}

function cacheEntry(record: ServiceKeyRecord): KnownServiceKey {
  const principal: Principal = {
    kind: 'service',
    actor: record.id,
    serviceKeyId: record.id,
    workspaces: new Set(record.workspaces),
    allWorkspaces: record.workspaces.includes('*'),
  };
  return { record, digest: Buffer.from(record.keyHash, 'hex'), principal };
}
