import { startRedisServer } from './redis-server';

/**
 * One private redis-server for the whole run, on a free port. Each test file
 * isolates itself with its own key prefix (see testRedisUrl / uniquePrefix).
 */
export default async function globalSetup(): Promise<void> {
  const redis = await startRedisServer();
  process.env.TB_TEST_REDIS_URL = redis.url;
  (globalThis as { __tbRedis?: unknown }).__tbRedis = redis;
}
