import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { createApp } from '../../src/app.factory';
import { createLogger } from '../../src/common/logger';
import { parseConfig, type AppConfig } from '../../src/config/config';
import type { FakePipedream } from './fake-pipedream';
import { testStoreEnv, uniquePrefix } from './test-redis';

export const ADMIN_KEY = 'adm_test_admin_key_0123456789abcdef';
export const ENCRYPTION_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

export interface TestBroker {
  app: NestFastifyApplication;
  config: AppConfig;
  url: string;
  /** supertest bound to the broker's real HTTP address. */
  http: () => ReturnType<typeof request>;
  /** Every JSON log line the broker wrote. */
  logs: string[];
  close(): Promise<void>;
}

export interface BrokerOptions {
  upstream?: FakePipedream;
  /** Share a key prefix to make several brokers replicas of one deployment. */
  prefix?: string;
  /** 'memory' runs on the in-process store; 'topology' on the store variables given in `env`. */
  store?: 'redis' | 'memory' | 'topology';
  env?: Record<string, string>;
}

/**
 * A real broker on 127.0.0.1 and an ephemeral port, on the run's redis-server
 * (its own key prefix unless told otherwise), with short timings for tests.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const upstream = options.upstream;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    BROKER_ADMIN_KEYS: ADMIN_KEY,
    BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
    REDIS_KEY_PREFIX: options.prefix ?? uniquePrefix('e2e'),
    TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
    MIN_TOKEN_TTL_SECONDS: '2',
    SCHEDULER_TICK_MS: '100',
    UPSTREAM_TIMEOUT_MS: '2000',
    FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
    LOG_LEVEL: 'info',
    ...(upstream ? { DEFAULT_TOKEN_URL: upstream.tokenUrl, PIPEDREAM_API_BASE: upstream.baseUrl } : {}),
    // A topology of its own (REDIS_SENTINELS, REDIS_CLUSTER_NODES in options.env) replaces the run's redis-server.
    ...(options.store === 'memory' || options.store === 'topology' ? {} : testStoreEnv()),
    ...options.env,
  };
  const config = parseConfig(env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const app = await createApp(config, createLogger(config.logLevel, sink));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    config,
    url,
    http: () => request(url),
    logs,
    close: () => app.close(),
  };
}

export const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

export function randomSecret(label = 'secret'): string {
  return `${label}_${randomBytes(12).toString('hex')}`;
}

/**
 * A client view, a list of them or of service keys, without its usage times
 * (`status.lastServedAt`, `lastUsedAt`): they move in the background, when a
 * replica writes the times of tokens served earlier, so a "nothing changed"
 * comparison leaves them out.
 */
export function withoutUsageTimes<T>(body: T): T {
  return JSON.parse(JSON.stringify(body), (key, value) =>
    key === 'lastServedAt' || key === 'lastUsedAt' ? undefined : value,
  );
}

/** Polls `check` until it returns a truthy value; for outcomes that happen in the background. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
