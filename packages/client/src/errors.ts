/**
 * What went wrong, as the broker named it (`bad_request`, `unauthorized`, `forbidden`,
 * `not_found`, `rate_limited`, `credentials_rejected`, `upstream_unavailable`,
 * `store_unavailable`, `internal`, ...) or as this library saw it on the way there.
 */
export type TokenBrokerErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'credentials_rejected'
  | 'upstream_unavailable'
  | 'store_unavailable'
  | 'internal'
  /** The broker could not be reached (connection refused, reset, DNS). */
  | 'network_error'
  /** The broker did not answer within `timeoutMs`. */
  | 'timeout'
  /** The broker answered something that is not the contract's shape. */
  | 'invalid_response'
  /** The broker's token had less than `minTtlSeconds` left, and still had when the deadline came. */
  | 'token_expiring'
  /** `close()` was called. */
  | 'client_closed';

export interface TokenBrokerErrorOptions {
  /** HTTP status of the broker's answer; null when there was none. */
  status: number | null;
  code: TokenBrokerErrorCode;
  /** From the broker's `Retry-After`, when it sent one. */
  retryAfterSeconds?: number | null;
  cause?: unknown;
}

/** Codes worth another attempt after a wait: the broker or the path to it is in trouble, not the request. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'rate_limited',
  'upstream_unavailable',
  'store_unavailable',
  'internal',
  'network_error',
  'timeout',
  'token_expiring',
]);

/**
 * Every failure of this library. The message names the client id and what the
 * broker said; never the service key or a token.
 */
export class TokenBrokerError extends Error {
  override readonly name = 'TokenBrokerError';
  readonly status: number | null;
  readonly code: TokenBrokerErrorCode;
  readonly retryAfterSeconds: number | null;

  constructor(message: string, options: TokenBrokerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }

  /** True when the same request may succeed later without anything being changed. */
  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code) || (this.status !== null && this.status >= 500 && this.status !== 502);
  }

  /**
   * True when the broker said this client's tokens are not to be had with this key
   * (deleted client, revoked key, another workspace, refused credentials): a held token is dropped.
   */
  get revokesHeldToken(): boolean {
    return this.status === 401 || this.status === 403 || this.status === 404 || this.code === 'credentials_rejected';
  }
}
