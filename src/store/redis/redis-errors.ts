import { ReplyError } from 'ioredis';
import { StoreUnavailableError } from '../broker-store';

/** Replies that mean "Redis cannot serve this right now", not "this command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF|OOM)\b/;

/**
 * Redis refused a command as wrong (a bug, or data that is not what the
 * store wrote). It carries Redis' reply and the command's name, never the
 * command's arguments: those hold sealed secrets and tokens.
 */
export class StoreCommandError extends Error {
  constructor(
    readonly command: string,
    reply: string,
  ) {
    super(`store command ${command} failed: ${reply}`);
    this.name = 'StoreCommandError';
  }
}

/**
 * The one place a Redis error becomes a store error. ioredis attaches the
 * failed command with all its arguments to its errors (`error.command.args`),
 * and a logger prints every property of an error it is given; so no ioredis
 * error leaves the store: anything about reaching Redis becomes
 * StoreUnavailableError, anything else StoreCommandError, both built from
 * the message alone.
 */
export function asStoreError(error: unknown, command = 'redis'): Error {
  if (error instanceof StoreUnavailableError || error instanceof StoreCommandError) return error;
  if (error instanceof ReplyError && !UNAVAILABLE_REPLY.test((error as Error).message)) {
    return new StoreCommandError(command, (error as Error).message);
  }
  return new StoreUnavailableError(error);
}
