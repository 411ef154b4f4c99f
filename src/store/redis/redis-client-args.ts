import type { ClientChange } from '../interfaces/client-store';
import type { ClientEntry } from '../store.types';
import type { InsertClientArgs, UpdateClientArgs } from './script-loader';

/** The structured arguments RedisClientStore hands its Lua scripts, built from the store's own types. */

/** The structured argument of insertClient-1.lua. */
export function insertArgs({ client, status, token }: ClientEntry, seq: number): InsertClientArgs {
  return {
    client: JSON.stringify(client),
    generation: String(client.generation),
    state: status.state,
    status: JSON.stringify(status),
    token: token === null ? undefined : JSON.stringify(token),
    seq: String(seq),
  };
}

/** The structured argument of updateClient-2.lua: a part left out is left as it is. */
export function updateArgs(expectedGeneration: number, change: ClientChange, releaseLockOf?: string): UpdateClientArgs {
  const { client, status, token } = change;
  return {
    expectedGeneration: String(expectedGeneration),
    client: client && JSON.stringify(client),
    generation: client && String(client.generation),
    status: status && JSON.stringify(status),
    state: status?.state,
    token: token === undefined ? undefined : token && JSON.stringify(token),
    lockOwner: releaseLockOf,
    now: status && new Date().toISOString(),
  };
}
