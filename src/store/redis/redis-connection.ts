import type Redis from 'ioredis';
import { Cluster, type ChainableCommander, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../../config/redis-topology';
import { StoreUnavailableError } from '../broker-store';
import type { StoreLogger } from '../store-helpers';
import {
  baseRedisOptions,
  createCommandClient,
  createSubscriberClient,
  markClosedOnPurpose,
  type RedisClient,
} from './redis-clients';
import { asStoreError } from './redis-errors';
import { redisKeys, type RedisKeys } from './redis-keys';
import { keySlot } from './redis-slot';
import { defineScripts, queueScript, type ScriptName, type ScriptRunner, type ScriptSignatures } from './script-loader';

export { baseRedisOptions, CONNECT_TIMEOUT_MS } from './redis-clients';
/** A Redis that accepts connections but does not answer (paused, swapping) must still give a 503, not hang. */
const COMMAND_TIMEOUT_MS = 2_000;
/** How long an admin write waits for REDIS_WAIT_REPLICAS acknowledgements: SPEC.md, "Redis topologies". */
const WAIT_REPLICAS_TIMEOUT_MS = 1_000;

export type RedisConnectionOptions = ({ url: string } | { topology: RedisTopology }) & {
  keyPrefix: string;
  /** Replicas that must acknowledge an admin write (see waitForReplicas); 0 by default. */
  waitReplicas?: number;
  logger?: StoreLogger;
};

export function topologyOf(options: RedisConnectionOptions): RedisTopology {
  return 'topology' in options ? options.topology : { kind: 'single', url: options.url };
}

/** A step of several single-key commands: see RedisConnection.steps. */
export type PipelineStep = (pipeline: ChainableCommander) => void;

/**
 * The command connection, shared by every part of the RedisStore. Commands
 * fail fast while Redis is away (no offline queue), so requests get a 503
 * instead of waiting; every error leaves through asStoreError.
 *
 * On a Redis Cluster a pipeline must stay within one slot (ioredis refuses
 * one that crosses slots), so the helpers here that send several commands at
 * once (pipeline, steps, scriptAfter) send each command on its own there:
 * ioredis writes them to the nodes' sockets at once, so the step still costs
 * one round trip per node, in parallel. On one Redis they stay one pipeline.
 */
export class RedisConnection {
  readonly keys: RedisKeys;
  readonly topology: RedisTopology;
  private readonly redis: RedisClient;
  private readonly runScript: ScriptRunner;
  private readonly waitReplicas: number;

  constructor(options: RedisConnectionOptions) {
    this.keys = redisKeys(options.keyPrefix);
    this.topology = topologyOf(options);
    this.waitReplicas = options.waitReplicas ?? 0;
    this.redis = createCommandClient(this.topology, {
      ...baseRedisOptions(),
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    this.runScript = defineScripts(this.redis);
    reportOutages(this.redis, 'command', options.logger);
  }

  get isCluster(): boolean {
    return this.redis instanceof Cluster;
  }

  /**
   * Calls back when a Cluster's membership changes (a node added or lost: a
   * failover, a resharding). Messages crossing the cluster bus while a link
   * broke may be lost without the subscriber's own connection dropping.
   */
  onMembershipChange(callback: () => void): void {
    if (!(this.redis instanceof Cluster)) return;
    this.redis.on('+node', callback);
    this.redis.on('-node', callback);
  }

  /** A plain connection for subscribing to store events on this topology (see createSubscriberClient). */
  subscriberClient(options: RedisOptions): Redis {
    return createSubscriberClient(this.topology, options, this.redis);
  }

  async run<T>(command: (redis: RedisClient) => Promise<T>, commandName?: string): Promise<T> {
    try {
      return await command(this.redis);
    } catch (error) {
      throw asStoreError(error, commandName);
    }
  }

  async script<Name extends ScriptName>(
    name: Name,
    keys: ScriptSignatures[Name]['keys'],
    argv: ScriptSignatures[Name]['argv'],
  ): Promise<ScriptSignatures[Name]['reply']> {
    try {
      return await this.runScript(name, keys, argv);
    } catch (error) {
      throw asStoreError(error, name);
    }
  }

  /**
   * A script sent after some commands (Redis runs them in order): in the same
   * round trip on one Redis; on a Cluster, where they sit in other slots, once
   * they are done. Answers the script's reply; errors are named after the script.
   */
  async scriptAfter<Name extends ScriptName>(
    before: PipelineStep,
    name: Name,
    keys: ScriptSignatures[Name]['keys'],
    argv: ScriptSignatures[Name]['argv'],
  ): Promise<ScriptSignatures[Name]['reply']> {
    const replies = await this.steps([before, (pipeline) => queueScript(pipeline, name, keys, argv)], name);
    return replies[replies.length - 1] as ScriptSignatures[Name]['reply'];
  }

  /** Several single-key commands in one round trip; not a transaction, and each command stays in its own slot. */
  async pipeline(build: PipelineStep): Promise<unknown[]> {
    return this.steps([build]);
  }

  /**
   * Steps that must reach Redis in this order (a crash may stop between two):
   * one pipeline on one Redis; on a Cluster each step waits for the one before.
   * The commands within a step may run in any order across slots there.
   */
  async steps(steps: PipelineStep[], command?: string): Promise<unknown[]> {
    const redis = this.redis;
    if (redis instanceof Cluster) {
      const replies: unknown[] = [];
      for (const step of steps) replies.push(...(await this.run(() => sendEach(redis, step), command)));
      return replies;
    }
    const pipeline = redis.pipeline();
    for (const step of steps) step(pipeline);
    return unwrapReplies(await this.run(() => pipeline.exec()), command);
  }

  /**
   * PUBLISH reaches every node of a Cluster, but two messages sent through
   * two nodes may arrive in either order: messages published here all go
   * through the node serving the channel name's slot, so they keep their order.
   */
  async publish(channel: string, message: string): Promise<void> {
    await this.run((redis) => nodeOf(redis, channel).publish(channel, message));
  }

  /**
   * REDIS_WAIT_REPLICAS: waits until that many replicas acknowledged the
   * writes so far (Redis WAIT, sent where each key was written: on a Cluster
   * the masters of their slots). Throws StoreUnavailableError when they do not within 1 s.
   */
  async waitForReplicas(keys: string[]): Promise<void> {
    if (this.waitReplicas === 0) return;
    const nodes = await this.run(async (redis) => [...new Set(keys.map((key) => nodeOf(redis, key)))]);
    const acknowledged = await this.run(() =>
      Promise.all(nodes.map((node) => node.wait(this.waitReplicas, WAIT_REPLICAS_TIMEOUT_MS))),
    );
    const fewest = Math.min(...acknowledged);
    if (fewest < this.waitReplicas) {
      const problem = `only ${fewest} of ${this.waitReplicas} replicas acknowledged the write`;
      throw new StoreUnavailableError(new Error(problem));
    }
  }

  /** Commands run as one MULTI/EXEC transaction. */
  async transaction(build: (multi: ChainableCommander) => void): Promise<unknown[]> {
    const multi = this.redis.multi();
    build(multi);
    return unwrapReplies(await this.run(() => multi.exec()));
  }

  waitForConnection(timeoutMs: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  close(): Promise<void> {
    return closeConnection(this.redis);
  }
}

/**
 * A step's commands sent one by one on a Cluster (each to its slot's master,
 * all written before any answer is read), replies in the order queued.
 */
function sendEach(cluster: Cluster, step: PipelineStep): Promise<unknown[]> {
  const calls: [name: string, args: unknown[]][] = [];
  const recorder: ChainableCommander = new Proxy({} as ChainableCommander, {
    get:
      (_, name) =>
      (...args: unknown[]) => {
        calls.push([String(name), args]);
        return recorder;
      },
  });
  step(recorder);
  const commands = cluster as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return Promise.all(calls.map(([name, args]) => commands[name](...args)));
}

/** The connection that took a write of `key`: on a Cluster, the master of its slot now. */
function nodeOf(redis: RedisClient, key: string): Redis {
  if (!(redis instanceof Cluster)) return redis;
  const [masterKey] = redis.slots[keySlot(key)] ?? [];
  const master = redis.nodes('master').find(({ options }) => `${options.host}:${options.port}` === masterKey);
  if (master === undefined) throw new StoreUnavailableError(new Error('no master serves the written slot'));
  return master;
}

function unwrapReplies(replies: [error: Error | null, value: unknown][] | null, command?: string): unknown[] {
  return (replies ?? []).map(([error, value]) => {
    if (error) throw asStoreError(error, command);
    return value;
  });
}

/** One warning per outage, not one per reconnect attempt. */
export function reportOutages(
  connection: RedisClient,
  role: 'command' | 'subscriber',
  logger: StoreLogger | undefined,
): void {
  let reported = false;
  connection.on('error', (error: Error) => {
    if (reported) return;
    reported = true;
    logger?.warn({ connection: role, err: error.message }, 'Redis connection failed; reconnecting');
  });
  connection.on('ready', () => {
    reported = false;
  });
}

export async function closeConnection(connection: RedisClient): Promise<void> {
  markClosedOnPurpose(connection);
  if (isSentinelClient(connection)) {
    // disconnect() also closes the Sentinel connections of ioredis's failover detector, which quit() leaves
    // open (they kept a test process alive after its last test), even once the client itself has ended.
    connection.disconnect();
    return;
  }
  if (connection.status === 'end') return;
  if (connection.status === 'ready') {
    try {
      await connection.quit();
      return;
    } catch {
      // Fall through: dropping the socket is all that is left to do.
    }
  }
  connection.disconnect();
}

function isSentinelClient(connection: RedisClient): boolean {
  return !(connection instanceof Cluster) && (connection.options.sentinels?.length ?? 0) > 0;
}
