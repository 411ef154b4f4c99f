import type { ClientStore, ScheduleStore } from '../../src/store/broker-store';
import { idOf, makeEntry, statusIn } from './fixtures';

/** The refresh schedule. `store()` is the fresh store of the running test. */
export function describeScheduleContract(store: () => ClientStore & ScheduleStore): void {
  describe('schedule', () => {
    it('claims only clients due at or before now, earliest first, with the time each was due', async () => {
      await store().setDue('cl_late', 10_000);
      await store().setDue('cl_b', 2_000);
      await store().setDue('cl_a', 1_000);
      await store().setDue('cl_exact', 2_500);

      expect((await store().claimDue(2_500, 60_000, 10)).due).toEqual([
        { id: 'cl_a', dueAt: 1_000 },
        { id: 'cl_b', dueAt: 2_000 },
        { id: 'cl_exact', dueAt: 2_500 },
      ]);
      // The client that was not due keeps its time.
      expect((await store().claimDue(10_000, 60_000, 10)).due).toEqual([{ id: 'cl_late', dueAt: 10_000 }]);
    });

    it('leases what it claims: not claimed again before leaseUntil, claimed again from then', async () => {
      await store().setDue('cl_a', 1_000);
      expect((await store().claimDue(1_000, 5_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 1_000 }]);
      expect((await store().claimDue(4_999, 9_000, 10)).due).toEqual([]);
      expect((await store().tokenStats(10)).nextDueAt).toBe(5_000);
      expect((await store().claimDue(5_000, 9_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 5_000 }]);
    });

    it('takes at most limit clients; the rest stay due', async () => {
      for (let index = 1; index <= 5; index += 1) await store().setDue(`cl_${index}`, index * 100);
      expect((await store().claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_1', 'cl_2']);
      expect((await store().claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_3', 'cl_4']);
      expect((await store().claimDue(1_000, 60_000, 2)).due.map(idOf)).toEqual(['cl_5']);
      expect((await store().claimDue(1_000, 60_000, 0)).due).toEqual([]);
    });

    it('setDue reschedules, removeDue unschedules', async () => {
      await store().setDue('cl_a', 1_000);
      await store().setDue('cl_b', 1_000);
      await store().setDue('cl_a', 8_000);
      await store().removeDue('cl_b');
      await store().removeDue('cl_never_scheduled');

      expect((await store().claimDue(5_000, 60_000, 10)).due).toEqual([]);
      expect((await store().claimDue(8_000, 60_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 8_000 }]);
    });

    it('updateClient with dueAt reschedules the client in the same call, whatever the outcome', async () => {
      await store().insertClient(makeEntry('cl_a', { status: statusIn('ready') }), 1_000);
      expect((await store().claimDue(1_000, 60_000, 10)).due.map(idOf)).toEqual(['cl_a']);
      expect(await store().updateClient('cl_a', 1, { status: statusIn('ready') }, undefined, 9_000)).toBe('ok');
      expect((await store().claimDue(8_999, 60_000, 10)).due).toEqual([]);
      expect((await store().claimDue(9_000, 60_000, 10)).due).toEqual([{ id: 'cl_a', dueAt: 9_000 }]);
      // Stale: the write is refused and the client rescheduled all the same (its caller looks again).
      expect(await store().updateClient('cl_a', 99, { status: statusIn('ready') }, undefined, 20_000)).toBe('stale');
      expect((await store().tokenStats(10)).nextDueAt).toBe(20_000);
      expect((await store().getClient('cl_a'))?.status.state).toBe('ready');
    });

    it('tells when the earliest client it left behind is due, leases included', async () => {
      expect((await store().claimDue(1_000, 60_000, 10)).nextDueAt).toBeNull();
      await store().setDue('cl_a', 1_000);
      await store().setDue('cl_b', 7_000);
      expect(await store().claimDue(1_000, 60_000, 10)).toEqual({
        due: [{ id: 'cl_a', dueAt: 1_000 }],
        nextDueAt: 7_000,
      });
      expect(await store().claimDue(7_000, 5_000, 10)).toEqual({
        due: [{ id: 'cl_b', dueAt: 7_000 }],
        nextDueAt: 5_000,
      });
      await store().removeDue('cl_a');
      await store().removeDue('cl_b');
      expect((await store().claimDue(1_000, 60_000, 10)).nextDueAt).toBeNull();
    });

    it('claims a client once even when it was rescheduled back to an earlier time', async () => {
      await store().setDue('cl_a', 1_000);
      await store().setDue('cl_a', 3_000);
      await store().setDue('cl_a', 1_000);
      expect((await store().claimDue(5_000, 0, 10)).due).toEqual([{ id: 'cl_a', dueAt: 1_000 }]);
    });

    it('deferDue moves only the entries still due at the time given: one claimed, rescheduled or removed keeps its own', async () => {
      const due = 1_764_640_000_123;
      const ids = Array.from({ length: 40 }, (_, index) => `cl_import_${index}`);
      for (const id of ids) await store().setDue(id, due);
      await store().setDue('cl_import_1', due + 5);
      await store().removeDue('cl_import_2');
      await store().setDue('cl_other', due - 10);
      const claimed = (await store().claimDue(due - 10, due + 1_000, 1)).due;
      expect(claimed).toEqual([{ id: 'cl_other', dueAt: due - 10 }]);

      const until = due + 600_000;
      expect(await store().deferDue([...ids, 'cl_other', 'cl_never_scheduled'], due, until)).toBe(38);
      expect(await store().deferDue([], due, until)).toBe(0);

      const { due: nowDue, nextDueAt } = await store().claimDue(until - 1, until + 60_000, 100);
      expect(nowDue.map(idOf).sort()).toEqual(['cl_import_1', 'cl_other']);
      expect(nextDueAt).toBe(until);
      const moved = (await store().claimDue(until, until + 60_000, 100)).due;
      expect(moved).toHaveLength(38);
      expect(moved.every(({ dueAt }) => dueAt === until)).toBe(true);
    });
  });

  describe('scheduling on insert', () => {
    it('makes a new client due at the time given, so a client is never stored unscheduled', async () => {
      await store().insertClient(makeEntry('cl_new'), 1_000);
      expect((await store().claimDue(999, 5_000, 10)).due).toEqual([]);
      expect((await store().claimDue(1_000, 5_000, 10)).due).toEqual([{ id: 'cl_new', dueAt: 1_000 }]);
    });
  });
}
