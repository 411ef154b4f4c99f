import { randomBytes } from 'node:crypto';
import { parseRedisTopology, STORE_VARIABLES, type RedisTopology } from './redis-topology';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface EncryptionKey {
  kid: string;
  key: Buffer;
}

/** One entry of TOKEN_URL_ALLOWLIST. `port` null means any port. */
export interface AllowedHost {
  protocol: 'https:' | 'http:';
  hostname: string;
  port: string | null;
}

export interface AppConfig {
  nodeEnv: string;
  production: boolean;
  port: number;
  host: string;
  /** The store of record; null: the memory store. */
  redis: RedisTopology | null;
  redisKeyPrefix: string;
  /** Replicas that must acknowledge an admin write before it is answered (Redis WAIT). */
  redisWaitReplicas: number;
  adminKeys: string[];
  /** True when no admin key was configured and one was generated for this run. */
  adminKeyGenerated: boolean;
  /** The first key seals; every key opens. */
  encryptionKeys: EncryptionKey[];
  /** True when no key was configured and a throwaway one was made (memory store only). */
  encryptionKeyEphemeral: boolean;
  defaultTokenUrl: string;
  pipedreamApiBase: string;
  tokenUrlAllowlist: AllowedHost[];
  refreshBeforeSeconds: number;
  minTokenTtlSeconds: number;
  upstreamTimeoutMs: number;
  forceRefreshMinIntervalSeconds: number;
  apiKeyCheckIntervalSeconds: number;
  schedulerTickMs: number;
  upstreamConcurrency: number;
  auditMaxEvents: number;
  logLevel: LogLevel;
  /** Failed authentications allowed per source address per minute before 429. */
  authFailureLimitPerMinute: number;
  /** Token requests allowed per service key per second (burst of the same size) before 429. */
  tokenRequestsPerSecondPerKey: number;
  /** A connection that has not sent a whole request head within this is answered 408 and closed. */
  httpHeadersTimeoutMs: number;
  /** The same for the whole request, body included (not the answer). */
  httpRequestTimeoutMs: number;
  /** TEST ONLY: where the store stops and waits to be killed (crash tests); refused in production. */
  testFailpoint: TestFailpoint | null;
}

