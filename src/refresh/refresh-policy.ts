/**
 * The refresh policy of SPEC.md "Refreshing", as plain functions over plain
 * values: whether a refresh should reach the upstream (`decide`), and the
 * state a client moves to after the upstream answered (`nextState`, one
 * function per kind of answer). No I/O, no Nest, no clock: `now` is given.
 */
import type { ClientEntry, ClientStatus, StoredToken } from '../store/store.types';
import {
  REJECTED_RETRY_MS,
  SERVE_MARGIN_MS,
  backoffDelayMs,
  refreshWindowStart,
  scheduledRefreshAt,
  type RefreshWindowSettings,
} from './refresh-timing';
import { refusalKindOf } from './upstream/refusal';
import type { RejectedOutcome, TransientOutcome, UpstreamOutcome } from './upstream/upstream.types';

export type RefreshReason = 'scheduled' | 'demand' | 'forced';

/** The configuration the policy reads (AppConfig has all of it). */
export interface RefreshPolicySettings extends RefreshWindowSettings {
  forceRefreshMinIntervalSeconds: number;
  apiKeyCheckIntervalSeconds: number;
}

/** Refresh now, or leave the client alone until `dueAt`. */
export type Decision = 'refresh' | { dueAt: number };

/** A token the upstream issued, not yet sealed: the caller seals it before it is stored. */
export interface IssuedToken {
  accessToken: string;
  /** Epoch ms. */
  expiresAt: number;
  obtainedAt: number;
  generation: number;
}

/**
 * What to write after an answer: the status, the token (undefined: keep the
 * one held), and when the client is next due.
 */
export interface NextState {
  status: ClientStatus;
  token: IssuedToken | undefined;
  dueAt: number;
}

/**
 * Whether this refresh should reach the upstream, or when the client is next
 * due instead. `tokenOpens` says whether the held token can be decrypted; it
 * is asked only when the answer depends on it.
 */
export function decide(
  entry: ClientEntry,
  reason: RefreshReason,
  now: number,
  settings: RefreshPolicySettings,
  tokenOpens: (token: StoredToken) => boolean,
): Decision {
  const { client, status } = entry;
  const nextAttemptAt = status.nextAttemptAt;
  const backingOff = nextAttemptAt !== null && nextAttemptAt > now;
  if (reason === 'forced') {
    const last = status.lastForcedRefreshAt;
    const coalesced = last !== null && now - last < settings.forceRefreshMinIntervalSeconds * 1000;
    const waitOut = coalesced || status.state === 'rejected' || (status.state === 'failing' && backingOff);
    return waitOut ? { dueAt: now } : 'refresh';
  }
  if (status.state === 'rejected' || status.state === 'failing') {
    if (backingOff) return { dueAt: nextAttemptAt };
    // Refused credentials are retried on the slow schedule only, never because a caller asked.
    return status.state === 'rejected' && reason === 'demand' ? { dueAt: now } : 'refresh';
  }
  if (client.type === 'api_key') {
    const nextCheck = Date.parse(status.lastRefreshAt ?? '') + settings.apiKeyCheckIntervalSeconds * 1000;
    return Number.isNaN(nextCheck) || now >= nextCheck ? 'refresh' : { dueAt: nextCheck };
  }
  const token = entry.token;
  if (!token) return 'refresh';
  // In its window, a token is refreshed whatever it holds: no need to open it first.
  const inWindow = now >= refreshWindowStart(token.obtainedAt, token.expiresAt, settings);
  if (reason === 'scheduled' && inWindow) return 'refresh';
  if (!servable(entry, token, now, settings, tokenOpens)) return 'refresh';
  // A caller found no servable token, but one is there now: another replica has just fetched it.
  if (reason === 'demand') return { dueAt: now };
  return { dueAt: scheduledRefreshAt(token.obtainedAt, token.expiresAt, settings) };
}

/** A token of the current generation, with at least MIN_TOKEN_TTL_SECONDS left, that opens. */
function servable(
  { client }: ClientEntry,
  token: StoredToken,
  now: number,
  settings: RefreshPolicySettings,
  tokenOpens: (token: StoredToken) => boolean,
): boolean {
  if (token.generation !== client.generation) return false;
  if (token.expiresAt - now < settings.minTokenTtlSeconds * 1000 + SERVE_MARGIN_MS) return false;
  return tokenOpens(token);
}

/**
 * The status, token and next due time that follow from an upstream answer
 * that arrived at `now` to a request sent at `askedAt`.
 */
