import { DuplicateClientError, type BrokerStore } from '../src/store/broker-store';
import {
  initialStatus,
  type AuditEvent,
  type ClientEntry,
  type ClientState,
  type ClientStatus,
  type ServiceKeyRecord,
  type StoreEvent,
  type StoredToken,
} from '../src/store/store.types';

/**
 * What every BrokerStore promises (see the doc comments in
 * src/store/broker-store.ts). Each test gets a fresh, empty store from
 * `makeStore` and closes it afterwards; `cleanup` runs once at the end.
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<BrokerStore>,
  cleanup?: () => Promise<void>,
): void {
  describe(`${name}: BrokerStore contract`, () => {
    let store: BrokerStore;
    const acquireLock = async (id: string, owner: string, ttlMs: number) => (await store.lockAndRead(id, owner, ttlMs)).locked;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      await store.close();
    });

    if (cleanup) afterAll(cleanup);

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('clients', () => {
      it('returns what was inserted, and null for an unknown id', async () => {
        const withToken = makeEntry('cl_a', { token: makeToken(1) });
        const withoutToken = makeEntry('cl_b');
        await store.insertClient(withToken, UNSCHEDULED);
        await store.insertClient(withoutToken, UNSCHEDULED);

        expect(await store.getClient('cl_a')).toEqual(withToken);
        expect(await store.getClient('cl_b')).toEqual(withoutToken);
        expect(await store.getClient('cl_unknown')).toBeNull();
      });

      it('refuses a second client with the same id', async () => {
        await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
        const again = store.insertClient(makeEntry('cl_a', { clientId: 'another-oauth-id' }), UNSCHEDULED);
        await expect(again).rejects.toThrow();
        await expect(again).rejects.not.toBeInstanceOf(DuplicateClientError);
      });

      it('refuses the same OAuth client id twice in one workspace, naming the existing client', async () => {
        await store.insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
        const duplicate = store.insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED);

        await expect(duplicate).rejects.toBeInstanceOf(DuplicateClientError);
        await expect(duplicate).rejects.toMatchObject({ existingId: 'cl_a' });
        expect(await store.getClient('cl_b')).toBeNull();
        expect((await store.listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a']);
        expect((await store.tokenStats(10)).total).toBe(1);
        expect((await store.tokenStats(10)).byState.pending).toBe(1);
      });

      it('allows the same OAuth client id in another workspace', async () => {
        await store.insertClient(makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'shared' }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_b', { workspaceId: 'o_two', clientId: 'shared' }), UNSCHEDULED);
        expect(await store.getClient('cl_b')).not.toBeNull();
      });

      it('does not index api_key clients by client id: many may share a workspace', async () => {
        await store.insertClient(makeEntry('cl_a', { clientId: null }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_b', { clientId: null }), UNSCHEDULED);
        expect((await store.listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b']);
      });

      it('frees the OAuth client id when its client is deleted', async () => {
        await store.insertClient(makeEntry('cl_a', { clientId: 'shared' }), UNSCHEDULED);
        await store.deleteClient('cl_a');
        await store.insertClient(makeEntry('cl_b', { clientId: 'shared' }), UNSCHEDULED);
        await expect(store.insertClient(makeEntry('cl_c', { clientId: 'shared' }), UNSCHEDULED)).rejects.toMatchObject({
          existingId: 'cl_b',
        });
      });
    });

    describe('updateClient', () => {
      it('is not_found for an unknown client', async () => {
        expect(await store.updateClient('cl_unknown', 1, { status: statusIn('ready') })).toBe('not_found');
        expect(await store.getClient('cl_unknown')).toBeNull();
      });

      it('is stale, and changes nothing, when the generation differs', async () => {
        const entry = makeEntry('cl_a', { token: makeToken(1) });
        await store.insertClient(entry, UNSCHEDULED);

        const outcome = await store.updateClient('cl_a', 2, {
          client: { ...entry.client, name: 'renamed', generation: 3 },
          status: statusIn('ready'),
          token: null,
        });

        expect(outcome).toBe('stale');
        expect(await store.getClient('cl_a')).toEqual(entry);
      });

      it('writes only the parts given', async () => {
        const entry = makeEntry('cl_a', { token: makeToken(1) });
        await store.insertClient(entry, UNSCHEDULED);
        const ready = statusIn('ready');

        expect(await store.updateClient('cl_a', 1, { status: ready })).toBe('ok');
        expect(await store.getClient('cl_a')).toEqual({ ...entry, status: ready });

        const renamed = { ...entry.client, name: 'renamed', updatedAt: '2025-02-01T00:00:00.000Z' };
        expect(await store.updateClient('cl_a', 1, { client: renamed })).toBe('ok');
        expect(await store.getClient('cl_a')).toEqual({ client: renamed, status: ready, token: entry.token });
      });

      it('fences on the new generation once the client record bumps it', async () => {
        const entry = makeEntry('cl_a');
        await store.insertClient(entry, UNSCHEDULED);
        const rotated = { ...entry.client, sealedSecret: 'sealed-new-secret', generation: 2 };

        expect(await store.updateClient('cl_a', 1, { client: rotated })).toBe('ok');
        expect(await store.updateClient('cl_a', 1, { token: makeToken(1) })).toBe('stale');
        expect(await store.updateClient('cl_a', 2, { token: makeToken(2) })).toBe('ok');
        expect(await store.getClient('cl_a')).toEqual({ client: rotated, status: entry.status, token: makeToken(2) });
      });

      it('replaces the token, keeps it when token is undefined, removes it when token is null', async () => {
        await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
        const token = makeToken(1, { sealedAccessToken: 'sealed-second' });

        expect(await store.updateClient('cl_a', 1, { token })).toBe('ok');
        expect((await store.getClient('cl_a'))?.token).toEqual(token);

        expect(await store.updateClient('cl_a', 1, { status: statusIn('ready') })).toBe('ok');
        expect((await store.getClient('cl_a'))?.token).toEqual(token);

        expect(await store.updateClient('cl_a', 1, { token: null })).toBe('ok');
        expect((await store.getClient('cl_a'))?.token).toBeNull();
      });

      it('refuses to change which client it is (id, workspace, OAuth client id)', async () => {
        const entry = makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'oauth-a' });
        await store.insertClient(entry, UNSCHEDULED);

        for (const changed of [
          { ...entry.client, workspaceId: 'o_two' },
          makeEntry('cl_a', { workspaceId: 'o_one', clientId: 'oauth-b' }).client,
          { ...entry.client, id: 'cl_b' },
        ]) {
          await expect(store.updateClient('cl_a', 1, { client: changed })).rejects.toThrow(/cannot change/);
        }
        expect(await store.getClient('cl_a')).toEqual(entry);
      });
    });

    describe('deleteClient', () => {
      it('returns what it removed, then null', async () => {
        const entry = makeEntry('cl_a', { token: makeToken(1), status: statusIn('ready') });
        await store.insertClient(entry, UNSCHEDULED);

        expect(await store.deleteClient('cl_a')).toEqual(entry);
        expect(await store.getClient('cl_a')).toBeNull();
        expect(await store.listClients({ limit: 10 })).toEqual([]);
        expect(await store.listClientIds(undefined, 10)).toEqual([]);
        expect(await store.updateClient('cl_a', 1, { status: statusIn('failing') })).toBe('not_found');
        expect(await store.deleteClient('cl_a')).toBeNull();
      });

      it('removes its schedule entry and its lock', async () => {
        await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
        await store.setDue('cl_a', 1_000);
        expect(await acquireLock('cl_a', 'replica-1', 60_000)).toBe(true);

        await store.deleteClient('cl_a');

        expect((await store.claimDue(10_000, 20_000, 10)).due).toEqual([]);
        expect((await store.tokenStats(10)).nextDueAt).toBeNull();
        expect(await acquireLock('cl_a', 'replica-2', 60_000)).toBe(true);
      });
    });

    describe('listing', () => {
      beforeEach(async () => {
        await store.insertClient(makeEntry('cl_c', { workspaceId: 'o_one' }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_a', { workspaceId: 'o_one' }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_b', { workspaceId: 'o_two' }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_d', { workspaceId: 'o_two' }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_e', { workspaceId: 'o_one' }), UNSCHEDULED);
      });

      it('lists ascending by id, in pages after a cursor', async () => {
        expect((await store.listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b', 'cl_c', 'cl_d', 'cl_e']);
        expect((await store.listClients({ limit: 2 })).map(idOf)).toEqual(['cl_a', 'cl_b']);
        expect((await store.listClients({ limit: 2, afterId: 'cl_b' })).map(idOf)).toEqual(['cl_c', 'cl_d']);
        expect((await store.listClients({ limit: 2, afterId: 'cl_d' })).map(idOf)).toEqual(['cl_e']);
        expect(await store.listClients({ limit: 2, afterId: 'cl_e' })).toEqual([]);
      });

      it('takes a cursor that is not a client id as a position between ids', async () => {
        expect((await store.listClients({ limit: 10, afterId: 'cl_bb' })).map(idOf)).toEqual(['cl_c', 'cl_d', 'cl_e']);
        expect((await store.listClients({ limit: 10, afterId: 'cl_' })).map(idOf)).toHaveLength(5);
      });

      it('lists one workspace only when asked', async () => {
        expect((await store.listClients({ workspaceId: 'o_one', limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_c', 'cl_e']);
        expect((await store.listClients({ workspaceId: 'o_one', limit: 1, afterId: 'cl_a' })).map(idOf)).toEqual(['cl_c']);
        expect((await store.listClients({ workspaceId: 'o_two', limit: 10 })).map(idOf)).toEqual(['cl_b', 'cl_d']);
        expect(await store.listClients({ workspaceId: 'o_none', limit: 10 })).toEqual([]);
      });

      it('returns whole entries', async () => {
        const [first] = await store.listClients({ limit: 1 });
        expect(first).toEqual(makeEntry('cl_a', { workspaceId: 'o_one' }));
      });

      it('lists every client id ascending, in pages', async () => {
        expect(await store.listClientIds(undefined, 3)).toEqual(['cl_a', 'cl_b', 'cl_c']);
        expect(await store.listClientIds('cl_c', 3)).toEqual(['cl_d', 'cl_e']);
        expect(await store.listClientIds('cl_e', 3)).toEqual([]);
      });

      it('shows a client that exists for the whole walk exactly once, whatever else changes meanwhile', async () => {
        // cl_a, cl_c and cl_e exist throughout; the others come and go between pages.
        const seen: string[] = [];
        const changes = [
          async () => {
            await store.deleteClient('cl_b');
            await store.insertClient(makeEntry('cl_0', { workspaceId: 'o_one' }), UNSCHEDULED);
          },
          async () => {
            await store.insertClient(makeEntry('cl_cc', { workspaceId: 'o_two' }), UNSCHEDULED);
            await store.deleteClient('cl_d');
          },
          async () => store.insertClient(makeEntry('cl_f', { workspaceId: 'o_one' }), UNSCHEDULED),
        ];
        let afterId: string | undefined;
        for (let page = 0; page < 20; page += 1) {
          const items = await store.listClients({ limit: 2, afterId });
          if (items.length === 0) break;
          seen.push(...items.map(idOf));
          afterId = items[items.length - 1].client.id;
          await changes[page]?.();
        }

        for (const id of ['cl_a', 'cl_c', 'cl_e']) expect(seen.filter((seenId) => seenId === id)).toHaveLength(1);
        expect(seen).toEqual([...seen].sort());
        expect(new Set(seen).size).toBe(seen.length);
      });
    });

    describe('tokenStats', () => {
      it('counts clients by state as they are inserted, change state and are deleted', async () => {
        expect(await store.tokenStats(10)).toEqual({
          total: 0,
          byState: { pending: 0, ready: 0, failing: 0, rejected: 0 },
          failingIds: [],
          nextDueAt: null,
        });

        for (const id of ['cl_a', 'cl_b', 'cl_c']) await store.insertClient(makeEntry(id), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_d', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
        expect(await counts()).toEqual({ total: 4, pending: 3, ready: 0, failing: 1, rejected: 0 });

        await store.updateClient('cl_a', 1, { status: statusIn('ready') });
        await store.updateClient('cl_b', 1, { status: statusIn('failing', isoAt(2)) });
        await store.updateClient('cl_c', 1, { status: statusIn('rejected', isoAt(3)) });
        expect(await counts()).toEqual({ total: 4, pending: 0, ready: 1, failing: 2, rejected: 1 });

        // Same state again, a stale write, a missing client, and a write without status: no change.
        await store.updateClient('cl_b', 1, { status: { ...statusIn('failing', isoAt(2)), consecutiveFailures: 2 } });
        await store.updateClient('cl_a', 7, { status: statusIn('rejected') });
        await store.updateClient('cl_unknown', 1, { status: statusIn('ready') });
        await store.updateClient('cl_a', 1, { token: makeToken(1) });
        expect(await counts()).toEqual({ total: 4, pending: 0, ready: 1, failing: 2, rejected: 1 });

        await store.deleteClient('cl_c');
        await store.updateClient('cl_b', 1, { status: statusIn('ready') });
        expect(await counts()).toEqual({ total: 3, pending: 0, ready: 2, failing: 1, rejected: 0 });

        await store.deleteClient('cl_a');
        await store.deleteClient('cl_b');
        await store.deleteClient('cl_d');
        expect(await counts()).toEqual({ total: 0, pending: 0, ready: 0, failing: 0, rejected: 0 });
      });

      it('lists failing and rejected clients, newest failure first, at most the limit', async () => {
        await store.insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(10)) }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_b'), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_c'), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_d'), UNSCHEDULED);
        await store.updateClient('cl_b', 1, { status: statusIn('rejected', isoAt(40)) });
        await store.updateClient('cl_c', 1, { status: statusIn('failing', isoAt(20)) });
        await store.updateClient('cl_d', 1, { status: statusIn('failing', isoAt(30)) });

        expect((await store.tokenStats(10)).failingIds).toEqual(['cl_b', 'cl_d', 'cl_c', 'cl_a']);
        expect((await store.tokenStats(2)).failingIds).toEqual(['cl_b', 'cl_d']);
        expect((await store.tokenStats(0)).failingIds).toEqual([]);

        await store.updateClient('cl_d', 1, { status: statusIn('ready') });
        await store.deleteClient('cl_b');
        expect((await store.tokenStats(10)).failingIds).toEqual(['cl_c', 'cl_a']);
      });

      it('puts a client that failed without a failingSince time at the top', async () => {
        await store.insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(10)) }), UNSCHEDULED);
        await store.insertClient(makeEntry('cl_b'), UNSCHEDULED);
        await store.updateClient('cl_b', 1, { status: statusIn('rejected', null) });
        expect((await store.tokenStats(10)).failingIds).toEqual(['cl_b', 'cl_a']);
      });

      it('reports the earliest scheduled refresh', async () => {
        await store.setDue('cl_a', 5_000);
        await store.setDue('cl_b', 3_000);
        expect((await store.tokenStats(10)).nextDueAt).toBe(3_000);
        await store.removeDue('cl_b');
        expect((await store.tokenStats(10)).nextDueAt).toBe(5_000);
      });

      async function counts() {
        const stats = await store.tokenStats(100);
        return { total: stats.total, ...stats.byState };
      }
    });

    describe('schedule', () => {
      it('claims only clients due at or before now, earliest first, with the time each was due', async () => {
        await store.setDue('cl_late', 10_000);
        await store.setDue('cl_b', 2_000);
        await store.setDue('cl_a', 1_000);
        await store.setDue('cl_exact', 2_500);

        expect((await store.claimDue(2_500, 60_000, 10)).due).toEqual([
          { id: 'cl_a', dueAt: 1_000 },
          { id: 'cl_b', dueAt: 2_000 },
          { id: 'cl_exact', dueAt: 2_500 },
        ]);
        // The client that was not due keeps its time.
        expect((await store.claimDue(10_000, 60_000, 10)).due).toEqual([{ id: 'cl_late', dueAt: 10_000 }]);
      });

      it('leases what it claims: not claimed again before leaseUntil, claimed again from then', async () => {
        await store.setDue('cl_a', 1_000);
        expect((await store.claimDue(1_000, 5_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 1_000 }]);
        expect((await store.claimDue(4_999, 9_000, 10)).due).toEqual([]);
        expect((await store.tokenStats(10)).nextDueAt).toBe(5_000);
        expect((await store.claimDue(5_000, 9_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 5_000 }]);
      });

      it('takes at most limit clients; the rest stay due', async () => {
        for (let index = 1; index <= 5; index += 1) await store.setDue(`cl_${index}`, index * 100);
        expect((await store.claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_1', 'cl_2']);
        expect((await store.claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_3', 'cl_4']);
        expect((await store.claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_5']);
        expect((await store.claimDue(1_000, 60_000, 0)).due).toEqual([]);
      });

      it('setDue reschedules, removeDue unschedules', async () => {
        await store.setDue('cl_a', 1_000);
        await store.setDue('cl_b', 1_000);
        await store.setDue('cl_a', 8_000);
        await store.removeDue('cl_b');
        await store.removeDue('cl_never_scheduled');

        expect((await store.claimDue(5_000, 60_000, 10)).due).toEqual([]);
        expect((await store.claimDue(8_000, 60_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 8_000 }]);
      });

      it('tells when the earliest client it left behind is due, leases included', async () => {
        expect((await store.claimDue(1_000, 60_000, 10)).nextDueAt).toBeNull();
        await store.setDue('cl_a', 1_000);
        await store.setDue('cl_b', 7_000);
        expect(await store.claimDue(1_000, 60_000, 10)).toEqual({ due: [{ id: 'cl_a', dueAt: 1_000 }], nextDueAt: 7_000 });
        expect(await store.claimDue(7_000, 5_000, 10)).toEqual({ due: [{ id: 'cl_b', dueAt: 7_000 }], nextDueAt: 5_000 });
        await store.removeDue('cl_a');
        await store.removeDue('cl_b');
        expect((await store.claimDue(1_000, 60_000, 10)).nextDueAt).toBeNull();
      });

      it('claims a client once even when it was rescheduled back to an earlier time', async () => {
        await store.setDue('cl_a', 1_000);
        await store.setDue('cl_a', 3_000);
        await store.setDue('cl_a', 1_000);
        expect((await store.claimDue(5_000, 0, 10)).due).toEqual([{ id: 'cl_a', dueAt: 1_000 }]);
      });
    });

    describe('locks', () => {
      it('gives a lock to one owner at a time, and only its owner releases it', async () => {
        expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(true);
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
        expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(false);
        expect(await acquireLock('cl_b', 'owner-2', 60_000)).toBe(true);

        expect(await store.releaseLock('cl_a', 'owner-2')).toBe(false);
        expect(await acquireLock('cl_a', 'owner-3', 60_000)).toBe(false);

        expect(await store.releaseLock('cl_a', 'owner-1')).toBe(true);
        expect(await store.releaseLock('cl_a', 'owner-1')).toBe(false);
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
      });

      it('reads the client in the same step as it takes the lock, and nothing when the lock is taken', async () => {
        const entry = makeEntry('cl_a', { token: makeToken(1) });
        await store.insertClient(entry, UNSCHEDULED);
        expect(await store.lockAndRead('cl_a', 'owner-1', 60_000)).toEqual({ locked: true, entry });
        expect(await store.lockAndRead('cl_a', 'owner-2', 60_000)).toEqual({ locked: false });
        expect(await store.lockAndRead('cl_deleted', 'owner-1', 60_000)).toEqual({ locked: true, entry: null });
      });

      it("releases the lock its owner names in the same write, whatever the write's outcome, and no one else's", async () => {
        await store.insertClient(makeEntry('cl_a'), UNSCHEDULED);
        expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(true);
        expect(await store.updateClient('cl_a', 1, { status: statusIn('ready') }, 'owner-2')).toBe('ok');
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
        expect(await store.updateClient('cl_a', 1, { status: statusIn('ready') }, 'owner-1')).toBe('ok');
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
        expect(await store.updateClient('cl_a', 99, { status: statusIn('failing') }, 'owner-2')).toBe('stale');
        expect(await acquireLock('cl_a', 'owner-3', 60_000)).toBe(true);
        expect(await acquireLock('cl_gone', 'owner-1', 60_000)).toBe(true);
        expect(await store.updateClient('cl_gone', 1, { status: statusIn('ready') }, 'owner-1')).toBe('not_found');
        expect(await acquireLock('cl_gone', 'owner-2', 60_000)).toBe(true);
      });

      it('frees a lock when it expires', async () => {
        expect(await acquireLock('cl_a', 'owner-1', 100)).toBe(true);
        await sleep(250);
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
        expect(await store.releaseLock('cl_a', 'owner-1')).toBe(false);
        expect(await store.releaseLock('cl_a', 'owner-2')).toBe(true);
      });

      it('extends a lock only for its owner, keeping it past its first expiry', async () => {
        expect(await acquireLock('cl_a', 'owner-1', 150)).toBe(true);
        expect(await store.extendLock('cl_a', 'owner-2', 60_000)).toBe(false);
        expect(await store.extendLock('cl_a', 'owner-1', 60_000)).toBe(true);
        await sleep(300);
        expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
        expect(await store.releaseLock('cl_a', 'owner-1')).toBe(true);
        expect(await store.extendLock('cl_a', 'owner-1', 60_000)).toBe(false);
      });
    });

    describe('scheduling on insert', () => {
      it('makes a new client due at the time given, so a client is never stored unscheduled', async () => {
        await store.insertClient(makeEntry('cl_new'), 1_000);
        expect((await store.claimDue(999, 5_000, 10)).due).toEqual([]);
        expect((await store.claimDue(1_000, 5_000, 10)).due).toEqual([{ id: 'cl_new', dueAt: 1_000 }]);
      });
    });

    describe('service keys', () => {
      const first = serviceKey('sk_b', '2025-01-01T00:00:00.000Z', ['o_one', 'o_two']);
      const second = serviceKey('sk_a', '2025-01-02T00:00:00.000Z', ['*']);

      it('stores, lists (oldest first), and deletes service keys', async () => {
        expect(await store.listServiceKeys()).toEqual([]);
        await store.insertServiceKey(second);
        await store.insertServiceKey(first);

        expect(await store.getServiceKey('sk_b')).toEqual(first);
        expect(await store.getServiceKey('sk_unknown')).toBeNull();
        expect(await store.listServiceKeys()).toEqual([first, second]);

        expect(await store.deleteServiceKey('sk_b')).toBe(true);
        expect(await store.deleteServiceKey('sk_b')).toBe(false);
        expect(await store.getServiceKey('sk_b')).toBeNull();
        expect(await store.listServiceKeys()).toEqual([second]);
      });
    });

    describe('audit', () => {
      it('appends events with increasing ids and lists them newest first', async () => {
        const appended: AuditEvent[] = [];
        for (let index = 0; index < 5; index += 1) appended.push(await store.appendAudit(auditEvent(`cl_${index}`), 100));

        expect(appended[0]).toEqual({ ...auditEvent('cl_0'), id: expect.any(String) });
        expect(new Set(appended.map((event) => event.id)).size).toBe(5);
        expect(await store.listAudit({ limit: 10 })).toEqual([...appended].reverse());
      });

      it('pages with beforeId, exclusive', async () => {
        const ids: string[] = [];
        for (let index = 0; index < 5; index += 1) ids.push((await store.appendAudit(auditEvent(`cl_${index}`), 100)).id);

        expect((await store.listAudit({ limit: 2 })).map(idOf)).toEqual([ids[4], ids[3]]);
        expect((await store.listAudit({ limit: 2, beforeId: ids[3] })).map(idOf)).toEqual([ids[2], ids[1]]);
        expect((await store.listAudit({ limit: 2, beforeId: ids[1] })).map(idOf)).toEqual([ids[0]]);
        expect(await store.listAudit({ limit: 2, beforeId: ids[0] })).toEqual([]);
      });

      it('filters by client, by workspace, or both', async () => {
        const a1 = await store.appendAudit(auditEvent('cl_a', 'o_one'), 100);
        const b1 = await store.appendAudit(auditEvent('cl_b', 'o_one'), 100);
        const keyEvent = await store.appendAudit({ ...auditEvent(null, null), action: 'service_key.create' }, 100);
        const c2 = await store.appendAudit(auditEvent('cl_c', 'o_two'), 100);
        const a2 = await store.appendAudit(auditEvent('cl_a', 'o_one'), 100);

        expect(await store.listAudit({ clientId: 'cl_a', limit: 10 })).toEqual([a2, a1]);
        expect(await store.listAudit({ workspaceId: 'o_one', limit: 10 })).toEqual([a2, b1, a1]);
        expect(await store.listAudit({ workspaceId: 'o_two', clientId: 'cl_a', limit: 10 })).toEqual([]);
        expect(await store.listAudit({ workspaceId: 'o_one', clientId: 'cl_b', limit: 10 })).toEqual([b1]);
        expect(await store.listAudit({ limit: 10 })).toEqual([a2, c2, keyEvent, b1, a1]);
        expect(await store.listAudit({ workspaceId: 'o_one', limit: 2 })).toEqual([a2, b1]);
        expect(await store.listAudit({ workspaceId: 'o_one', limit: 2, beforeId: b1.id })).toEqual([a1]);
      });

      it('finds sparse matches deep in a long log', async () => {
        const needles: AuditEvent[] = [];
        for (let index = 0; index < 1_100; index += 1) {
          const event = await store.appendAudit(auditEvent(index === 0 || index === 600 ? 'cl_needle' : `cl_${index}`), 10_000);
          if (event.clientId === 'cl_needle') needles.push(event);
        }
        expect(await store.listAudit({ clientId: 'cl_needle', limit: 5 })).toEqual([...needles].reverse());
      });

      it('keeps only the newest maxEvents events', async () => {
        const appended: AuditEvent[] = [];
        for (let index = 0; index < 6; index += 1) appended.push(await store.appendAudit(auditEvent(`cl_${index}`), 4));
        expect(await store.listAudit({ limit: 10 })).toEqual(appended.slice(2).reverse());
      });

      it('refuses a cursor that is not an event id', async () => {
        await store.appendAudit(auditEvent('cl_a'), 100);
        await expect(store.listAudit({ limit: 10, beforeId: 'not-an-id' })).rejects.toThrow(/audit cursor/);
      });
    });

    describe('events', () => {
      it('delivers both kinds of event to every subscriber, in order', async () => {
        const first = await subscribed(store);
        const second = await subscribed(store);

        await store.publish({ kind: 'client', id: 'cl_a' });
        await store.publish({ kind: 'service_key', id: 'sk_a' });
        await store.publish({ kind: 'client', id: 'cl_b' });

        const expected: StoreEvent[] = [
          { kind: 'client', id: 'cl_a' },
          { kind: 'service_key', id: 'sk_a' },
          { kind: 'client', id: 'cl_b' },
        ];
        await eventually(() => expect(first.events()).toEqual(expected));
        await eventually(() => expect(second.events()).toEqual(expected));
      });

      it('announces every stored change of a client or service key as part of the write, and nothing else', async () => {
        const heard = await subscribed(store);
        await store.insertClient(makeEntry('cl_e'), UNSCHEDULED);
        expect(await store.updateClient('cl_e', 99, { status: statusIn('ready') })).toBe('stale');
        expect(await store.updateClient('cl_e', 1, { status: statusIn('ready') })).toBe('ok');
        expect(await store.updateClient('cl_missing', 1, { status: statusIn('ready') })).toBe('not_found');
        await store.deleteClient('cl_e');
        await store.insertServiceKey(serviceKey('sk_e', '2025-01-01T00:00:00.000Z', ['*']));
        await store.deleteServiceKey('sk_e');
        await eventually(() =>
          expect(heard.events()).toEqual([
            { kind: 'client', id: 'cl_e' },
            { kind: 'client', id: 'cl_e' },
            { kind: 'service_key', id: 'sk_e' },
            { kind: 'service_key', id: 'sk_e' },
          ]),
        );
      });

      it('keeps delivering to the others when one subscriber throws', async () => {
        store.subscribe(
          () => {
            throw new Error('subscriber bug');
          },
          () => undefined,
        );
        const healthy = await subscribed(store);
        await store.publish({ kind: 'client', id: 'cl_a' });
        await store.publish({ kind: 'client', id: 'cl_b' });
        await eventually(() => expect(healthy.events().map(idOf)).toEqual(['cl_a', 'cl_b']));
      });
    });

    describe('isolation', () => {
      it('keeps no reference to what callers pass in or get back', async () => {
        const entry = makeEntry('cl_a', { token: makeToken(1) });
        const expected = structuredClone(entry);
        await store.insertClient(entry, UNSCHEDULED);
        entry.client.name = 'mutated';
        entry.token!.sealedAccessToken = 'mutated';

        const read = (await store.getClient('cl_a'))!;
        read.status.state = 'rejected';
        read.client.scope = 'mutated';
        const [listed] = await store.listClients({ limit: 1 });
        listed.client.name = 'mutated';
        expect(await store.getClient('cl_a')).toEqual(expected);

        const status = statusIn('ready');
        await store.updateClient('cl_a', 1, { status });
        status.lastError = 'mutated';
        expect((await store.getClient('cl_a'))?.status).toEqual(statusIn('ready'));

        const removed = (await store.deleteClient('cl_a'))!;
        removed.client.name = 'mutated after delete';

        const record = serviceKey('sk_a', '2025-01-01T00:00:00.000Z', ['o_one']);
        await store.insertServiceKey(record);
        record.workspaces.push('o_mutated');
        (await store.getServiceKey('sk_a'))!.workspaces.push('o_mutated');
        (await store.listServiceKeys())[0].workspaces.push('o_mutated');
        expect((await store.getServiceKey('sk_a'))?.workspaces).toEqual(['o_one']);

        const appended = await store.appendAudit(auditEvent('cl_a'), 100);
        appended.actor = 'mutated';
        expect((await store.listAudit({ limit: 1 }))[0].actor).toBe('admin:0123abcd');
      });
    });
  });
}

export function makeEntry(
  id: string,
  options: { workspaceId?: string; clientId?: string | null; status?: ClientStatus; token?: StoredToken | null } = {},
): ClientEntry {
  const clientId = options.clientId === undefined ? `oauth-${id}` : options.clientId;
  const common = {
    id,
    workspaceId: options.workspaceId ?? 'o_one',
    name: `client ${id}`,
    scope: null,
    tokenRequestFormat: 'json' as const,
    secretHint: 'wxyz',
    sealedSecret: `v1:kid:sealed-secret-of-${id}`,
    generation: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
  return {
    client:
      clientId === null
        ? { ...common, type: 'api_key', clientId, tokenUrl: null }
        : { ...common, type: 'oauth_client_credentials', clientId, tokenUrl: 'https://api.pipedream.com/v1/oauth/token' },
    status: options.status ?? initialStatus(),
    token: options.token ?? null,
  };
}

export function makeToken(generation: number, overrides: Partial<StoredToken> = {}): StoredToken {
  return {
    sealedAccessToken: `v1:kid:sealed-token-${generation}`,
    expiresAt: 1_750_000_000_000 + 3_600_000,
    obtainedAt: 1_750_000_000_000,
    generation,
    ...overrides,
  };
}

export function statusIn(state: ClientState, failingSince: string | null = null): ClientStatus {
  return {
    ...initialStatus(),
    state,
    failingSince,
    lastError: state === 'failing' || state === 'rejected' ? 'upstream said no' : null,
    tokenExpiresAt: state === 'ready' ? '2025-06-15T16:00:00.000Z' : null,
  };
}

/** An ISO time `minutes` after a fixed origin. */
function isoAt(minutes: number): string {
  return new Date(Date.UTC(2025, 0, 1) + minutes * 60_000).toISOString();
}

