type Env = Record<string, string | undefined>;

export interface HostPort {
  host: string;
  port: number;
}

/** Credentials and TLS for Sentinel and Cluster (a REDIS_URL carries its own). */
export interface RedisAuth {
  username: string | null;
  password: string | null;
  tls: boolean;
}

/** The Sentinels' own credentials (an ACL user of theirs, or their requirepass), apart from the data nodes'. */
export interface SentinelAuth {
  sentinelUsername: string | null;
  sentinelPassword: string | null;
}

/** Which Redis is the store of record: SPEC.md, "Redis topologies". */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | ({ kind: 'sentinel'; sentinels: HostPort[]; masterName: string } & SentinelAuth & RedisAuth)
  | ({ kind: 'cluster'; nodes: HostPort[] } & RedisAuth);

/** The variables that choose a store; at most one of the three choices may be set. */
export const STORE_VARIABLES = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const;

/** Reads the store variables; each problem names the variables it is about. Null: the memory store. */
export function parseRedisTopology(env: Env, problems: string[]): RedisTopology | null {
  const value = (name: string): string | null => env[name]?.trim() || null;
  const chosen = STORE_VARIABLES.filter((name) => value(name) !== null);
  if (chosen.length > 1) {
    problems.push(`set only one of ${STORE_VARIABLES.join(', ')} (got ${chosen.join(' and ')})`);
    return null;
  }
  const masterName = value('REDIS_SENTINEL_MASTER');
  const sentinelUsername = value('REDIS_SENTINEL_USERNAME');
  // A password is taken as it is: spaces may be part of it.
  const sentinelPassword = env.REDIS_SENTINEL_PASSWORD || null;
  for (const [name, given] of [
    ['REDIS_SENTINEL_MASTER', masterName],
    ['REDIS_SENTINEL_USERNAME', sentinelUsername],
    ['REDIS_SENTINEL_PASSWORD', sentinelPassword],
  ] as const) {
    if (given !== null && chosen[0] !== 'REDIS_SENTINELS')
      problems.push(`${name} is only meaningful with REDIS_SENTINELS`);
  }
  const auth = parseAuth(env, problems);
  const url = value('REDIS_URL');
  if (url !== null) {
    if (!/^rediss?:\/\//.test(url)) problems.push(`REDIS_URL must start with redis:// or rediss:// (got "${url}")`);
    if (auth.username !== null || auth.password !== null || auth.tls) {
      problems.push(
        'REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS apply to REDIS_SENTINELS and REDIS_CLUSTER_NODES; ' +
          'with REDIS_URL put them in the URL (rediss://user:password@host:port)',
      );
    }
    return { kind: 'single', url };
  }
  const sentinels = value('REDIS_SENTINELS');
  if (sentinels !== null) {
    if (masterName === null) problems.push('REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the master group name)');
    return {
      kind: 'sentinel',
      sentinels: hostPorts('REDIS_SENTINELS', sentinels, problems),
      masterName: masterName ?? '',
      sentinelUsername,
      sentinelPassword,
      ...auth,
    };
  }
  const nodes = value('REDIS_CLUSTER_NODES');
  if (nodes !== null) return { kind: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', nodes, problems), ...auth };
  return null;
}

function parseAuth(env: Env, problems: string[]): RedisAuth {
  const tls = env.REDIS_TLS?.trim().toLowerCase() ?? '';
  if (!['', 'true', 'false'].includes(tls)) problems.push(`REDIS_TLS must be true or false (got "${env.REDIS_TLS}")`);
  return {
    username: env.REDIS_USERNAME?.trim() || null,
    // A password is taken as it is: spaces may be part of it.
    password: env.REDIS_PASSWORD || null,
    tls: tls === 'true',
  };
}

function hostPorts(name: string, raw: string, problems: string[]): HostPort[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const parsed: HostPort[] = [];
  for (const entry of entries) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      problems.push(`${name}: "${entry}" is not host:port`);
      continue;
    }
    parsed.push({ host: match[1].replace(/^\[|\]$/g, ''), port });
  }
  if (entries.length === 0) problems.push(`${name} must list at least one host:port`);
  return parsed;
}
