import { randomBytes } from 'node:crypto';

/** The URL of the redis-server that test/support/global-setup.ts started for this run. */
export function testRedisUrl(): string {
  const url = process.env.TB_TEST_REDIS_URL;
  if (!url) throw new Error('TB_TEST_REDIS_URL is not set: run the tests with `npm test`, which starts redis-server');
  return url;
}

/** A key prefix no other test uses, so test files share one redis-server without seeing each other. */
export function uniquePrefix(label: string): string {
  return `t_${label}_${randomBytes(4).toString('hex')}:`;
}

/** The store variables of the run: its redis-server, or the topology TB_TEST_TOPOLOGY asked for (global-setup.ts). */
export function testStoreEnv(): Record<string, string> {
  const topology = process.env.TB_TEST_STORE_ENV;
  return topology ? (JSON.parse(topology) as Record<string, string>) : { REDIS_URL: testRedisUrl() };
}
