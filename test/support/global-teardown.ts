import type { RedisServerHandle } from './redis-server';

export default async function globalTeardown(): Promise<void> {
  const redis = (globalThis as { __tbRedis?: RedisServerHandle }).__tbRedis;
  await redis?.stop();
}
