import { DuplicateClientError } from '../broker-store';
import type { ClientEntry } from '../store.types';
import type { RedisConnection } from './redis-connection';

/**
 * Each workspace's OAuth client ids, reserved for the broker client that
 * holds them (one hash per workspace). A reservation can outlive its client
 * when a delete is cut short; such a one is taken over, never trusted: see
 * RedisClientStore's class comment.
 */
export class RedisClientIdReservations {
  constructor(private readonly connection: RedisConnection) {}

  private get keys() {
    return this.connection.keys;
  }

  /**
   * Reserves the workspace's OAuth client id for `id`. A reservation held by
   * a client whose hash is gone belongs to a delete that did not finish, and
   * is taken over.
   */
  async claimClientId(workspaceId: string, clientId: string, id: string): Promise<void> {
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

  /**
   * claimClientId for each OAuth entry, in order: one pipeline of HSETNX, then
   * claimClientId itself for each field found taken (a duplicate, a reclaim, or
   * an earlier entry of this batch).
   */
  async claimClientIds(entries: readonly ClientEntry[]): Promise<(DuplicateClientError | null)[]> {
    const replies = await this.connection.pipeline((pipeline) => {
      for (const { client } of entries) {
        if (client.clientId !== null) {
          pipeline.hsetnx(this.keys.workspaceClientIds(client.workspaceId), client.clientId, client.id);
        }
      }
    });
    const outcomes: (DuplicateClientError | null)[] = [];
    let reply = 0;
    for (const { client } of entries) {
      if (client.clientId === null || replies[reply++] === 1) {
        outcomes.push(null);
        continue;
      }
      try {
        await this.claimClientId(client.workspaceId, client.clientId, client.id);
        outcomes.push(null);
      } catch (error) {
        if (!(error instanceof DuplicateClientError)) throw error;
        outcomes.push(error);
      }
    }
    return outcomes;
  }

  /** Compare-and-set of one reservation (removed when newOwner is left out); false when another client holds it. */
  async replaceClientIdOwner(
    workspaceId: string,
    claim: { clientId: string; expectedOwner: string; newOwner?: string },
  ): Promise<boolean> {
    const indexKey = this.keys.workspaceClientIds(workspaceId);
    return (await this.connection.script('replaceClientIdOwner', [indexKey], [claim])) === 1;
  }
}
