import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import type { ClientState } from '../store.types';
import type { UpdateOutcome } from '../interfaces/client-store';
import type { DeliveryResult, WebhookEvent } from '../webhook.types';

/**
 * The Lua scripts of src/store/lua, one file per script named
 * `<name>-<key count>.lua` (`-n`: any number of keys), each opening with a
 * header naming its KEYS, ARGV and reply. Copied next to the compiled code by
 * `npm run build`, so they are found relative to this file in src and in dist.
 */
const LUA_DIR = join(__dirname, '..', 'lua');
const SCRIPT_FILE = /^([A-Za-z]+)-(\d+|n)\.lua$/;
const INCLUDE = /^--- @include "([\w/]+)"$/gm;

/** A script's keys, its ARGV (objects are sent as one JSON argument, numbers as decimal strings) and its reply. */
interface Signature<Keys extends string[], Argv extends ScriptArgument[], Reply> {
  keys: Keys;
  argv: Argv;
  reply: Reply;
}
type ScriptArgument = string | number | object;

export interface InsertClientArgs {
  client: string;
  generation: string;
  state: string;
  status: string;
  token?: string;
  seq: string;
}

export interface UpdateClientArgs {
  id: string;
  expectedGeneration: string;
  client?: string;
  generation?: string;
  status?: string;
  state?: string;
  token?: string | null;
  lockOwner?: string;
  /** ISO 8601: the timestamp of an event the write raises. */
  now?: string;
}

export interface DispatchArgs {
  event: WebhookEvent;
  body: string;
  now: number;
  nowIso: string;
  onlyWebhookId?: string;
}

export interface SettleArgs extends DeliveryResult {
  nextAttemptAt: string | null;
  /** Epoch ms: the deliveries parked behind this one are due from now. */
  now: number;
  /** The settled deliveries a webhook keeps. */
  keep: number;
}

export interface ClientIdClaim {
  clientId: string;
  expectedOwner: string;
  /** Absent: the field is removed. */
  newOwner?: string;
}

/**
 * Given when the write left the client marked index pending: its index
 * sequence, status (JSON), workspace, and the outbox's events (JSON).
 */
export type UpdateReply = [
  outcome: UpdateOutcome | 'immutable',
  unindexedSeq?: string,
  state?: string,
  /** As stored: compact JSON, or the full JSON of the layout before (redis-entry-codec.ts). */
  status?: string,
  workspaceId?: string,
  ...events: string[],
];

export interface IndexChange {
  id: string;
  /** Absent: the client is deleted. */
  state?: ClientState;
  /** Decimal: Lua would print a number this large in exponent form. */
  seq?: string;
  fresh?: true;
  failing?: boolean;
  score?: number;
  now: number;
  removedKeepMs: number;
}

/** Per kind, a flat id/epoch-ms array (the times as decimal strings, so Lua never rounds them). */
export interface UsageBatch {
  clients: string[];
  serviceKeys: string[];
}

/** Every script's signature: the one place it is written down on this side of the Lua. */
export interface ScriptSignatures {
  insertClient: Signature<[client: string], [entry: InsertClientArgs], 0 | 1>;
  updateClient: Signature<
    [client: string, lock: string],
    [change: UpdateClientArgs, channel: string, event: string],
    UpdateReply
  >;
  deleteClient: Signature<[client: string, lock: string], [channel: string, event: string], string[] | null>;
  replaceClientIdOwner: Signature<[clientIds: string], [claim: ClientIdClaim], 0 | 1>;
  indexClient: Signature<
    [counters: string, counted: string, failing: string, removed: string],
    [change: IndexChange],
    0 | 1
  >;
  indexClients: Signature<
    [counters: string, counted: string, failing: string, removed: string],
    [changes: IndexChange[]],
    number
  >;
  markIndexed: Signature<[client: string], [seq: string], 0 | 1>;
  claimDue: Signature<[schedule: string], [now: number, leaseUntil: number, limit: number], [string[], string[]]>;
  deferDue: Signature<[schedule: string], [from: number, until: number, ...ids: string[]], number>;
  lockAndRead: Signature<[lock: string, client: string], [owner: string, ttlMs: number], string[] | null>;
  releaseLock: Signature<[lock: string], [owner: string], 0 | 1>;
  extendLock: Signature<[lock: string], [owner: string, ttlMs: number], 0 | 1>;
  extendLocks: Signature<string[], [ttlMs: number, ...owners: string[]], number[]>;
  recordUsage: Signature<[clients: string, serviceKeys: string], [batch: UsageBatch], number>;
  dispatchEvent: Signature<
    [webhooks: string, deliveries: string, due: string, log: string, sent: string, sequence: string],
    [dispatch: DispatchArgs],
    number
  >;
  claimDeliveries: Signature<
    [due: string, deliveries: string, webhooks: string, busy: string],
    [now: number, leaseUntil: number, limit: number, scan: number],
    string[]
  >;
  resealWebhook: Signature<[webhooks: string], [id: string, expectedSealed: string, sealed: string], 0 | 1>;
  deleteWebhook: Signature<
    [webhooks: string, deliveries: string, log: string, sent: string, busy: string, settled: string],
    [id: string, channel: string, event: string],
    0 | 1
  >;
  raiseCertificateExpiring: Signature<
    [client: string],
    [now: string, nowIso: string, intervalMs: number, clientId: string],
    string | null
  >;
  settleDelivery: Signature<
    [deliveries: string, due: string, busy: string, log: string, sent: string, settled: string],
    [id: string, attempts: number, result: SettleArgs],
    0 | 1
  >;
}

