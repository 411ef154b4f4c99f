/** Any of console, a pino adapter or Nest's Logger (see the README); each method is optional. */
export interface TokenBrokerLogger {
  debug?(message: string, context?: Record<string, unknown>): void;
  info?(message: string, context?: Record<string, unknown>): void;
  warn?(message: string, context?: Record<string, unknown>): void;
  error?(message: string, context?: Record<string, unknown>): void;
}

/** The subset of WHATWG fetch this library calls (Node's global fetch, undici, node-fetch 3). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface TokenBrokerClientOptions {
  /** The broker's base URL, e.g. `http://token-broker:3000`. */
  baseUrl: string;
  /** This service's key (`POST /v1/service-keys`). Never logged, never in an error. */
  serviceKey: string;
  /** A token with less than this left is never returned. Default 60. */
  minTtlSeconds?: number;
  /** One HTTP request to the broker. Default 5,000. */
  timeoutMs?: number;
  /** All attempts of one broker call together, retries and their waits included. Default 30,000. */
  retryDeadlineMs?: number;
  /** The longest wait between two attempts when the broker sent no `Retry-After`. Default 5,000. */
  maxBackoffMs?: number;
  /** Clients whose tokens are kept; the least recently used is dropped beyond. Default 1,000. */
  maxCacheEntries?: number;
  /** How often an `api_key` client's key (which never expires) is read again in the background. Default 300. */
  apiKeyRefreshSeconds?: number;
  /** A client nobody asked for in this long is no longer renewed in the background. Default 3,600. */
  idleSeconds?: number;
  /** Default: the global fetch of Node 20. */
  fetch?: FetchLike;
  logger?: TokenBrokerLogger;
}

export interface ResolvedOptions {
  baseUrl: string;
  serviceKey: string;
  minTtlMs: number;
  timeoutMs: number;
  retryDeadlineMs: number;
  maxBackoffMs: number;
  maxCacheEntries: number;
  apiKeyRefreshMs: number;
  idleMs: number;
  fetch: FetchLike;
  logger: TokenBrokerLogger;
}

const SILENT: TokenBrokerLogger = {};

export function resolveOptions(options: TokenBrokerClientOptions): ResolvedOptions {
  const baseUrl = requireUrl(options.baseUrl);
  if (typeof options.serviceKey !== 'string' || options.serviceKey === '') {
    throw new TypeError('TokenBrokerClient: serviceKey is required');
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') {
    throw new TypeError('TokenBrokerClient: no global fetch in this runtime; pass the fetch option');
  }
  return {
    baseUrl,
    serviceKey: options.serviceKey,
    minTtlMs: seconds('minTtlSeconds', options.minTtlSeconds, 60, 0),
    timeoutMs: positive('timeoutMs', options.timeoutMs, 5_000),
    retryDeadlineMs: positive('retryDeadlineMs', options.retryDeadlineMs, 30_000),
    maxBackoffMs: positive('maxBackoffMs', options.maxBackoffMs, 5_000),
    maxCacheEntries: positive('maxCacheEntries', options.maxCacheEntries, 1_000),
    apiKeyRefreshMs: seconds('apiKeyRefreshSeconds', options.apiKeyRefreshSeconds, 300, 1),
    idleMs: seconds('idleSeconds', options.idleSeconds, 3_600, 1),
    fetch: fetchImpl,
    logger: options.logger ?? SILENT,
  };
}

function requireUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('TokenBrokerClient: baseUrl must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('TokenBrokerClient: baseUrl must be an absolute http(s) URL');
  }
  return url.href.replace(/\/+$/, '');
}

function seconds(name: string, value: number | undefined, fallback: number, min: number): number {
  const chosen = value ?? fallback;
  if (!Number.isFinite(chosen) || chosen < min)
    throw new TypeError(`TokenBrokerClient: ${name} must be a number >= ${min}`);
  return chosen * 1_000;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isFinite(chosen) || chosen <= 0)
    throw new TypeError(`TokenBrokerClient: ${name} must be a positive number`);
  return chosen;
}
