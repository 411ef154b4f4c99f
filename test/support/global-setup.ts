import { startRedisServer } from './redis-server';
import { startRedisCluster, startRedisSentinel, topologyEnv } from './redis-topologies';

/**
 * One private redis-server for the whole run, on a free port. Each test file
 * isolates itself with its own key prefix (see testRedisUrl / uniquePrefix).
 * With TB_TEST_TOPOLOGY=cluster (3 masters, 3 replicas) or sentinel (a master,
 * 2 replicas, 3 Sentinels), the brokers of the e2e suites (startBroker) run on
 * that topology instead: `TB_TEST_TOPOLOGY=cluster npx jest test/tokens.e2e-spec.ts`.
 */
export default async function globalSetup(): Promise<void> {
  const redis = await startRedisServer();
  process.env.TB_TEST_REDIS_URL = redis.url;
  const handles: { stop(): Promise<void> }[] = [redis];
  const topology = process.env.TB_TEST_TOPOLOGY;
  if (topology === 'cluster' || topology === 'sentinel') {
    const started = topology === 'cluster' ? await startRedisCluster() : await startRedisSentinel();
    process.env.TB_TEST_STORE_ENV = JSON.stringify(topologyEnv(started));
    handles.push(started);
  } else if (topology !== undefined && topology !== '') {
    throw new Error(`TB_TEST_TOPOLOGY must be cluster or sentinel (got "${topology}")`);
  }
  (globalThis as { __tbRedis?: unknown }).__tbRedis = handles;
}
