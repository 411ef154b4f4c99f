import type { UsageStamps, UsageStore } from '../../src/store/broker-store';

const T0 = Date.UTC(2026, 0, 1);

function stamps(clients: [string, number][] = [], serviceKeys: [string, number][] = []): UsageStamps {
  return { clients: new Map(clients), serviceKeys: new Map(serviceKeys) };
}

/** Usage times. `store()` is the fresh store of the running test. */
export function describeUsageContract(store: () => UsageStore): void {
  describe('usage times', () => {
    it('knows no time for an id never recorded, and answers in the order asked', async () => {
      expect(await store().lastUsage('clients', ['cl_a', 'cl_b'])).toEqual([null, null]);
      expect(await store().lastUsage('serviceKeys', [])).toEqual([]);

      await store().recordUsage(stamps([['cl_b', T0 + 2]], [['sk_a', T0 + 3]]));

      expect(await store().lastUsage('clients', ['cl_a', 'cl_b'])).toEqual([null, T0 + 2]);
      expect(await store().lastUsage('clients', ['cl_b', 'cl_a'])).toEqual([T0 + 2, null]);
      expect(await store().lastUsage('serviceKeys', ['sk_a'])).toEqual([T0 + 3]);
    });

    it('keeps the kinds apart: a client and a key of the same id have their own times', async () => {
      await store().recordUsage(stamps([['same', T0 + 1]], [['same', T0 + 9]]));

      expect(await store().lastUsage('clients', ['same'])).toEqual([T0 + 1]);
      expect(await store().lastUsage('serviceKeys', ['same'])).toEqual([T0 + 9]);
    });

    it('keeps the later time: a late batch with an older stamp never moves a time back', async () => {
      await store().recordUsage(
        stamps(
          [
            ['cl_a', T0 + 5_000],
            ['cl_b', T0 + 1_000],
          ],
          [['sk_a', T0 + 5_000]],
        ),
      );
      // Another replica's batch, flushed later but seen earlier: only cl_b moves.
      await store().recordUsage(
        stamps(
          [
            ['cl_a', T0 + 4_000],
            ['cl_b', T0 + 2_000],
          ],
          [['sk_a', T0 + 10]],
        ),
      );

      expect(await store().lastUsage('clients', ['cl_a', 'cl_b'])).toEqual([T0 + 5_000, T0 + 2_000]);
      expect(await store().lastUsage('serviceKeys', ['sk_a'])).toEqual([T0 + 5_000]);
    });

    it('keeps millisecond times exactly', async () => {
      const at = Date.UTC(2026, 11, 31, 23, 59, 59, 999);
      await store().recordUsage(stamps([['cl_a', at]]));
      expect(await store().lastUsage('clients', ['cl_a'])).toEqual([at]);
    });

    it('takes a batch of many ids at once', async () => {
      const ids = Array.from({ length: 2_000 }, (_, index) => `cl_${String(index).padStart(5, '0')}`);
      await store().recordUsage(stamps(ids.map((id, index) => [id, T0 + index])));
      expect(await store().lastUsage('clients', ids)).toEqual(ids.map((_, index) => T0 + index));
    });

    it('records nothing for an empty batch', async () => {
      await expect(store().recordUsage(stamps())).resolves.toBeUndefined();
      expect(await store().lastUsage('clients', ['cl_a'])).toEqual([null]);
    });

    it('forgets the times of deleted ids, of that kind only', async () => {
      await store().recordUsage(
        stamps(
          [
            ['cl_a', T0],
            ['cl_b', T0],
          ],
          [['cl_a', T0]],
        ),
      );

      await store().forgetUsage('clients', ['cl_a']);
      await store().forgetUsage('clients', []);

      expect(await store().lastUsage('clients', ['cl_a', 'cl_b'])).toEqual([null, T0]);
      expect(await store().lastUsage('serviceKeys', ['cl_a'])).toEqual([T0]);
    });
  });
}