/** The points TEST_FAILPOINT may name: a fault test kills the process there. */
export const TEST_FAILPOINTS = ['after-client-write', 'after-client-insert'] as const;
export type TestFailpoint = (typeof TEST_FAILPOINTS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;
/** What `Authorization: Bearer <key>` can carry, as the auth guard reads it: a key outside this never authenticates. */
const BEARER_CHARACTERS = /^[\x21-\x7e]+$/;
const MAX_BEARER_LENGTH = 512;

/**
 * Parses and validates the whole configuration at once, so that one start
 * reports every bad variable instead of the first.
 */
export function parseConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const text = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? fallback : value.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw.trim());
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };

  const nodeEnv = text('NODE_ENV', 'development');
  const production = nodeEnv === 'production';
  const redis = parseRedisTopology(env, problems);

  const adminKeys = splitList(env.BROKER_ADMIN_KEYS);
  for (const key of adminKeys) {
    if (key.length < 16) problems.push('BROKER_ADMIN_KEYS: every key must be at least 16 characters');
    if (key.length > MAX_BEARER_LENGTH) {
      problems.push(`BROKER_ADMIN_KEYS: every key must be at most ${MAX_BEARER_LENGTH} characters`);
    }
    if (!BEARER_CHARACTERS.test(key)) {
      problems.push('BROKER_ADMIN_KEYS: keys may hold only visible ASCII (no spaces, no accents), like a bearer token');
    }
  }
  const adminKeyGenerated = adminKeys.length === 0 && !production;
  if (adminKeyGenerated) adminKeys.push(`adm_${randomBytes(24).toString('base64url')}`);

  const encryptionKeys: EncryptionKey[] = [];
  for (const entry of splitList(env.BROKER_ENCRYPTION_KEYS)) {
    const separator = entry.indexOf(':');
    const kid = entry.slice(0, separator);
    const key = Buffer.from(entry.slice(separator + 1), 'base64');
    if (separator < 1 || !KEY_ID.test(kid)) {
      problems.push('BROKER_ENCRYPTION_KEYS: each entry is kid:base64-32-bytes, kid of [A-Za-z0-9_.-]');
    } else if (key.length !== 32) {
      problems.push(`BROKER_ENCRYPTION_KEYS: key "${kid}" must decode from base64 to exactly 32 bytes`);
    } else if (encryptionKeys.some((known) => known.kid === kid)) {
      problems.push(`BROKER_ENCRYPTION_KEYS: key id "${kid}" appears twice`);
    } else {
      encryptionKeys.push({ kid, key });
    }
  }
  const storeVariable = STORE_VARIABLES.find((name) => (env[name] ?? '').trim() !== '');
  const encryptionKeyEphemeral = encryptionKeys.length === 0 && storeVariable === undefined && !production;
  if (encryptionKeyEphemeral) encryptionKeys.push({ kid: 'ephemeral', key: randomBytes(32) });
  requireStoreCompanions(env, { production, storeVariable, encryptionKeys }, problems);

  const defaultTokenUrl = text('DEFAULT_TOKEN_URL', 'https://api.pipedream.com/v1/oauth/token');
  const pipedreamApiBase = text('PIPEDREAM_API_BASE', 'https://api.pipedream.com').replace(/\/+$/, '');
  for (const [name, value] of [['DEFAULT_TOKEN_URL', defaultTokenUrl], ['PIPEDREAM_API_BASE', pipedreamApiBase]]) {
    if (!isHttpUrl(value)) problems.push(`${name} must be an http(s) URL (got "${value}")`);
  }

  const tokenUrlAllowlist: AllowedHost[] = [];
  for (const entry of splitList(env.TOKEN_URL_ALLOWLIST ?? 'api.pipedream.com')) {
    const parsed = parseAllowedHost(entry);
    if (parsed) tokenUrlAllowlist.push(parsed);
    else problems.push(`TOKEN_URL_ALLOWLIST: "${entry}" is not a host name, or http://host[:port]`);
  }
  if (tokenUrlAllowlist.length === 0) problems.push('TOKEN_URL_ALLOWLIST must name at least one host');

  const logLevel = text('LOG_LEVEL', 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: AppConfig = {
    nodeEnv,
    production,
    port: integer('PORT', 3000, 0, 65535),
    host: text('HOST', '0.0.0.0'),
    redis,
    redisKeyPrefix: text('REDIS_KEY_PREFIX', 'tb:'),
    redisWaitReplicas: integer('REDIS_WAIT_REPLICAS', 0, 0, 100),
    adminKeys,
    adminKeyGenerated,
    encryptionKeys,
    encryptionKeyEphemeral,
    defaultTokenUrl,
    pipedreamApiBase,
    tokenUrlAllowlist,
    refreshBeforeSeconds: integer('REFRESH_BEFORE_SECONDS', 600, 1, 86_400),
    minTokenTtlSeconds: integer('MIN_TOKEN_TTL_SECONDS', 60, 0, 3_600),
    upstreamTimeoutMs: integer('UPSTREAM_TIMEOUT_MS', 10_000, 100, 120_000),
    forceRefreshMinIntervalSeconds: integer('FORCE_REFRESH_MIN_INTERVAL_SECONDS', 10, 0, 3_600),
    apiKeyCheckIntervalSeconds: integer('API_KEY_CHECK_INTERVAL_SECONDS', 900, 1, 86_400),
    schedulerTickMs: integer('SCHEDULER_TICK_MS', 1_000, 10, 60_000),
    upstreamConcurrency: integer('UPSTREAM_CONCURRENCY', 16, 1, 1_000),
    auditMaxEvents: integer('AUDIT_MAX_EVENTS', 100_000, 1, 10_000_000),
    logLevel,
    authFailureLimitPerMinute: integer('AUTH_FAILURE_LIMIT_PER_MINUTE', 30, 1, 1_000_000),
    tokenRequestsPerSecondPerKey: integer('TOKEN_REQUESTS_PER_SECOND_PER_KEY', 10_000, 1, 10_000_000),
    httpHeadersTimeoutMs: integer('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    httpRequestTimeoutMs: integer('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    testFailpoint: failpoint(env.TEST_FAILPOINT, problems),
  };
  if (config.testFailpoint !== null && production) {
    problems.push('TEST_FAILPOINT stops the process on purpose: it is for tests and refused when NODE_ENV=production');
  }
  if (config.httpRequestTimeoutMs < config.httpHeadersTimeoutMs) {
    problems.push('HTTP_REQUEST_TIMEOUT_MS must be at least HTTP_HEADERS_TIMEOUT_MS (a request includes its headers)');
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return config;
}

/** What a store variable, or production, requires beside it; each problem names the variables. */
function requireStoreCompanions(
  env: Env,
  chosen: { production: boolean; storeVariable?: string; encryptionKeys: EncryptionKey[] },
  problems: string[],
): void {
  const { production, storeVariable, encryptionKeys } = chosen;
  const missingKeys = encryptionKeys.length === 0 && env.BROKER_ENCRYPTION_KEYS === undefined;
  if (missingKeys && storeVariable !== undefined && !production) {
    problems.push(
      `BROKER_ENCRYPTION_KEYS is required with ${storeVariable}: ` +
        'a throwaway key would make stored secrets unreadable after a restart',
    );
  }
  if (!production) return;
  const missing = ['BROKER_ADMIN_KEYS', 'BROKER_ENCRYPTION_KEYS'].filter((name) => (env[name] ?? '').trim() === '');
  if (storeVariable === undefined) missing.unshift(STORE_VARIABLES.join(' or '));
  if (missing.length > 0) problems.push(`NODE_ENV=production requires ${missing.join(', ')}`);
}

function failpoint(raw: string | undefined, problems: string[]): TestFailpoint | null {
  const name = raw?.trim() ?? '';
  if (name === '') return null;
  const known = TEST_FAILPOINTS.find((point) => point === name);
  if (!known) problems.push(`TEST_FAILPOINT must be one of ${TEST_FAILPOINTS.join(', ')} (got "${name}")`);
  return known ?? null;
}

function splitList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function parseAllowedHost(entry: string): AllowedHost | null {
  const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `https://${entry}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return null;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return null;
  if (url.pathname !== '/' || url.search || url.hash) return null;
  return {
    protocol: url.protocol,
    hostname: url.hostname.toLowerCase().replace(/\.$/, ''),
    port: url.port === '' ? null : url.port,
  };
}
