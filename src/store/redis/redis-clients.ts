import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { HostPort, RedisAuth, RedisTopology } from '../../config/redis-topology';

export const CONNECT_TIMEOUT_MS = 2_000;

/** Either client ioredis offers: one Redis (alone or found through Sentinel), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** What every connection of the store shares, whatever the topology. */
export function baseRedisOptions(): RedisOptions {
  return {
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Reconnect forever: the service must come back by itself when Redis does.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    enableOfflineQueue: false,
  };
}

/** The command connection of the topology: ioredis's own Sentinel and Cluster support. */
export function createCommandClient(topology: RedisTopology, options: RedisOptions): RedisClient {
  if (topology.kind === 'cluster') {
    return new Cluster(topology.nodes, {
      redisOptions: { ...withoutClusterOwned(options), ...authOptions(topology) },
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      // A failover or a slot move is followed within a second, not at the next redirect only.
      slotsRefreshInterval: 1_000,
      scaleReads: 'master',
    });
  }
  return createNodeClient(topology, options);
}

/**
 * The subscriber of store events: always one plain connection, so its drops
 * are seen ('close', then 'ready') and answered with a resync. On a Cluster,
 * PUBLISH reaches every node, so any node will do; when the one in use goes
 * away, the next reconnect goes to another node the command client knows.
 */
export function createSubscriberClient(
  topology: RedisTopology,
  options: RedisOptions,
  commandClient: RedisClient,
): Redis {
  if (topology.kind !== 'cluster') return createNodeClient(topology, options);
  const [first] = topology.nodes;
  const subscriber: Redis = new Redis({
    ...options,
    ...authOptions(topology),
    host: first.host,
    port: first.port,
    retryStrategy: (attempt) => {
      // The connector reads host and port from these options at each connect.
      Object.assign(subscriber.options, nextNode(commandClient, topology.nodes, attempt));
      return Math.min(attempt * 100, 1_000);
    },
  });
  return subscriber;
}

function createNodeClient(topology: Exclude<RedisTopology, { kind: 'cluster' }>, options: RedisOptions): Redis {
  if (topology.kind === 'single') return new Redis(topology.url, options);
  const client = new Redis({
    ...options,
    ...authOptions(topology),
    sentinels: topology.sentinels,
    name: topology.masterName,
    role: 'master',
    // REDIS_TLS=true is TLS everywhere: to the data nodes the Sentinels name, and to the Sentinels themselves.
    enableTLSForSentinelMode: topology.tls,
    ...(topology.tls ? { sentinelTLS: {} } : {}),
    // The Sentinels' own ACL user or requirepass; REDIS_USERNAME/REDIS_PASSWORD go to the data nodes only.
    ...(topology.sentinelUsername === null ? {} : { sentinelUsername: topology.sentinelUsername }),
    ...(topology.sentinelPassword === null ? {} : { sentinelPassword: topology.sentinelPassword }),
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    // Follows +switch-master at once instead of waiting for the old master's connection to fail.
    failoverDetector: true,
  });
  reconnectAfterUnaskedEnd(client);
  return client;
}

/** Connections the store is closing itself: their end is final. */
const closedOnPurpose = new WeakSet<RedisClient>();

/** Says that `client` is being closed by the store, so that its end is not undone. */
export function markClosedOnPurpose(client: RedisClient): void {
  closedOnPurpose.add(client);
}

export const REVIVE_AFTER_END_MS = 500;

/**
 * ioredis (5.11) can end a Sentinel connection for good in a failover: when
 * the master dies, the failover detector of the lost connection stays
 * subscribed to the Sentinels; if its +switch-master arrives while a
 * reconnect is asking a Sentinel for the master, the reconnect is cut short
 * ("Connection is closed."), and a failed connect leaves the client at
 * status 'end', which nothing retries. An end the store did not ask for is
 * undone here, so the broker always comes back by itself.
 */
function reconnectAfterUnaskedEnd(client: Redis): void {
  client.on('end', () => {
    if (closedOnPurpose.has(client)) return;
    setTimeout(() => {
      if (client.status === 'end' && !closedOnPurpose.has(client)) client.connect().catch(() => undefined);
    }, REVIVE_AFTER_END_MS).unref();
  });
}

/** Options the Cluster client sets for its node connections itself. */
function withoutClusterOwned(options: RedisOptions): RedisOptions {
  const { enableOfflineQueue: _queue, retryStrategy: _retry, ...rest } = options;
  return rest;
}

function authOptions(auth: RedisAuth): RedisOptions {
  return {
    ...(auth.username === null ? {} : { username: auth.username }),
    ...(auth.password === null ? {} : { password: auth.password }),
    ...(auth.tls ? { tls: {} } : {}),
  };
}

/** Round robin over the nodes the Cluster client knows now, the seed nodes when it knows none. */
function nextNode(cluster: RedisClient, seeds: HostPort[], attempt: number): HostPort {
  const known = cluster instanceof Cluster ? cluster.nodes('all') : [];
  const candidates =
    known.length > 0 ? known.map(({ options }) => ({ host: options.host, port: options.port })) : seeds;
  const node = candidates[attempt % candidates.length];
  return { host: node.host ?? seeds[0].host, port: node.port ?? seeds[0].port };
}