function serviceKey(id: string, createdAt: string, workspaces: string[]): ServiceKeyRecord {
  return { id, name: `key ${id}`, workspaces, keyHash: 'ab'.repeat(32), createdAt };
}

function auditEvent(clientId: string | null, workspaceId: string | null = 'o_one'): Omit<AuditEvent, 'id'> {
  return { at: '2025-01-01T00:00:00.000Z', actor: 'admin:0123abcd', action: 'client.update', clientId, workspaceId };
}

function idOf(item: { id: string } | { client: { id: string } }): string {
  return 'client' in item ? item.client.id : item.id;
}

const PROBE_ID = 'probe';

/** A due time far enough ahead that clients inserted by these tests stay out of the schedule tests' way. */
export const UNSCHEDULED = 8_000_000_000_000;

/**
 * Subscribes and waits until the subscription is live: with Redis it is
 * made asynchronously, so probe events are published until one comes back.
 */
export async function subscribed(
  store: BrokerStore,
  onResync: () => void = () => undefined,
): Promise<{ events: () => StoreEvent[] }> {
  const received: StoreEvent[] = [];
  store.subscribe((event) => received.push(event), onResync);
  await eventually(async () => {
    await store.publish({ kind: 'client', id: PROBE_ID });
    await sleep(20);
    expect(received.map(idOf)).toContain(PROBE_ID);
  });
  return { events: () => received.filter((event) => event.id !== PROBE_ID) };
}

/** Retries an assertion until it passes or the time is up, then fails with its last error. */
export async function eventually(assertion: () => unknown | Promise<unknown>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
