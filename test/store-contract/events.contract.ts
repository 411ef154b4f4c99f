import type { BrokerStore } from '../../src/store/broker-store';
import type { StoreEvent } from '../../src/store/store.types';
import { UNSCHEDULED, eventually, idOf, makeEntry, serviceKey, statusIn, subscribed } from './fixtures';

/** Store events: published, and announced by every write. `store()` is the fresh store of the running test. */
export function describeEventsContract(store: () => BrokerStore): void {
  describe('events', () => {
    it('delivers both kinds of event to every subscriber, in order', async () => {
      const first = await subscribed(store());
      const second = await subscribed(store());

      await store().publish({ kind: 'client', id: 'cl_a' });
      await store().publish({ kind: 'service_key', id: 'sk_a' });
      await store().publish({ kind: 'client', id: 'cl_b' });

      const expected: StoreEvent[] = [
        { kind: 'client', id: 'cl_a' },
        { kind: 'service_key', id: 'sk_a' },
        { kind: 'client', id: 'cl_b' },
      ];
      await eventually(() => expect(first.events()).toEqual(expected));
      await eventually(() => expect(second.events()).toEqual(expected));
    });

    it('announces every stored change of a client or service key as part of the write, and nothing else', async () => {
      const heard = await subscribed(store());
      await store().insertClient(makeEntry('cl_e'), UNSCHEDULED);
      expect(await store().updateClient('cl_e', 99, { status: statusIn('ready') })).toBe('stale');
      expect(await store().updateClient('cl_e', 1, { status: statusIn('ready') })).toBe('ok');
      expect(await store().updateClient('cl_missing', 1, { status: statusIn('ready') })).toBe('not_found');
      await store().deleteClient('cl_e');
      await store().insertServiceKey(serviceKey('sk_e', '2025-01-01T00:00:00.000Z', ['*']));
      await store().deleteServiceKey('sk_e');
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
      store().subscribe(
        () => {
          throw new Error('subscriber bug');
        },
        () => undefined,
      );
      const healthy = await subscribed(store());
      await store().publish({ kind: 'client', id: 'cl_a' });
      await store().publish({ kind: 'client', id: 'cl_b' });
      await eventually(() => expect(healthy.events().map(idOf)).toEqual(['cl_a', 'cl_b']));
    });
  });
}
