import { DuplicateClientError } from '../broker-store';
import type { ClientChange, ClientPageQuery, ClientStore, UpdateOutcome } from '../interfaces/client-store';
import { failingScore, identityChangeError, isFailingState } from '../store-helpers';
import { CLIENT_STATES, type ClientEntry, type ClientState, type ClientStatus, type TokenStats } from '../store.types';
import type { ChainableCommander } from 'ioredis';
import { clientEvent, pairsToRecord, parseEntry } from './redis-codec';
import type { RedisConnection } from './redis-connection';
import type { UpdateClientArgs } from './script-loader';

/**
 * Clients on Redis. Writes that touch global indexes are ordered so that a
 * crash or an outage between two steps cannot lose a registered client nor
 * make an index point at a wrong one:
 * - insert writes the client hash first, then claims the OAuth client id,
 *   then adds the id to the lists and counters;
 * - delete removes the client hash (and its lock) first, then its index
 *   entries and counter.
 * So an index entry whose hash is missing always belongs to a deleted client:
 * listClients skips (and drops) such entries and claimClientId takes over
 * such a client id. claimDue and tokenStats().failingIds may still name such
 * an id after a crash; callers treat a missing client as gone.
 */
export class RedisClientStore implements ClientStore {
  constructor(private readonly connection: RedisConnection) {}

