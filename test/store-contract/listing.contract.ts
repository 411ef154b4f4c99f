import type { ClientStore, ScheduleStore } from '../../src/store/broker-store';
import { UNSCHEDULED, idOf, isoAt, makeEntry, makeToken, statusIn } from './fixtures';

/** Client pages and the state counters. `store()` is the fresh store of the running test. */
export function describeListingContract(store: () => ClientStore & ScheduleStore): void {
  describe('listing', () => {
    beforeEach(async () => {
      await store().insertClient(makeEntry('cl_c', { workspaceId: 'o_one' }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_a', { workspaceId: 'o_one' }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_b', { workspaceId: 'o_two' }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_d', { workspaceId: 'o_two' }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_e', { workspaceId: 'o_one' }), UNSCHEDULED);
    });

    it('lists ascending by id, in pages after a cursor', async () => {
      expect((await store().listClients({ limit: 10 })).map(idOf)).toEqual(['cl_a', 'cl_b', 'cl_c', 'cl_d', 'cl_e']);
      expect((await store().listClients({ limit: 2 })).map(idOf)).toEqual(['cl_a', 'cl_b']);
      expect((await store().listClients({ limit: 2, afterId: 'cl_b' })).map(idOf)).toEqual(['cl_c', 'cl_d']);
      expect((await store().listClients({ limit: 2, afterId: 'cl_d' })).map(idOf)).toEqual(['cl_e']);
      expect(await store().listClients({ limit: 2, afterId: 'cl_e' })).toEqual([]);
    });

    it('takes a cursor that is not a client id as a position between ids', async () => {
      expect((await store().listClients({ limit: 10, afterId: 'cl_bb' })).map(idOf)).toEqual(['cl_c', 'cl_d', 'cl_e']);
      expect((await store().listClients({ limit: 10, afterId: 'cl_' })).map(idOf)).toHaveLength(5);
    });

    it('lists one workspace only when asked', async () => {
      expect((await store().listClients({ workspaceId: 'o_one', limit: 10 })).map(idOf)).toEqual([
        'cl_a',
        'cl_c',
        'cl_e',
      ]);
      expect((await store().listClients({ workspaceId: 'o_one', limit: 1, afterId: 'cl_a' })).map(idOf)).toEqual([
        'cl_c',
      ]);
      expect((await store().listClients({ workspaceId: 'o_two', limit: 10 })).map(idOf)).toEqual(['cl_b', 'cl_d']);
      expect(await store().listClients({ workspaceId: 'o_none', limit: 10 })).toEqual([]);
    });

    it('returns whole entries', async () => {
      const [first] = await store().listClients({ limit: 1 });
      expect(first).toEqual(makeEntry('cl_a', { workspaceId: 'o_one' }));
    });

    it('lists every client id ascending, in pages', async () => {
      expect(await store().listClientIds(undefined, 3)).toEqual(['cl_a', 'cl_b', 'cl_c']);
      expect(await store().listClientIds('cl_c', 3)).toEqual(['cl_d', 'cl_e']);
      expect(await store().listClientIds('cl_e', 3)).toEqual([]);
    });

    it('shows a client that exists for the whole walk exactly once, whatever else changes meanwhile', async () => {
      // cl_a, cl_c and cl_e exist throughout; the others come and go between pages.
      const seen: string[] = [];
      const changes = [
        async () => {
          await store().deleteClient('cl_b');
          await store().insertClient(makeEntry('cl_0', { workspaceId: 'o_one' }), UNSCHEDULED);
        },
        async () => {
          await store().insertClient(makeEntry('cl_cc', { workspaceId: 'o_two' }), UNSCHEDULED);
          await store().deleteClient('cl_d');
        },
        async () => store().insertClient(makeEntry('cl_f', { workspaceId: 'o_one' }), UNSCHEDULED),
      ];
      let afterId: string | undefined;
      for (let page = 0; page < 20; page += 1) {
        const items = await store().listClients({ limit: 2, afterId });
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
      expect(await store().tokenStats(10)).toEqual({
        total: 0,
        byState: { pending: 0, ready: 0, failing: 0, rejected: 0 },
        failingIds: [],
        nextDueAt: null,
      });

      for (const id of ['cl_a', 'cl_b', 'cl_c']) await store().insertClient(makeEntry(id), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_d', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
      expect(await counts()).toEqual({ total: 4, pending: 3, ready: 0, failing: 1, rejected: 0 });

      await store().updateClient('cl_a', 1, { status: statusIn('ready') });
      await store().updateClient('cl_b', 1, { status: statusIn('failing', isoAt(2)) });
      await store().updateClient('cl_c', 1, { status: statusIn('rejected', isoAt(3)) });
      expect(await counts()).toEqual({ total: 4, pending: 0, ready: 1, failing: 2, rejected: 1 });

      // Same state again, a stale write, a missing client, and a write without status: no change.
      await store().updateClient('cl_b', 1, { status: { ...statusIn('failing', isoAt(2)), consecutiveFailures: 2 } });
      await store().updateClient('cl_a', 7, { status: statusIn('rejected') });
      await store().updateClient('cl_unknown', 1, { status: statusIn('ready') });
      await store().updateClient('cl_a', 1, { token: makeToken(1) });
      expect(await counts()).toEqual({ total: 4, pending: 0, ready: 1, failing: 2, rejected: 1 });

      await store().deleteClient('cl_c');
      await store().updateClient('cl_b', 1, { status: statusIn('ready') });
      expect(await counts()).toEqual({ total: 3, pending: 0, ready: 2, failing: 1, rejected: 0 });

      await store().deleteClient('cl_a');
      await store().deleteClient('cl_b');
      await store().deleteClient('cl_d');
      expect(await counts()).toEqual({ total: 0, pending: 0, ready: 0, failing: 0, rejected: 0 });
    });

    it('lists failing and rejected clients, newest failure first, at most the limit', async () => {
      await store().insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(10)) }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_b'), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_c'), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_d'), UNSCHEDULED);
      await store().updateClient('cl_b', 1, { status: statusIn('rejected', isoAt(40)) });
      await store().updateClient('cl_c', 1, { status: statusIn('failing', isoAt(20)) });
      await store().updateClient('cl_d', 1, { status: statusIn('failing', isoAt(30)) });

      expect((await store().tokenStats(10)).failingIds).toEqual(['cl_b', 'cl_d', 'cl_c', 'cl_a']);
      expect((await store().tokenStats(2)).failingIds).toEqual(['cl_b', 'cl_d']);
      expect((await store().tokenStats(0)).failingIds).toEqual([]);

      await store().updateClient('cl_d', 1, { status: statusIn('ready') });
      await store().deleteClient('cl_b');
      expect((await store().tokenStats(10)).failingIds).toEqual(['cl_c', 'cl_a']);
    });

    it('puts a client that failed without a failingSince time at the top', async () => {
      await store().insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(10)) }), UNSCHEDULED);
      await store().insertClient(makeEntry('cl_b'), UNSCHEDULED);
      await store().updateClient('cl_b', 1, { status: statusIn('rejected', null) });
      expect((await store().tokenStats(10)).failingIds).toEqual(['cl_b', 'cl_a']);
    });

    it('reports the earliest scheduled refresh', async () => {
      await store().setDue('cl_a', 5_000);
      await store().setDue('cl_b', 3_000);
      expect((await store().tokenStats(10)).nextDueAt).toBe(3_000);
      await store().removeDue('cl_b');
      expect((await store().tokenStats(10)).nextDueAt).toBe(5_000);
    });

    async function counts() {
      const stats = await store().tokenStats(100);
      return { total: stats.total, ...stats.byState };
    }
  });
}
