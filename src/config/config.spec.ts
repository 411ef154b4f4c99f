import { ConfigError, parseConfig } from './config';

const key = (kid: string, fill = 1) => `${kid}:${Buffer.alloc(32, fill).toString('base64')}`;
const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('parseConfig', () => {
  it('applies the defaults of SPEC.md', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      redis: null,
      redisWaitReplicas: 0,
      redisKeyPrefix: 'tb:',
      defaultTokenUrl: 'https://api.pipedream.com/v1/oauth/token',
      pipedreamApiBase: 'https://api.pipedream.com',
      tokenUrlAllowlist: [{ protocol: 'https:', hostname: 'api.pipedream.com', port: null }],
      refreshBeforeSeconds: 600,
      minTokenTtlSeconds: 60,
      upstreamTimeoutMs: 10_000,
      forceRefreshMinIntervalSeconds: 10,
      apiKeyCheckIntervalSeconds: 900,
      schedulerTickMs: 1_000,
      upstreamConcurrency: 16,
      auditMaxEvents: 100_000,
      logLevel: 'info',
      usageFlushIntervalMs: 30_000,
    });
  });

  it('takes a usage flush interval of at most 30 s, so usage times are at most 60 s stale', () => {
    expect(parseConfig({ USAGE_FLUSH_INTERVAL_MS: '250' }).usageFlushIntervalMs).toBe(250);
    expect(problemsOf({ USAGE_FLUSH_INTERVAL_MS: '60000' })).toEqual([
      'USAGE_FLUSH_INTERVAL_MS must be an integer from 10 to 30000 (got "60000")',
    ]);
    expect(problemsOf({ USAGE_FLUSH_INTERVAL_MS: 'soon' })).toEqual([
      'USAGE_FLUSH_INTERVAL_MS must be an integer from 10 to 30000 (got "soon")',
    ]);
  });

  it('outside production with nothing set, generates an admin key and a throwaway encryption key for the memory store', () => {
    const config = parseConfig({});
    expect(config.adminKeyGenerated).toBe(true);
    expect(config.adminKeys).toHaveLength(1);
    expect(config.adminKeys[0].length).toBeGreaterThanOrEqual(32);
    expect(config.encryptionKeyEphemeral).toBe(true);
    expect(parseConfig({}).adminKeys[0]).not.toBe(config.adminKeys[0]);
  });

  it('allows a throwaway encryption key only with the memory store', () => {
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([
      expect.stringContaining('BROKER_ENCRYPTION_KEYS is required with REDIS_URL'),
    ]);
  });

  it('in production refuses to start without REDIS_URL, BROKER_ADMIN_KEYS and BROKER_ENCRYPTION_KEYS, naming each', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'NODE_ENV=production requires REDIS_URL or REDIS_SENTINELS or REDIS_CLUSTER_NODES, BROKER_ADMIN_KEYS, BROKER_ENCRYPTION_KEYS',
    ]);
    expect(
      problemsOf({ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', BROKER_ADMIN_KEYS: 'a-long-admin-key-0001' }),
    ).toEqual(['NODE_ENV=production requires BROKER_ENCRYPTION_KEYS']);
    const config = parseConfig({
      NODE_ENV: 'production',
      REDIS_URL: 'redis://r:6379',
      BROKER_ADMIN_KEYS: 'a-long-admin-key-0001, a-long-admin-key-0002',
      BROKER_ENCRYPTION_KEYS: `${key('k2', 2)},${key('k1')}`,
    });
    expect(config.adminKeys).toEqual(['a-long-admin-key-0001', 'a-long-admin-key-0002']);
    expect(config.adminKeyGenerated).toBe(false);
    expect(config.encryptionKeys.map((k) => k.kid)).toEqual(['k2', 'k1']);
  });

  it('names every bad variable at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      MIN_TOKEN_TTL_SECONDS: '-1',
      UPSTREAM_CONCURRENCY: '0',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://not-redis',
      BROKER_ENCRYPTION_KEYS: 'k1:c2hvcnQ=',
      BROKER_ADMIN_KEYS: 'short',
      TOKEN_URL_ALLOWLIST: 'ftp://x',
      DEFAULT_TOKEN_URL: 'not a url',
    });
    for (const name of [
      'PORT',
      'MIN_TOKEN_TTL_SECONDS',
      'UPSTREAM_CONCURRENCY',
      'LOG_LEVEL',
      'REDIS_URL',
      'BROKER_ENCRYPTION_KEYS',
      'BROKER_ADMIN_KEYS',
      'TOKEN_URL_ALLOWLIST',
      'DEFAULT_TOKEN_URL',
    ]) {
      expect(problems.some((problem) => problem.includes(name))).toBe(true);
    }
  });

  it('refuses admin keys that could never authenticate: a space, a control or non-ASCII character, over 512 characters', () => {
    const refusal = expect.stringContaining('BROKER_ADMIN_KEYS');
    for (const bad of [
      'an admin key with spaces',
      'an-admin-key-0001\u0000x',
      'an-admin-key-0001-\u00e9',
      'a'.repeat(513),
    ]) {
      expect({ bad, problems: problemsOf({ BROKER_ADMIN_KEYS: `a-good-admin-key-0001,${bad}` }) }).toEqual({
        bad,
        problems: [refusal],
      });
    }
    // A tab between two keys is whitespace around the comma, not part of a key.
    expect(parseConfig({ BROKER_ADMIN_KEYS: `a-good-admin-key-0001,\t${'k'.repeat(512)}` }).adminKeys).toEqual([
      'a-good-admin-key-0001',
      'k'.repeat(512),
    ]);
    expect(parseConfig({ BROKER_ADMIN_KEYS: 'a+good/admin=key~0001' }).adminKeys).toEqual(['a+good/admin=key~0001']);
  });

  it('refuses duplicate key ids and malformed key entries', () => {
    expect(problemsOf({ BROKER_ENCRYPTION_KEYS: `${key('k1')},${key('k1', 2)}` })).toEqual([
      expect.stringContaining('"k1" appears twice'),
    ]);
    expect(problemsOf({ BROKER_ENCRYPTION_KEYS: Buffer.alloc(32).toString('base64') })).toEqual([
      expect.stringContaining('kid:base64-32-bytes'),
    ]);
  });

  it('parses the token URL allowlist: https hosts, and http only where named with http://', () => {
    const config = parseConfig({ TOKEN_URL_ALLOWLIST: 'API.Pipedream.com., http://127.0.0.1, http://localhost:8080' });
    expect(config.tokenUrlAllowlist).toEqual([
      { protocol: 'https:', hostname: 'api.pipedream.com', port: null },
      { protocol: 'http:', hostname: '127.0.0.1', port: null },
      { protocol: 'http:', hostname: 'localhost', port: '8080' },
    ]);
    expect(problemsOf({ TOKEN_URL_ALLOWLIST: 'https://user@host' })).toContainEqual(
      expect.stringContaining('"https://user@host" is not a host name'),
    );
  });

  it('parses the webhook variables: an empty allowlist by default, the retry schedule and the timeout', () => {
    const defaults = parseConfig({});
    expect(defaults.webhookUrlAllowlist).toEqual([]);
    expect(defaults.webhookRetrySeconds).toEqual([5, 300, 1800, 7200, 18000, 36000]);
    expect(defaults.webhookTimeoutMs).toBe(5000);
    const set = parseConfig({
      WEBHOOK_URL_ALLOWLIST: 'Hooks.Example.com, http://127.0.0.1:9000',
      WEBHOOK_RETRY_SECONDS: '1, 2,3',
      WEBHOOK_TIMEOUT_MS: '800',
    });
    expect(set.webhookUrlAllowlist).toEqual([
      { protocol: 'https:', hostname: 'hooks.example.com', port: null },
      { protocol: 'http:', hostname: '127.0.0.1', port: '9000' },
    ]);
    expect(set.webhookRetrySeconds).toEqual([1, 2, 3]);
    expect(set.webhookTimeoutMs).toBe(800);
    for (const retries of ['', '0', '5,-1', '1.5', 'soon', '700000']) {
      expect(problemsOf({ WEBHOOK_RETRY_SECONDS: retries })).toContainEqual(
        expect.stringContaining('WEBHOOK_RETRY_SECONDS'),
      );
    }
    expect(problemsOf({ WEBHOOK_URL_ALLOWLIST: 'ftp://x' })).toContainEqual(
      expect.stringContaining('WEBHOOK_URL_ALLOWLIST'),
    );
    expect(problemsOf({ WEBHOOK_TIMEOUT_MS: '10' })).toContainEqual(expect.stringContaining('WEBHOOK_TIMEOUT_MS'));
  });

  it('takes TEST_FAILPOINT (test only) outside production, refuses it in production and refuses an unknown point', () => {
    expect(parseConfig({}).testFailpoint).toBeNull();
    expect(parseConfig({ NODE_ENV: 'test', TEST_FAILPOINT: 'after-client-write' }).testFailpoint).toBe(
      'after-client-write',
    );
    const production = {
      NODE_ENV: 'production',
      REDIS_URL: 'redis://r:6379',
      BROKER_ADMIN_KEYS: 'a-long-admin-key-0001',
      BROKER_ENCRYPTION_KEYS: key('k1'),
    };
    expect(problemsOf(production)).toEqual([]);
    expect(problemsOf({ ...production, TEST_FAILPOINT: 'after-client-write' })).toEqual([
      expect.stringContaining('TEST_FAILPOINT stops the process on purpose'),
    ]);
    expect(problemsOf({ TEST_FAILPOINT: 'everywhere' })).toEqual([
      expect.stringContaining('TEST_FAILPOINT must be one of after-client-write'),
    ]);
  });
});
