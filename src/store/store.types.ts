export type ClientType = 'oauth_client_credentials' | 'api_key';
export type TokenRequestFormat = 'json' | 'form';
export type ClientState = 'pending' | 'ready' | 'failing' | 'rejected';
export const CLIENT_STATES: readonly ClientState[] = ['pending', 'ready', 'failing', 'rejected'];

/** What every registered credential set has. `sealedSecret` is the client secret or API key, encrypted. */
interface ClientRecordBase {
  id: string;
  workspaceId: string;
  name: string;
  tokenRequestFormat: TokenRequestFormat;
  secretHint: string;
  sealedSecret: string;
  /**
   * Bumped whenever what a token is obtained with changes (secret, token URL,
   * scope, format). Token and status writes are fenced on it, so a refresh
   * that started before a rotation can never land its token after it.
   */
  generation: number;
  createdAt: string;
  updatedAt: string;
}

/** An OAuth client: its tokens come from `tokenUrl`, asked for with `clientId` and the secret. */
export interface OAuthClientRecord extends ClientRecordBase {
  type: 'oauth_client_credentials';
  clientId: string;
  tokenUrl: string;
  scope: string | null;
}

/**
 * A Pipedream API key, served as it is. The OAuth fields are stored as null
 * (and the format as 'json'), so the stored JSON has one shape for both types.
 */
export interface ApiKeyClientRecord extends ClientRecordBase {
  type: 'api_key';
  clientId: null;
  tokenUrl: null;
  scope: null;
}

/** A registered credential set, told apart by `type`. */
export type ClientRecord = OAuthClientRecord | ApiKeyClientRecord;

export interface ClientStatus {
  state: ClientState;
  tokenExpiresAt: string | null;
  lastRefreshAt: string | null;
  lastError: string | null;
  /** While `rejected`: the kind of refusal (`invalid_client`, `HTTP 401`), never the upstream's text; absent in older records. */
  refusal?: string;
  failingSince: string | null;
  /** Transient failures in a row; the exponent of the backoff. */
  consecutiveFailures: number;
  /** Epoch ms before which no upstream request is made for this client (backoff, Retry-After, rejected). */
  nextAttemptAt: number | null;
  /** Epoch ms of the last forced refresh that reached the upstream. */
  lastForcedRefreshAt: number | null;
}

export interface StoredToken {
  sealedAccessToken: string;
  /** Epoch ms. */
  expiresAt: number;
  obtainedAt: number;
  /** The client generation the token was obtained with. */
  generation: number;
}

export interface ClientEntry {
  client: ClientRecord;
  status: ClientStatus;
  token: StoredToken | null;
}

export interface ServiceKeyRecord {
  id: string;
  name: string;
  workspaces: string[];
  /** Hex SHA-256 of the whole key. Keys are 256-bit random, so a fast hash is enough. */
  keyHash: string;
  createdAt: string;
}

export type AuditAction =
  | 'client.create'
  | 'client.update'
  | 'client.rotate_secret'
  | 'client.delete'
  | 'service_key.create'
  | 'service_key.delete'
  | 'token.refresh_forced'
  | 'webhook.create'
  | 'webhook.delete';

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: AuditAction;
  clientId: string | null;
  workspaceId: string | null;
}

export interface TokenStats {
  total: number;
  byState: Record<ClientState, number>;
  /** Ids of failing or rejected clients, newest failure first, at most `limit`. */
  failingIds: string[];
  /** Epoch ms of the earliest scheduled refresh, or null. */
  nextDueAt: number | null;
}

/** Broadcast to every replica. */
export type StoreEvent =
  /** Anything about the client changed: record, secret, token, status, or it was deleted. */
  | { kind: 'client'; id: string }
  | { kind: 'service_key'; id: string }
  /** A webhook was created or deleted. */
  | { kind: 'webhook'; id: string };

export function initialStatus(): ClientStatus {
  return {
    state: 'pending',
    tokenExpiresAt: null,
    lastRefreshAt: null,
    lastError: null,
    failingSince: null,
    consecutiveFailures: 0,
    nextAttemptAt: null,
    lastForcedRefreshAt: null,
  };
}
