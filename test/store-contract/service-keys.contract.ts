import type { ServiceKeyStore } from '../../src/store/broker-store';
import { serviceKey } from './fixtures';

/** Service keys. `store()` is the fresh store of the running test. */
export function describeServiceKeysContract(store: () => ServiceKeyStore): void {
  describe('service keys', () => {
    const first = serviceKey('sk_b', '2025-01-01T00:00:00.000Z', ['o_one', 'o_two']);
    const second = serviceKey('sk_a', '2025-01-02T00:00:00.000Z', ['*']);

    it('stores, lists (oldest first), and deletes service keys', async () => {
      expect(await store().listServiceKeys()).toEqual([]);
      await store().insertServiceKey(second);
      await store().insertServiceKey(first);

      expect(await store().getServiceKey('sk_b')).toEqual(first);
      expect(await store().getServiceKey('sk_unknown')).toBeNull();
      expect(await store().listServiceKeys()).toEqual([first, second]);

      expect(await store().deleteServiceKey('sk_b')).toBe(true);
      expect(await store().deleteServiceKey('sk_b')).toBe(false);
      expect(await store().getServiceKey('sk_b')).toBeNull();
      expect(await store().listServiceKeys()).toEqual([second]);
    });
  });
}
