import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { RedisTopology } from '../../src/config/redis-topology';
import {
  freePort,
  onFreshPorts,
  startRedisServer,
  stopRedisProcess,
  waitForStart,
  type RedisServerHandle,
  type RedisTlsFiles,
} from './redis-server';

/** A Redis setup of several processes on loopback ports, each stopped by its own PID. */
export interface RedisTopologyHandle {
  topology: RedisTopology;
  /** Every redis-server of the setup (data nodes; sentinels are in `sentinels`). */
  nodes: RedisServerHandle[];
  sentinels: RedisServerHandle[];
  stop(): Promise<void>;
}

const READY_WITHIN_MS = 30_000;

function assertRedisCliInstalled(): void {
  const probe = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-cli was not found on PATH: install it (Debian/Ubuntu: `apt-get install redis-tools`).');
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not ready within ${READY_WITHIN_MS} ms`);
}

/**
 * An ACL user the data nodes are started with, the default user switched off: the broker, the replicas
 * and the Sentinels all authenticate as it. `rules` default to every command, key and channel.
 */
export interface RedisAclUser {
  username: string;
  password: string;
  rules?: string[];
}

/** How the setup's own probes reach a node: as the ACL user, over TLS. */
interface NodeAccess {
  acl?: RedisAclUser;
  tls?: RedisTlsFiles;
}

/** The user replicas and Sentinels reach the nodes as, so the broker's own user can be kept to its keys. */
export const INFRA_USER = { username: 'tb-infra', password: 'tb-infra-password' };

function aclArgs(acl: RedisAclUser | undefined): string[] {
  if (!acl) return [];
  const rules = acl.rules ?? ['~*', '&*', '+@all'];
  return [
    ...['--user', 'default', 'off'],
    ...['--user', acl.username, 'on', `>${acl.password}`, ...rules],
    ...['--user', INFRA_USER.username, 'on', `>${INFRA_USER.password}`, '~*', '&*', '+@all'],
    ...['--masteruser', INFRA_USER.username, '--masterauth', INFRA_USER.password],
  ];
}

function redisCliAccess({ acl, tls }: NodeAccess): string[] {
  return [
    ...(acl ? ['--user', acl.username, '--pass', acl.password, '--no-auth-warning'] : []),
    ...(tls ? ['--tls', '--cacert', tls.caFile] : []),
  ];
}

/** A probe of a node as the ACL user, or of a Sentinel with its own password (`password`). */
async function withConnection<T>(
  port: number,
  use: (redis: Redis) => Promise<T>,
  access: NodeAccess & { password?: string } = {},
): Promise<T> {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    ...(access.acl ? { username: access.acl.username, password: access.acl.password } : {}),
    ...(access.password === undefined ? {} : { password: access.password }),
    ...(access.tls ? { tls: { ca: readFileSync(access.tls.caFile), servername: 'localhost' } } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function stopAll(handles: RedisServerHandle[]): Promise<void> {
  await Promise.all(handles.map((handle) => handle.stop()));
}

/**
 * A Redis Cluster of `masters` masters with `replicas` replicas each, made by
 * `redis-cli --cluster create`; ready once every node reports cluster_state:ok
 * and every replica is in sync.
 */
export async function startRedisCluster(
  options: { masters?: number; replicas?: number } & NodeAccess = {},
): Promise<RedisTopologyHandle> {
  assertRedisCliInstalled();
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const access: NodeAccess = { acl: options.acl, tls: options.tls };
  const nodes: RedisServerHandle[] = [];
  try {
    for (let index = 0; index < masters * (1 + replicas); index += 1) {
      nodes.push(
        await startRedisServer({
          appendonly: true,
          tls: options.tls,
          clusterBus: true,
          args: ['--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', ...aclArgs(options.acl)],
        }),
      );
    }
    const addresses = nodes.map(({ port }) => `127.0.0.1:${port}`);
    const created = spawnSync(
      'redis-cli',
      [
        ...redisCliAccess(access),
        ...['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
      ],
      { encoding: 'utf8', timeout: READY_WITHIN_MS },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    await until('the cluster', async () => {
      for (const { port } of nodes) {
        const ok = await withConnection(
          port,
          async (redis) => {
            const info = String(await redis.call('CLUSTER', 'INFO'));
            if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
            const role = (await redis.call('ROLE')) as unknown[];
            return role[0] === 'master' || role[3] === 'connected';
          },
          access,
        );
        if (!ok) return false;
      }
      return true;
    });
  } catch (error) {
    await stopAll(nodes);
    throw error;
  }
  return {
    topology: {
      kind: 'cluster',
      nodes: nodes.slice(0, masters).map(({ port }) => ({ host: '127.0.0.1', port })),
      username: options.acl?.username ?? null,
      password: options.acl?.password ?? null,
      tls: options.tls !== undefined,
    },
    nodes,
    sentinels: [],
    stop: () => stopAll(nodes),
  };
}

/** The ports of the masters now (they change on a failover), in the order the nodes were started. */
export async function masterPorts(handle: RedisTopologyHandle): Promise<number[]> {
  const ports: number[] = [];
  for (const node of handle.nodes) {
    if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
    const role = await withConnection(node.port, async (redis) => ((await redis.call('ROLE')) as unknown[])[0]).catch(
      () => null,
    );
    if (role === 'master') ports.push(node.port);
  }
  return ports;
}

export const SENTINEL_MASTER = 'tbmaster';

/**
 * What a broker needs of a Sentinel and no more: find the master, the other Sentinels and the replicas, and
 * hear of a failover (ioredis's failover detector subscribes to +switch-master).
 */
export const SENTINEL_BROKER_RULES = [
  '-@all',
  ...['get-master-addr-by-name', 'sentinels', 'replicas', 'slaves'].map((sub) => `+sentinel|${sub}`),
  '+subscribe',
  '+ping',
  // Not +client|setinfo: Redis 7.0 has no such subcommand (the rule would fail
  // to load), and ioredis ignores the refusal of the CLIENT SETINFO it sends.
  '&+switch-master',
];

/** How the Sentinels admit their clients: a password of their own (requirepass), or ACL users of their own. */
interface SentinelAccess {
  /** requirepass: the Sentinels require it of their clients and use it with each other. */
  sentinelPassword?: string;
  /**
   * A user of the Sentinels' own, default user off: they reach each other as INFRA_USER (sentinel-user),
   * the broker as this one.
   */
  sentinelAcl?: RedisAclUser;
}

/** A master with `replicas` replicas, watched by `sentinels` Sentinels (quorum: a majority of them). */
export async function startRedisSentinel(
  options: { replicas?: number; sentinels?: number } & SentinelAccess & NodeAccess = {},
): Promise<RedisTopologyHandle> {
  if (options.sentinelPassword !== undefined && options.sentinelAcl !== undefined) {
    throw new Error('give the Sentinels a requirepass or a user of their own, not both');
  }
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const access: NodeAccess = { acl: options.acl, tls: options.tls };
  const nodes: RedisServerHandle[] = [];
  const sentinels: RedisServerHandle[] = [];
  try {
    const master = await startRedisServer({ appendonly: true, tls: options.tls, args: aclArgs(options.acl) });
    nodes.push(master);
    for (let index = 0; index < replicaCount; index += 1) {
      const replicaOf = ['--replicaof', '127.0.0.1', String(master.port)];
      nodes.push(
        await startRedisServer({ appendonly: true, tls: options.tls, args: [...replicaOf, ...aclArgs(options.acl)] }),
      );
    }
    await until('the replicas', () =>
      withConnection(
        master.port,
        async (redis) => {
          const info = await redis.info('replication');
          return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicaCount;
        },
        access,
      ),
    );
    const quorum = Math.floor(sentinelCount / 2) + 1;
    for (let index = 0; index < sentinelCount; index += 1) {
      sentinels.push(await startSentinel(master.port, quorum, access, options));
    }
    await until('the sentinels', async () => {
      for (const { port } of sentinels) {
        const known = await withConnection(
          port,
          async (redis) => {
            const replicasSeen = (await redis.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER)) as unknown[];
            const sentinelsSeen = (await redis.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER)) as unknown[];
            return replicasSeen.length === replicaCount && sentinelsSeen.length === sentinelCount - 1;
          },
          { tls: options.tls, password: options.sentinelPassword, ...(options.sentinelAcl ? { acl: INFRA_USER } : {}) },
        );
        if (!known) return false;
      }
      return true;
    });
  } catch (error) {
    await stopAll([...sentinels, ...nodes]);
    throw error;
  }
  return {
    topology: {
      kind: 'sentinel',
      sentinels: sentinels.map(({ port }) => ({ host: '127.0.0.1', port })),
      masterName: SENTINEL_MASTER,
      sentinelUsername: options.sentinelAcl?.username ?? null,
      sentinelPassword: options.sentinelPassword ?? options.sentinelAcl?.password ?? null,
      username: options.acl?.username ?? null,
      password: options.acl?.password ?? null,
      tls: options.tls !== undefined,
    },
    nodes,
    sentinels,
    stop: () => stopAll([...sentinels, ...nodes]),
  };
}

/**
 * A Sentinel that reaches the data nodes as the infrastructure user when they have ACLs; with TLS, it
 * listens with TLS only and speaks TLS to the data nodes (tls-replication); it admits its clients as
 * SentinelAccess says.
 */
function startSentinel(
  masterPort: number,
  quorum: number,
  access: NodeAccess,
  sentinelAccess: SentinelAccess,
): Promise<RedisServerHandle> {
  return onFreshPorts(() => startSentinelOnce(masterPort, quorum, access, sentinelAccess));
}

async function startSentinelOnce(
  masterPort: number,
  quorum: number,
  { acl, tls }: NodeAccess,
  { sentinelPassword, sentinelAcl }: SentinelAccess,
): Promise<RedisServerHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tb-sentinel-'));
  const config = join(dir, 'sentinel.conf');
  writeFileSync(
    config,
    [
      ...(tls
        ? [
            'port 0',
            `tls-port ${port}`,
            `tls-cert-file ${tls.certFile}`,
            `tls-key-file ${tls.keyFile}`,
            `tls-ca-cert-file ${tls.caFile}`,
            'tls-auth-clients no',
            'tls-replication yes',
          ]
        : [`port ${port}`]),
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} ${quorum}`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
      `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
      ...(sentinelPassword === undefined ? [] : [`requirepass ${sentinelPassword}`]),
      ...(sentinelAcl
        ? [
            'user default off',
            `user ${INFRA_USER.username} on >${INFRA_USER.password} allchannels +@all`,
            `user ${sentinelAcl.username} on >${sentinelAcl.password} ${(sentinelAcl.rules ?? ['+@all']).join(' ')}`,
            `sentinel sentinel-user ${INFRA_USER.username}`,
            `sentinel sentinel-pass ${INFRA_USER.password}`,
          ]
        : []),
      ...(acl
        ? [
            `sentinel auth-user ${SENTINEL_MASTER} ${INFRA_USER.username}`,
            `sentinel auth-pass ${SENTINEL_MASTER} ${INFRA_USER.password}`,
          ]
        : []),
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [config, '--sentinel', '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  await waitForStart(url, child, tls, dir);
  return {
    url,
    port,
    dir,
    process: child,
    stop: () => stopRedisProcess(child, dir),
  };
}

/** The store variables a broker is started with to use the topology. */
export function topologyEnv(handle: RedisTopologyHandle): Record<string, string> {
  const { topology } = handle;
  const list = (entries: { host: string; port: number }[]) =>
    entries.map(({ host, port }) => `${host}:${port}`).join(',');
  if (topology.kind === 'single') return { REDIS_URL: topology.url };
  const auth = {
    ...(topology.username === null ? {} : { REDIS_USERNAME: topology.username }),
    ...(topology.password === null ? {} : { REDIS_PASSWORD: topology.password }),
    ...(topology.tls ? { REDIS_TLS: 'true' } : {}),
  };
  if (topology.kind === 'cluster') return { REDIS_CLUSTER_NODES: list(topology.nodes), ...auth };
  return {
    REDIS_SENTINELS: list(topology.sentinels),
    REDIS_SENTINEL_MASTER: topology.masterName,
    ...(topology.sentinelUsername === null ? {} : { REDIS_SENTINEL_USERNAME: topology.sentinelUsername }),
    ...(topology.sentinelPassword === null ? {} : { REDIS_SENTINEL_PASSWORD: topology.sentinelPassword }),
    ...auth,
  };
}

/** The replicas of the topology now (ROLE says slave). */
export async function replicaNodes(handle: RedisTopologyHandle): Promise<RedisServerHandle[]> {
  const replicas: RedisServerHandle[] = [];
  for (const node of handle.nodes) {
    if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
    const role = await withConnection(node.port, async (redis) => ((await redis.call('ROLE')) as unknown[])[0]).catch(
      () => null,
    );
    if (role === 'slave') replicas.push(node);
  }
  return replicas;
}
