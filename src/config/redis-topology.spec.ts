import { ConfigError, parseConfig } from './config';

const encryption = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig({ BROKER_ENCRYPTION_KEYS: encryption, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('parseConfig: Redis topologies', () => {
  it('reads a Sentinel setup with its credentials and TLS', () => {
    const config = parseConfig({
      BROKER_ENCRYPTION_KEYS: encryption,
      REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381',
      REDIS_SENTINEL_MASTER: 'tb-master',
      REDIS_SENTINEL_USERNAME: ' tb-sentinel ',
      REDIS_SENTINEL_PASSWORD: ' sentinel pw',
      REDIS_USERNAME: 'broker',
      REDIS_PASSWORD: 'p w',
      REDIS_TLS: 'true',
    });
    expect(config.redis).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'tb-master',
      sentinelUsername: 'tb-sentinel',
      sentinelPassword: ' sentinel pw',
      username: 'broker',
      password: 'p w',
      tls: true,
    });
  });

  it('reads Cluster seed nodes; REDIS_WAIT_REPLICAS defaults to 0', () => {
    const config = parseConfig({ BROKER_ENCRYPTION_KEYS: encryption, REDIS_CLUSTER_NODES: 'a:7000,b:7001' });
    expect(config.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      username: null,
      password: null,
      tls: false,
    });
    expect(config.redisWaitReplicas).toBe(0);
    expect(parseConfig({ REDIS_WAIT_REPLICAS: '2' }).redisWaitReplicas).toBe(2);
  });

  it('stops on a bad combination, naming the variables', () => {
    expect(problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'a:7000' })).toEqual([
      'set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (got REDIS_URL and REDIS_CLUSTER_NODES)',
    ]);
    expect(problemsOf({ REDIS_SENTINELS: 's:26379' })).toEqual([
      'REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the master group name)',
    ]);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINEL_MASTER: 'm' })).toEqual([
      'REDIS_SENTINEL_MASTER is only meaningful with REDIS_SENTINELS',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_PASSWORD: 'x' })).toEqual([
      'REDIS_SENTINEL_PASSWORD is only meaningful with REDIS_SENTINELS',
    ]);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINEL_USERNAME: 'u' })).toEqual([
      'REDIS_SENTINEL_USERNAME is only meaningful with REDIS_SENTINELS',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'x' })[0]).toContain('REDIS_PASSWORD');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:7000,b', REDIS_TLS: 'yes' })).toEqual([
      'REDIS_TLS must be true or false (got "yes")',
      'REDIS_CLUSTER_NODES: "b" is not host:port',
    ]);
    expect(problemsOf({ REDIS_WAIT_REPLICAS: '-1' })).toEqual([
      'REDIS_WAIT_REPLICAS must be an integer from 0 to 100 (got "-1")',
    ]);
  });

  it('in production takes any of the three as the store variable', () => {
    const production = { NODE_ENV: 'production', BROKER_ADMIN_KEYS: 'a-long-admin-key-0001' };
    expect(problemsOf({ ...production, REDIS_CLUSTER_NODES: 'a:7000' })).toEqual([]);
    expect(problemsOf({ ...production, REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' })).toEqual([]);
  });
});