export function nextState(
  entry: ClientEntry,
  answer: UpstreamOutcome,
  reason: RefreshReason,
  now: number,
  askedAt: number,
  settings: RefreshPolicySettings,
): NextState {
  const outcome = usableOrTransient(answer, settings);
  switch (outcome.kind) {
    case 'token':
      return afterToken(entry, outcome, reason, now, askedAt, settings);
    case 'valid':
      return afterValid(entry, reason, now, settings);
    case 'rejected':
      return afterRejected(entry, outcome, reason, now);
    case 'transient':
      return afterTransient(entry, outcome, reason, now);
  }
}

/** A token: the client is ready; the token's life is counted from when it was asked for. */
function afterToken(
  { client, status }: ClientEntry,
  outcome: Extract<UpstreamOutcome, { kind: 'token' }>,
  reason: RefreshReason,
  now: number,
  askedAt: number,
  settings: RefreshPolicySettings,
): NextState {
  const expiresAt = askedAt + outcome.expiresInSeconds * 1000;
  return {
    status: {
      ...healthy(new Date(now).toISOString(), lastForcedAt(status, reason, now)),
      tokenExpiresAt: new Date(expiresAt).toISOString(),
    },
    token: { accessToken: outcome.accessToken, expiresAt, obtainedAt: askedAt, generation: client.generation },
    dueAt: scheduledRefreshAt(askedAt, expiresAt, settings),
  };
}

/** An API key the upstream accepted: ready, and checked again after API_KEY_CHECK_INTERVAL_SECONDS. */
function afterValid(
  { status }: ClientEntry,
  reason: RefreshReason,
  now: number,
  settings: RefreshPolicySettings,
): NextState {
  return {
    status: healthy(new Date(now).toISOString(), lastForcedAt(status, reason, now)),
    token: undefined,
    dueAt: now + settings.apiKeyCheckIntervalSeconds * 1000,
  };
}

/** Refused credentials: rejected, the held token kept, retried on the slow schedule. */
function afterRejected(
  { status }: ClientEntry,
  outcome: RejectedOutcome,
  reason: RefreshReason,
  now: number,
): NextState {
  return {
    status: {
      ...status,
      state: 'rejected',
      lastError: refusalMessage(outcome),
      refusal: refusalKindOf(outcome),
      failingSince: status.failingSince ?? new Date(now).toISOString(),
      consecutiveFailures: 0,
      nextAttemptAt: now + REJECTED_RETRY_MS,
      lastForcedRefreshAt: lastForcedAt(status, reason, now),
    },
    token: undefined,
    dueAt: now + REJECTED_RETRY_MS,
  };
}

/** A failure that may pass: failing, with exponential backoff (a rejected client stays rejected). */
function afterTransient(
  { status }: ClientEntry,
  outcome: TransientOutcome,
  reason: RefreshReason,
  now: number,
): NextState {
  const lastForcedRefreshAt = lastForcedAt(status, reason, now);
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
      failingSince: status.failingSince ?? new Date(now).toISOString(),
      consecutiveFailures,
      nextAttemptAt,
      lastForcedRefreshAt,
    },
    token: undefined,
    dueAt: nextAttemptAt,
  };
}

/**
 * How a refusal is worded, the one place it is: `upstream refused the
 * credentials 401 (invalid_client: revoked)`. `subject` names what was
 * refused; the HTTP status is left out when `withStatus` is false.
 */
export function refusalMessage(outcome: RejectedOutcome, subject = 'the credentials', withStatus = true): string {
  const said = [outcome.error, outcome.description].filter(Boolean).join(': ');
  const httpStatus = withStatus && outcome.httpStatus !== null ? ` ${outcome.httpStatus}` : '';
  return `upstream refused ${subject}${httpStatus}${said ? ` (${said})` : ''}`;
}

/**
 * A token that would leave less than MIN_TOKEN_TTL_SECONDS at once can never
 * be served: it counts as a failed attempt (with backoff), not as a token to
 * refresh again immediately, which would ask the upstream in a loop.
 */
function usableOrTransient(outcome: UpstreamOutcome, settings: RefreshPolicySettings): UpstreamOutcome {
  if (outcome.kind !== 'token' || outcome.expiresInSeconds > settings.minTokenTtlSeconds) return outcome;
  return {
    kind: 'transient',
    reason: `the upstream issued a token that lives ${outcome.expiresInSeconds} s, no more than MIN_TOKEN_TTL_SECONDS`,
    httpStatus: null,
    retryAfterSeconds: null,
  };
}

function lastForcedAt(status: ClientStatus, reason: RefreshReason, now: number): number | null {
  return reason === 'forced' ? now : status.lastForcedRefreshAt;
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
