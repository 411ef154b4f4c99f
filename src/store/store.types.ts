export type ClientType = 'oauth_client_credentials' | 'api_key';
export type TokenRequestFormat = 'json' | 'form';
/** How an OAuth client proves itself at its token URL (RFC 6749 2.3.1, RFC 7523 2.2, RFC 8705 2.1). */
export type TokenEndpointAuthMethod =
  'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | 'tls_client_auth';
/** The JWS algorithms a client assertion is signed with; which one follows from the key's type. */
export type SigningAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
export type ClientState = 'pending' | 'ready' | 'failing' | 'rejected';
export const CLIENT_STATES: readonly ClientState[] = ['pending', 'ready', 'failing', 'rejected'];

/** What every registered credential set has. */
interface ClientRecordBase {
  id: string;
  workspaceId: string;
  name: string;
  tokenRequestFormat: TokenRequestFormat;
  /** The last 4 characters of the secret or API key, or of the key's RFC 7638 thumbprint. */
  secretHint: string;
  /**
   * Bumped whenever what a token is obtained with changes (secret, token URL,
   * scope, format). Token and status writes are fenced on it, so a refresh
   * that started before a rotation can never land its token after it.
   */
  generation: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * An OAuth client: its tokens come from `tokenUrl`, asked for with `clientId`
 * and what its method proves itself with. The provider settings after `scope`
 * came later: a record stored before them lacks them and reads with the
 * defaults of client-auth/provider-settings.ts (the method from the format).
 */
export interface OAuthClientRecord extends ClientRecordBase {
  type: 'oauth_client_credentials';
  clientId: string;
  tokenUrl: string;
  scope: string | null;
  /** The client secret, encrypted; null for the methods that prove themselves with a key. */
  sealedSecret: string | null;
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** private_key_jwt and tls_client_auth: the PKCS#8 PEM private key, encrypted. */
  sealedPrivateKey?: string | null;
  /** tls_client_auth: the PEM certificate (chain), encrypted. */
  sealedCertificate?: string | null;
  /** private_key_jwt: the assertion header's `kid`. */
  keyId?: string | null;
  signingAlg?: SigningAlg | null;
  /** tls_client_auth: when the client's own certificate expires (ISO 8601). */
  certificateExpiresAt?: string | null;
  /** Added to every token request (`audience`, `resource`). */
  extraParams?: Record<string, string>;
  /** The lifetime assumed when a token answer has no `expires_in`. */
  defaultExpiresInSeconds?: number;
}

/**
 * A Pipedream API key, served as it is. The OAuth fields are stored as null
 * (and the format as 'json'), so the stored JSON has one shape for both types.
 */
export interface ApiKeyClientRecord extends ClientRecordBase {
  type: 'api_key';
  /** The API key, encrypted. */
  sealedSecret: string;
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
