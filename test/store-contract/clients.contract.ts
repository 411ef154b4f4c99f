import {
  DuplicateClientError,
  type ClientStore,
  type LockStore,
  type ScheduleStore,
} from '../../src/store/broker-store';
import { UNSCHEDULED, idOf, makeEntry, makeToken, statusIn } from './fixtures';

/** Registering, updating and deleting clients. `store()` is the fresh store of the running test. */
export function describeClientsContract(store: () => ClientStore & ScheduleStore & LockStore): void {
  const acquireLock = async (id: string, owner: string, ttlMs: number) =>
    (await store().lockAndRead(id, owner, ttlMs)).locked;

  describe('clients', () => {
    it('returns what was inserted, and null for an unknown id', async () => {
      const withToken = makeEntry('cl_a', { token: makeToken(1) });
      const withoutToken = makeEntry('cl_b');
      await store().insertClient(withToken, UNSCHEDULED);
      await store().insertClient(withoutToken, UNSCHEDULED);

      expect(await store().getClient('cl_a')).toEqual(withToken);
      expect(await store().getClient('cl_b')).toEqual(withoutToken);
      expect(await store().getClient('cl_unknown')).toBeNull();
    });

    it('refuses a second client with the same id', async () => {
      await store().insertClient(makeEntry('cl_a'), UNSCHEDULED);
      const again = store().insertClient(makeEntry('cl_a', { clientId: 'another-oauth-id' }), UNSCHEDULED);
      await expect(again).rejects.toThrow();
      await expect(again).rejects.not.toBeInstanceOf(DuplicateClientError);
    });

    it('refuses the same OAuth client id twice in one workspace, naming the existing client', async () => {
      await store().insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
      const duplicate = store().insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED);

      await expect(duplicate).rejects.toBeInstanceOf(DuplicateClientError);
      await expect(duplicate).rejects.toMatchObject({ existingId: 'cl_a' });
      expect(await store().getClient('cl_b')).toBeNull();
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a']);
      expect((await store().tokenStats(10)).total).toBe(1);
      expect((await store().tokenStats(10)).byState.pending).toBe(1);
    });

    it('allows the same OAuth client id in another workspace', async () => {
      await store().insertClient(makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'shared' }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_b', { workspaceId: 'o_two', clientId: 'shared' }), UNSCHEDULED);
      expect(await store().getClient('cl_b')).not.toBeNull();
    });

    it('does not index api_key clients by client id: many may share a workspace', async () => {
      await store().insertClient(makeEntry('cl_a', { clientId: null }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_b', { clientId: null }), UNSCHEDULED);
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b']);
    });

    it('frees the OAuth client id when its client is deleted', async () => {
      await store().insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
      await store().deleteClient('cl_a');
      await store().insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED);
      await expect(store().insertClient(makeEntry('cl_c', { clientId: 'shared' }), UNSCHEDULED)).rejects.toMatchObject({
        existingId: 'cl_b',
      });
    });
  });

  describe('insertClients', () => {
    it('stores each entry as insertClient would, scheduled, listed and counted', async () => {
      const entries = [
        makeEntry('cl_a', { token: makeToken(1) }),
        makeEntry('cl_b', { clientId: null }),
        makeEntry('cl_c'),
      ];
      expect(await store().insertClients(entries, 1_000)).toEqual([null, null, null]);

      for (const entry of entries) expect(await store().getClient(entry.client.id)).toEqual(entry);
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b', 'cl_c']);
      expect((await store().tokenStats(10)).byState.pending).toBe(3);
      const claimed = await store().claimDue(1_000, 50_000, 10);
      expect(claimed.due.map((due) => due.id).sort()).toEqual(['cl_a', 'cl_b', 'cl_c']);
    });

    it("lists a batch spread over workspaces in each workspace's index, and counts each client once", async () => {
      const entries = ['cl_a', 'cl_b', 'cl_c', 'cl_d'].map((id, index) =>
        makeEntry(id, { workspaceId: index % 2 === 0 ? 'o_one' : 'o_two' }),
      );
      expect(await store().insertClients(entries, 1_000)).toEqual([null, null, null, null]);

      expect((await store().listClients({ workspaceId: 'o_one', limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_c']);
      expect((await store().listClients({ workspaceId: 'o_two', limit: 10 })).map(idOf)).toEqual(['cl_b', 'cl_d']);
      const stats = await store().tokenStats(10);
      expect(stats.total).toBe(4);
      expect(stats.byState.pending).toBe(4);
      expect(stats.nextDueAt).toBe(1_000);
    });

    it('answers a DuplicateClientError for a taken OAuth client id, and stores the others', async () => {
      await store().insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
      const outcomes = await store().insertClients(
        [makeEntry('cl_b'), makeEntry('cl_c', { clientId: 'shared' }), makeEntry('cl_d')],
        UNSCHEDULED,
      );

      expect(outcomes[0]).toBeNull();
      expect(outcomes[1]).toBeInstanceOf(DuplicateClientError);
      expect(outcomes[1]).toMatchObject({ existingId: 'cl_a' });
      expect(outcomes[2]).toBeNull();
      expect(await store().getClient('cl_c')).toBeNull();
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b', 'cl_d']);
      expect((await store().tokenStats(10)).total).toBe(3);
    });

    it('makes the second of two entries with one OAuth client id in a workspace the duplicate', async () => {
      const outcomes = await store().insertClients(
        [
          makeEntry('cl_b', { clientId: 'twice' }),
          makeEntry('cl_a', { clientId: 'twice' }),
          makeEntry('cl_c', { workspaceId: 'o_two', clientId: 'twice' }),
        ],
        UNSCHEDULED,
      );

      expect(outcomes[0]).toBeNull();
      expect(outcomes[1]).toMatchObject({ existingId: 'cl_b' });
      expect(outcomes[2]).toBeNull();
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_b', 'cl_c']);
    });

    it('takes over the OAuth client id of a deleted client', async () => {
      await store().insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
      await store().deleteClient('cl_a');
      expect(await store().insertClients([makeEntry('cl_b', { clientId: 'shared' })], UNSCHEDULED)).toEqual([null]);
      await expect(store().insertClient(makeEntry('cl_c', { clientId: 'shared' }), UNSCHEDULED)).rejects.toMatchObject({
        existingId: 'cl_b',
      });
    });

    it('answers nothing for no entries', async () => {
      expect(await store().insertClients([], UNSCHEDULED)).toEqual([]);
    });
  });

  describe('updateClient', () => {
    it('is not_found for an unknown client', async () => {
      expect(await store().updateClient('cl_unknown', 1, { status: statusIn('ready') })).toBe('not_found');
      expect(await store().getClient('cl_unknown')).toBeNull();
    });

    it('is stale, and changes nothing, when the generation differs', async () => {
      const entry = makeEntry('cl_a', { token: makeToken(1) });
      await store().insertClient(entry, UNSCHEDULED);

      const outcome = await store().updateClient('cl_a', 2, {
        client: { ...entry.client, name: 'renamed', generation: 3 },
        status: statusIn('ready'),
        token: null,
      });

      expect(outcome).toBe('stale');
      expect(await store().getClient('cl_a')).toEqual(entry);
    });

    it('writes only the parts given', async () => {
      const entry = makeEntry('cl_a', { token: makeToken(1) });
      await store().insertClient(entry, UNSCHEDULED);
      const ready = statusIn('ready');

      expect(await store().updateClient('cl_a', 1, { status: ready })).toBe('ok');
      expect(await store().getClient('cl_a')).toEqual({ ...entry, status: ready });

      const renamed = { ...entry.client, name: 'renamed', updatedAt: '2025-02-01T00:00:00.000Z' };
      expect(await store().updateClient('cl_a', 1, { client: renamed })).toBe('ok');
      expect(await store().getClient('cl_a')).toEqual({ client: renamed, status: ready, token: entry.token });
    });

    it('fences on the new generation once the client record bumps it', async () => {
      const entry = makeEntry('cl_a');
      await store().insertClient(entry, UNSCHEDULED);
      const rotated = { ...entry.client, sealedSecret: 'sealed-new-secret', generation: 2 };

      expect(await store().updateClient('cl_a', 1, { client: rotated })).toBe('ok');
      expect(await store().updateClient('cl_a', 1, { token: makeToken(1) })).toBe('stale');
      expect(await store().updateClient('cl_a', 2, { token: makeToken(2) })).toBe('ok');
      expect(await store().getClient('cl_a')).toEqual({ client: rotated, status: entry.status, token: makeToken(2) });
    });

    it('replaces the token, keeps it when token is undefined, removes it when token is null', async () => {
      await store().insertClient(makeEntry('cl_a'), UNSCHEDULED);
      const token = makeToken(1, { sealedAccessToken: 'sealed-second' });

      expect(await store().updateClient('cl_a', 1, { token })).toBe('ok');
      expect((await store().getClient('cl_a'))?.token).toEqual(token);

      expect(await store().updateClient('cl_a', 1, { status: statusIn('ready') })).toBe('ok');
      expect((await store().getClient('cl_a'))?.token).toEqual(token);

      expect(await store().updateClient('cl_a', 1, { token: null })).toBe('ok');
      expect((await store().getClient('cl_a'))?.token).toBeNull();
    });

    it('refuses to change which client it is (id, workspace, OAuth client id)', async () => {
      const entry = makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'oauth-a' });
      await store().insertClient(entry, UNSCHEDULED);

      for (const changed of [
        { ...entry.client, workspaceId: 'o_two' },
        makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'oauth-b' }).client,
        { ...entry.client, id: 'cl_b' },
      ]) {
        await expect(store().updateClient('cl_a', 1, { client: changed })).rejects.toThrow(/cannot change/);
      }
      expect(await store().getClient('cl_a')).toEqual(entry);
    });
  });

  describe('deleteClient', () => {
    it('returns what it removed, then null', async () => {
      const entry = makeEntry('cl_a', { token: makeToken(1), status: statusIn('ready') });
      await store().insertClient(entry, UNSCHEDULED);

      expect(await store().deleteClient('cl_a')).toEqual(entry);
      expect(await store().getClient('cl_a')).toBeNull();
      expect(await store().listClients({ limit: 10 })).toEqual([]);
      expect(await store().listClientIds(undefined, 10)).toEqual([]);
      expect(await store().updateClient('cl_a', 1, { status: statusIn('failing') })).toBe('not_found');
      expect(await store().deleteClient('cl_a')).toBeNull();
    });

    it('removes its schedule entry and its lock', async () => {
      await store().insertClient(makeEntry('cl_a'), UNSCHEDULED);
      await store().setDue('cl_a', 1_000);
      expect(await acquireLock('cl_a', 'replica-1', 60_000)).toBe(true);

      await store().deleteClient('cl_a');

      expect((await store().claimDue(10_000, 20_000, 10)).due).toEqual([]);
      expect((await store().tokenStats(10)).nextDueAt).toBeNull();
      expect(await acquireLock('cl_a', 'replica-2', 60_000)).toBe(true);
    });
  });
}