export type ScriptName = keyof ScriptSignatures;

/** Runs a script by name with typed keys and arguments. */
export type ScriptRunner = <Name extends ScriptName>(
  name: Name,
  keys: ScriptSignatures[Name]['keys'],
  argv: ScriptSignatures[Name]['argv'],
) => Promise<ScriptSignatures[Name]['reply']>;

const SCRIPT_NAMES: Record<ScriptName, true> = {
  insertClient: true,
  updateClient: true,
  deleteClient: true,
  replaceClientIdOwner: true,
  indexClient: true,
  indexClients: true,
  markIndexed: true,
  claimDue: true,
  deferDue: true,
  lockAndRead: true,
  releaseLock: true,
  extendLock: true,
  extendLocks: true,
  recordUsage: true,
  dispatchEvent: true,
  claimDeliveries: true,
  settleDelivery: true,
  resealWebhook: true,
  deleteWebhook: true,
  raiseCertificateExpiring: true,
};

interface LoadedScript {
  lua: string;
  /** Undefined: the caller passes the key count (a `-n` script). */
  numberOfKeys: number | undefined;
}

let loaded: Map<ScriptName, LoadedScript> | undefined;

/** Reads every script once per process; a script without a signature, or a signature without a script, is a bug. */
export function loadScripts(directory = LUA_DIR): Map<ScriptName, LoadedScript> {
  if (directory === LUA_DIR && loaded) return loaded;
  const scripts = new Map<ScriptName, LoadedScript>();
  for (const file of readdirSync(directory)) {
    const match = SCRIPT_FILE.exec(file);
    if (!match) continue;
    const [, name, keyCount] = match;
    if (!isScriptName(name)) throw new Error(`${file} has no signature in ScriptSignatures`);
    const lua = withIncludes(readFileSync(join(directory, file), 'utf8'), directory);
    scripts.set(name, { lua, numberOfKeys: keyCount === 'n' ? undefined : Number(keyCount) });
  }
  const missing = Object.keys(SCRIPT_NAMES).filter((name) => !scripts.has(name as ScriptName));
  if (missing.length > 0) throw new Error(`Lua scripts missing from ${directory}: ${missing.join(', ')}`);
  if (directory === LUA_DIR) loaded = scripts;
  return scripts;
}

/**
 * Defines every script as a command on the connection and returns the typed
 * way to run them. ioredis copies each defined script's two methods onto
 * every pipeline it creates (forty properties here; under the profiler, 3%
 * of the broker's busy time in refresh cycles). So the scripts are then taken
 * out of the set it copies from, and queueScript calls the connection's own
 * method on the pipeline instead; each still loads itself on a new socket
 * (EVAL the first time, EVALSHA after) and is sent again on NOSCRIPT, as
 * ioredis does for any defined script.
 */
export function defineScripts(redis: Redis | Cluster): ScriptRunner {
  const scripts = loadScripts();
  for (const [name, { lua, numberOfKeys }] of scripts) redis.defineCommand(commandName(name), { lua, numberOfKeys });
  redis.scriptsSet = {};
  const commands = redis as unknown as Record<string, (...args: string[]) => Promise<unknown>>;
  return (name, keys, argv) => {
    const script = scripts.get(name);
    const encoded = (argv as ScriptArgument[]).map(encodeArgument);
    if (script?.numberOfKeys === undefined) {
      return commands[commandName(name)](String(keys.length), ...keys, ...encoded) as Promise<never>;
    }
    if (keys.length !== script.numberOfKeys) throw new Error(`${name} takes ${script.numberOfKeys} keys`);
    return commands[commandName(name)](...keys, ...encoded) as Promise<never>;
  };
}

/** Queues a script on a pipeline (same encoding as the runner), for a step sent with other commands. */
export function queueScript<Name extends ScriptName>(
  pipeline: ChainableCommander,
  name: Name,
  keys: ScriptSignatures[Name]['keys'],
  argv: ScriptSignatures[Name]['argv'],
): void {
  const script = loadScripts().get(name);
  const encoded = (argv as ScriptArgument[]).map(encodeArgument);
  // A pipeline of one Redis has no script methods (defineScripts): its connection's are called on it.
  // A Cluster's step is recorded by a proxy, which answers every name.
  const methods = pipeline as unknown as ScriptMethods & { redis?: ScriptMethods };
  const command = methods[commandName(name)] ?? methods.redis?.[commandName(name)];
  if (command === undefined) throw new Error(`script ${name} is not defined on this connection`);
  if (script?.numberOfKeys === undefined) command.call(pipeline, String(keys.length), ...keys, ...encoded);
  else command.call(pipeline, ...keys, ...encoded);
}

type ScriptMethods = Record<string, ((...args: string[]) => unknown) | undefined>;

function isScriptName(name: string): name is ScriptName {
  return Object.hasOwn(SCRIPT_NAMES, name);
}

/** Prefixed so a script never shadows a command ioredis already has. */
function commandName(name: ScriptName): string {
  return `tb_${name}`;
}

/** Replaces each `--- @include "includes/<name>"` line by that file, once per script. */
function withIncludes(lua: string, directory: string): string {
  const included = new Set<string>();
  return lua.replace(INCLUDE, (_, path: string) => {
    if (included.has(path)) return '';
    included.add(path);
    return readFileSync(join(directory, `${path}.lua`), 'utf8');
  });
}

function encodeArgument(argument: ScriptArgument): string {
  if (typeof argument === 'string') return argument;
  if (typeof argument === 'number') return String(argument);
  return JSON.stringify(argument);
}