  private get keys() {
    return this.connection.keys;
  }

  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    const { client, status, token } = entry;
    const created = await this.connection.script('insertClient', [this.keys.client(client.id)], [
      {
        client: JSON.stringify(client),
        generation: String(client.generation),
        state: status.state,
        status: JSON.stringify(status),
        token: token === null ? undefined : JSON.stringify(token),
      },
    ]);
    if (created !== 1) throw new Error(`a client with id ${client.id} already exists`);
    if (client.clientId !== null) {
      try {
        await this.claimClientId(client.workspaceId, client.clientId, client.id);
      } catch (error) {
        // The claim's error is what the caller must see; a hash left behind is unlisted and harmless.
        await this.connection.run((redis) => redis.del(this.keys.client(client.id))).catch(() => undefined);
        throw error;
      }
    }
    await this.connection.pipeline((pipeline) => {
      pipeline.zadd(this.keys.clients, 0, client.id);
      pipeline.zadd(this.keys.workspaceClients(client.workspaceId), 0, client.id);
      pipeline.hincrby(this.keys.stats, status.state, 1);
      if (isFailingState(status.state)) pipeline.zadd(this.keys.failing, failingScore(status), client.id);
      pipeline.zadd(this.keys.schedule, dueAt, client.id);
    });
  }

  async getClient(id: string): Promise<ClientEntry | null> {
    return parseEntry(await this.connection.run((redis) => redis.hgetall(this.keys.client(id))));
  }

  async listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    const { workspaceId } = query;
    const indexKey = workspaceId === undefined ? this.keys.clients : this.keys.workspaceClients(workspaceId);
    const page: ClientEntry[] = [];
    let afterId = query.afterId;
    // Index entries of deleted clients are skipped, so a page may take more than one read to fill.
    while (page.length < query.limit) {
      const wanted = query.limit - page.length;
      const ids = await this.idsAfter(indexKey, afterId, wanted);
      const entries = await this.readClients(ids);
      const orphans = ids.filter((_, index) => entries[index] === null);
      if (orphans.length > 0) await this.connection.run((redis) => redis.zrem(indexKey, ...orphans));
      for (const entry of entries) if (entry) page.push(entry);
      if (ids.length < wanted) break;
      afterId = ids[ids.length - 1];
    }
    return page;
  }

  async listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.idsAfter(this.keys.clients, afterId, limit);
  }

  async updateClient(
    id: string,
    expectedGeneration: number,
    change: ClientChange,
    releaseLockOf?: string,
  ): Promise<UpdateOutcome> {
    const { status } = change;
    const [outcome, previousState] = await this.connection.script(
      'updateClient',
      [this.keys.client(id), this.keys.lock(id)],
      [updateArgs(expectedGeneration, change, releaseLockOf), this.keys.events, clientEvent(id)],
    );
    if (outcome === 'immutable') throw identityChangeError();
    if (outcome === 'ok' && status && previousState && status.state !== previousState) {
      await this.moveBetweenStates(id, previousState, status);
    }
    return outcome;
  }

  async deleteClient(id: string): Promise<ClientEntry | null> {
    const fields = await this.connection.script(
      'deleteClient',
      [this.keys.client(id), this.keys.lock(id)],
      [this.keys.events, clientEvent(id)],
    );
    const entry = fields === null ? null : parseEntry(pairsToRecord(fields));
    if (entry === null) return null;
    const { workspaceId, clientId } = entry.client;
    await this.connection.pipeline((pipeline) => {
      pipeline.zrem(this.keys.clients, id);
      pipeline.zrem(this.keys.workspaceClients(workspaceId), id);
      pipeline.zrem(this.keys.schedule, id);
      pipeline.zrem(this.keys.failing, id);
      pipeline.hincrby(this.keys.stats, entry.status.state, -1);
    });
    if (clientId !== null) {
      // Compare-and-delete: a newer client may already have taken this client id over.
      await this.replaceClientIdOwner(workspaceId, { clientId, expectedOwner: id });
    }
    return entry;
  }

  async tokenStats(failingLimit: number): Promise<TokenStats> {
    const [total, counts, earliest, failingIds = []] = (await this.connection.pipeline((pipeline) => {
      pipeline.zcard(this.keys.clients);
      pipeline.hgetall(this.keys.stats);
      pipeline.zrange(this.keys.schedule, 0, 0, 'WITHSCORES');
      // ZREVRANGE 0 -1 would read every failing client: a limit of 0 asks for none.
      if (failingLimit > 0) pipeline.zrevrange(this.keys.failing, 0, failingLimit - 1);
    })) as [number, Record<string, string>, string[], string[] | undefined];
    const byState = {} as Record<ClientState, number>;
    // Counters can dip below zero after a crash between a delete's steps; never report that.
    for (const state of CLIENT_STATES) byState[state] = Math.max(0, Number(counts[state] ?? 0));
    return {
      total,
      byState,
      failingIds: failingIds.slice(0, Math.max(0, failingLimit)),
      nextDueAt: earliest.length === 0 ? null : Number(earliest[1]),
    };
  }

  /**
   * Reserves the workspace's OAuth client id for `id`. A reservation held by
   * a client whose hash is gone belongs to a delete that did not finish, and
   * is taken over.
   */
  private async claimClientId(workspaceId: string, clientId: string, id: string): Promise<void> {
    const indexKey = this.keys.workspaceClientIds(workspaceId);
    for (;;) {
      if ((await this.connection.run((redis) => redis.hsetnx(indexKey, clientId, id))) === 1) return;
      const holder = await this.connection.run((redis) => redis.hget(indexKey, clientId));
      if (holder === id) return;
      if (holder === null) continue;
      const held = await this.connection.run((redis) => redis.exists(this.keys.client(holder)));
      if (held === 1) throw new DuplicateClientError(holder);
      if (await this.replaceClientIdOwner(workspaceId, { clientId, expectedOwner: holder, newOwner: id })) return;
    }
  }

  private async replaceClientIdOwner(
    workspaceId: string,
    claim: { clientId: string; expectedOwner: string; newOwner?: string },
  ): Promise<boolean> {
    const indexKey = this.keys.workspaceClientIds(workspaceId);
    return (await this.connection.script('replaceClientIdOwner', [indexKey], [claim])) === 1;
  }

  private async moveBetweenStates(id: string, previousState: ClientState, status: ClientStatus): Promise<void> {
    await this.connection.pipeline((pipeline) => {
      pipeline.hincrby(this.keys.stats, previousState, -1);
      pipeline.hincrby(this.keys.stats, status.state, 1);
      this.trackFailing(pipeline, id, status);
    });
  }

  private trackFailing(pipeline: ChainableCommander, id: string, status: ClientStatus): void {
    if (isFailingState(status.state)) pipeline.zadd(this.keys.failing, failingScore(status), id);
    else pipeline.zrem(this.keys.failing, id);
  }

  private idsAfter(indexKey: string, afterId: string | undefined, limit: number): Promise<string[]> {
    if (limit <= 0) return Promise.resolve([]);
    const min = afterId === undefined ? '-' : `(${afterId}`;
    return this.connection.run((redis) => redis.zrangebylex(indexKey, min, '+', 'LIMIT', 0, limit));
  }

  private async readClients(ids: string[]): Promise<(ClientEntry | null)[]> {
    if (ids.length === 0) return [];
    const replies = await this.connection.pipeline((pipeline) => {
      for (const id of ids) pipeline.hgetall(this.keys.client(id));
    });
    return replies.map((fields) => parseEntry(fields as Record<string, string>));
  }
}

/** The structured argument of updateClient-2.lua: a part left out is left as it is. */
function updateArgs(expectedGeneration: number, change: ClientChange, releaseLockOf?: string): UpdateClientArgs {
  const { client, status, token } = change;
  return {
    expectedGeneration: String(expectedGeneration),
    client: client && JSON.stringify(client),
    generation: client && String(client.generation),
    status: status && JSON.stringify(status),
    state: status?.state,
    token: token === undefined ? undefined : token && JSON.stringify(token),
    lockOwner: releaseLockOf,
  };
}
