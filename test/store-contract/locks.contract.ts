import type { ClientStore, LockStore } from '../../src/store/broker-store';
import { UNSCHEDULED, makeEntry, makeToken, sleep, statusIn } from './fixtures';

/** Refresh locks. `store()` is the fresh store of the running test. */
export function describeLocksContract(store: () => ClientStore & LockStore): void {
  const acquireLock = async (id: string, owner: string, ttlMs: number) =>
    (await store().lockAndRead(id, owner, ttlMs)).locked;

  describe('locks', () => {
    it('gives a lock to one owner at a time, and only its owner releases it', async () => {
      expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(true);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
      expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(false);
      expect(await acquireLock('cl_b', 'owner-2', 60_000)).toBe(true);

      expect(await store().releaseLock('cl_a', 'owner-2')).toBe(false);
      expect(await acquireLock('cl_a', 'owner-3', 60_000)).toBe(false);

      expect(await store().releaseLock('cl_a', 'owner-1')).toBe(true);
      expect(await store().releaseLock('cl_a', 'owner-1')).toBe(false);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
    });

    it('reads the client in the same step as it takes the lock, and nothing when the lock is taken', async () => {
      const entry = makeEntry('cl_a', { token: makeToken(1) });
      await store().insertClient(entry, UNSCHEDULED);
      expect(await store().lockAndRead('cl_a', 'owner-1', 60_000)).toEqual({ locked: true, entry });
      expect(await store().lockAndRead('cl_a', 'owner-2', 60_000)).toEqual({ locked: false });
      expect(await store().lockAndRead('cl_deleted', 'owner-1', 60_000)).toEqual({ locked: true, entry: null });
    });

    it("releases the lock its owner names in the same write, whatever the write's outcome, and no one else's", async () => {
      await store().insertClient(makeEntry('cl_a'), UNSCHEDULED);
      expect(await acquireLock('cl_a', 'owner-1', 60_000)).toBe(true);
      expect(await store().updateClient('cl_a', 1, { status: statusIn('ready') }, 'owner-2')).toBe('ok');
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
      expect(await store().updateClient('cl_a', 1, { status: statusIn('ready') }, 'owner-1')).toBe('ok');
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
      expect(await store().updateClient('cl_a', 99, { status: statusIn('failing') }, 'owner-2')).toBe('stale');
      expect(await acquireLock('cl_a', 'owner-3', 60_000)).toBe(true);
      expect(await acquireLock('cl_gone', 'owner-1', 60_000)).toBe(true);
      expect(await store().updateClient('cl_gone', 1, { status: statusIn('ready') }, 'owner-1')).toBe('not_found');
      expect(await acquireLock('cl_gone', 'owner-2', 60_000)).toBe(true);
    });

    it('frees a lock when it expires', async () => {
      expect(await acquireLock('cl_a', 'owner-1', 100)).toBe(true);
      await sleep(250);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
      expect(await store().releaseLock('cl_a', 'owner-1')).toBe(false);
      expect(await store().releaseLock('cl_a', 'owner-2')).toBe(true);
    });

    it('extends a lock only for its owner, keeping it past its first expiry', async () => {
      expect(await acquireLock('cl_a', 'owner-1', 150)).toBe(true);
      expect(await store().extendLock('cl_a', 'owner-2', 60_000)).toBe(false);
      expect(await store().extendLock('cl_a', 'owner-1', 60_000)).toBe(true);
      await sleep(300);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
      expect(await store().releaseLock('cl_a', 'owner-1')).toBe(true);
      expect(await store().extendLock('cl_a', 'owner-1', 60_000)).toBe(false);
    });

    it('extends many locks in one call, each only for its owner, naming those it no longer held', async () => {
      expect(await acquireLock('cl_a', 'owner-1', 150)).toBe(true);
      expect(await acquireLock('cl_b', 'owner-1', 150)).toBe(true);
      expect(await acquireLock('cl_c', 'owner-2', 150)).toBe(true);
      expect(await acquireLock('cl_released', 'owner-1', 60_000)).toBe(true);
      expect(await store().releaseLock('cl_released', 'owner-1')).toBe(true);

      const lost = await store().extendLocks(
        [
          { id: 'cl_a', owner: 'owner-1' },
          { id: 'cl_b', owner: 'owner-1' },
          { id: 'cl_c', owner: 'owner-1' },
          { id: 'cl_released', owner: 'owner-1' },
          { id: 'cl_never', owner: 'owner-1' },
        ],
        60_000,
      );

      expect(lost).toEqual(['cl_c', 'cl_released', 'cl_never']);
      await sleep(300);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(false);
      expect(await acquireLock('cl_b', 'owner-2', 60_000)).toBe(false);
      // Not extended: owner-2's lock expired on time, and no lock was made for the ids never held.
      expect(await acquireLock('cl_c', 'owner-3', 60_000)).toBe(true);
      expect(await acquireLock('cl_never', 'owner-3', 60_000)).toBe(true);
      expect(await store().releaseLock('cl_a', 'owner-1')).toBe(true);
    });

    it('extends no lock, and names none, when given none', async () => {
      expect(await store().extendLocks([], 60_000)).toEqual([]);
    });

    it('does not extend a lock that has already expired', async () => {
      expect(await acquireLock('cl_a', 'owner-1', 100)).toBe(true);
      await sleep(250);
      expect(await store().extendLocks([{ id: 'cl_a', owner: 'owner-1' }], 60_000)).toEqual(['cl_a']);
      expect(await acquireLock('cl_a', 'owner-2', 60_000)).toBe(true);
    });
  });
}
