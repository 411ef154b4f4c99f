import type { ClientChange } from '../interfaces/client-store';
import type { ClientEntry } from '../store.types';
import { encodeClient, encodeStatus, encodeToken } from './redis-entry-codec';
import type { InsertClientArgs, UpdateClientArgs } from './script-loader';

/** The structured arguments RedisClientStore hands its Lua scripts, built from the store's own types. */

/** The structured argument of insertClient-1.lua. */
export function insertArgs({ client, status, token }: ClientEntry, seq: number): InsertClientArgs {
  return {
    client: encodeClient(client),
    generation: String(client.generation),
    state: status.state,
    status: encodeStatus(status),
    token: token === null ? undefined : encodeToken(token),
    seq: String(seq),
  };
}

/** The structured argument of updateClient-2.lua: a part left out is left as it is. */
export function updateArgs(
  id: string,
  expectedGeneration: number,
  change: ClientChange,
  releaseLockOf?: string,
): UpdateClientArgs {
  const { client, status, token } = change;
  return {
    id,
    expectedGeneration: String(expectedGeneration),
    client: client && encodeClient(client),
    generation: client && String(client.generation),
    status: status && encodeStatus(status),
    state: status?.state,
    token: token === undefined ? undefined : token && encodeToken(token),
    lockOwner: releaseLockOf,
    now: status && new Date().toISOString(),
  };
}
