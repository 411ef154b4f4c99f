import {
  EnvReader,
  readAdminKeys,
  readEncryptionKeys,
  readFailpoint,
  readUpstreams,
  readWebhooks,
  type Env,
  type TestFailpoint,
} from './config-readers';

export { TEST_FAILPOINTS, type TestFailpoint } from './config-readers';
import { parseRedisTopology, STORE_VARIABLES, type RedisTopology } from './redis-topology';
import { parseTracingConfig, type TracingConfig } from './tracing-config';

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
  /** Hosts a webhook URL may name (same syntax as TOKEN_URL_ALLOWLIST); empty: webhooks are off. */
  webhookUrlAllowlist: AllowedHost[];
  /** The delay before each retry of a webhook delivery, seconds; after the last, the delivery is failed. */
  webhookRetrySeconds: number[];
  webhookTimeoutMs: number;
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
  /** OpenTelemetry trace export; null (no OTEL_EXPORTER_OTLP_ENDPOINT) is off. */
  tracing: TracingConfig | null;
  /**
   * How often a replica writes the usage times it gathered (one store write
   * each time). At most 30 s, so a time shown is at most 60 s stale.
   */
  usageFlushIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the whole configuration at once, so that one start
 * reports every bad variable instead of the first.
 */
export function parseConfig(env: Env): AppConfig {
  const read = new EnvReader(env);
  const nodeEnv = read.text('NODE_ENV', 'development');
  const production = nodeEnv === 'production';
  const redis = parseRedisTopology(env, read.problems);
  const storeVariable = STORE_VARIABLES.find((name) => (env[name] ?? '').trim() !== '');
  if (production) {
    const missing = ['BROKER_ADMIN_KEYS', 'BROKER_ENCRYPTION_KEYS'].filter((name) => (env[name] ?? '').trim() === '');
    if (storeVariable === undefined) missing.unshift(STORE_VARIABLES.join(' or '));
    if (missing.length > 0) read.problem(`NODE_ENV=production requires ${missing.join(', ')}`);
  }
  const logLevel = read.text('LOG_LEVEL', 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) read.problem(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: AppConfig = {
    nodeEnv,
    production,
    port: read.integer('PORT', 3000, 0, 65535),
    host: read.text('HOST', '0.0.0.0'),
    redis,
    redisKeyPrefix: read.text('REDIS_KEY_PREFIX', 'tb:'),
    redisWaitReplicas: read.integer('REDIS_WAIT_REPLICAS', 0, 0, 100),
    ...readAdminKeys(read, production),
    ...readEncryptionKeys(read, { production, storeVariable }),
    ...readUpstreams(read),
    ...readWebhooks(read),
    ...readTimings(read),
    logLevel,
    testFailpoint: readFailpoint(read, production),
    tracing: parseTracingConfig(env, read.problems),
  };
  if (config.httpRequestTimeoutMs < config.httpHeadersTimeoutMs) {
    read.problem('HTTP_REQUEST_TIMEOUT_MS must be at least HTTP_HEADERS_TIMEOUT_MS (a request includes its headers)');
  }
  if (read.problems.length > 0) throw new ConfigError([...new Set(read.problems)]);
  return config;
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The numbers: timings, limits and sizes, each with its default and bounds. */
function readTimings(read: EnvReader) {
  return {
    refreshBeforeSeconds: read.integer('REFRESH_BEFORE_SECONDS', 600, 1, 86_400),
    minTokenTtlSeconds: read.integer('MIN_TOKEN_TTL_SECONDS', 60, 0, 3_600),
    upstreamTimeoutMs: read.integer('UPSTREAM_TIMEOUT_MS', 10_000, 100, 120_000),
    forceRefreshMinIntervalSeconds: read.integer('FORCE_REFRESH_MIN_INTERVAL_SECONDS', 10, 0, 3_600),
    apiKeyCheckIntervalSeconds: read.integer('API_KEY_CHECK_INTERVAL_SECONDS', 900, 1, 86_400),
    schedulerTickMs: read.integer('SCHEDULER_TICK_MS', 1_000, 10, 60_000),
    upstreamConcurrency: read.integer('UPSTREAM_CONCURRENCY', 16, 1, 1_000),
    auditMaxEvents: read.integer('AUDIT_MAX_EVENTS', 100_000, 1, 10_000_000),
    authFailureLimitPerMinute: read.integer('AUTH_FAILURE_LIMIT_PER_MINUTE', 30, 1, 1_000_000),
    tokenRequestsPerSecondPerKey: read.integer('TOKEN_REQUESTS_PER_SECOND_PER_KEY', 10_000, 1, 10_000_000),
    httpHeadersTimeoutMs: read.integer('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    httpRequestTimeoutMs: read.integer('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    usageFlushIntervalMs: read.integer('USAGE_FLUSH_INTERVAL_MS', 30_000, 10, 30_000),
  };
}
