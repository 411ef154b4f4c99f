import Redis, { type ChainableCommander, type RedisOptions } from 'ioredis';
import type { StoreLogger } from '../store-helpers';
import { asStoreError } from './redis-errors';
import { redisKeys, type RedisKeys } from './redis-keys';
import { defineScripts, queueScript, type ScriptName, type ScriptRunner, type ScriptSignatures } from './script-loader';

export const CONNECT_TIMEOUT_MS = 2_000;
/** A Redis that accepts connections but does not answer (paused, swapping) must still give a 503, not hang. */
const COMMAND_TIMEOUT_MS = 2_000;

export interface RedisConnectionOptions {
  url: string;
  keyPrefix: string;
  logger?: StoreLogger;
}

/** What both of the store's connections share. */
export function baseRedisOptions(): RedisOptions {
  return {
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Reconnect forever: the service must come back by itself when Redis does.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    enableOfflineQueue: false,
  };
}

/**
 * The command connection, shared by every part of the RedisStore. Commands
 * fail fast while Redis is away (no offline queue), so requests get a 503
 * instead of waiting; every error leaves through asStoreError.
 */
export class RedisConnection {
  readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly runScript: ScriptRunner;

  constructor(options: RedisConnectionOptions) {
    this.keys = redisKeys(options.keyPrefix);
    this.redis = new Redis(options.url, {
      ...baseRedisOptions(),
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    this.runScript = defineScripts(this.redis);
    reportOutages(this.redis, 'command', options.logger);
  }

  async run<T>(command: (redis: Redis) => Promise<T>): Promise<T> {
    try {
      return await command(this.redis);
    } catch (error) {
      throw asStoreError(error);
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
   * A script sent in the same round trip as some commands queued before it
   * (Redis runs them in order); answers the script's reply. Errors are named
   * after the script.
   */
  async scriptAfter<Name extends ScriptName>(
    before: (pipeline: ChainableCommander) => void,
    name: Name,
    keys: ScriptSignatures[Name]['keys'],
    argv: ScriptSignatures[Name]['argv'],
  ): Promise<ScriptSignatures[Name]['reply']> {
    const pipeline = this.redis.pipeline();
    before(pipeline);
    queueScript(pipeline, name, keys, argv);
    const replies = unwrapReplies(await this.run(() => pipeline.exec()), name);
    return replies[replies.length - 1] as ScriptSignatures[Name]['reply'];
  }

  /** Several single-key commands in one round trip; not a transaction, and each command stays in its own slot. */
  async pipeline(build: (pipeline: ChainableCommander) => void): Promise<unknown[]> {
    const pipeline = this.redis.pipeline();
    build(pipeline);
    return unwrapReplies(await this.run(() => pipeline.exec()));
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

function unwrapReplies(replies: [error: Error | null, value: unknown][] | null, command?: string): unknown[] {
  return (replies ?? []).map(([error, value]) => {
    if (error) throw asStoreError(error, command);
    return value;
  });
}

/** One warning per outage, not one per reconnect attempt. */
export function reportOutages(
  connection: Redis,
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

export async function closeConnection(connection: Redis): Promise<void> {
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
