import { MemoryStore } from '../src/store/memory.store';
import { describeStoreContract, eventually } from './store-contract';
import type { StoreEvent } from '../src/store/store.types';

describeStoreContract('MemoryStore', async () => new MemoryStore());

describe('MemoryStore', () => {
  it('is the memory kind', () => {
    expect(new MemoryStore().kind).toBe('memory');
  });

  it('delivers an event after publish, never inside the publisher call', async () => {
    const store = new MemoryStore();
    const received: StoreEvent[] = [];
    store.subscribe(
      (event) => received.push(event),
      () => undefined,
    );

    const published = store.publish({ kind: 'client', id: 'cl_a' });
    expect(received).toEqual([]);
    await published;
    await eventually(() => expect(received).toEqual([{ kind: 'client', id: 'cl_a' }]));
    await store.close();
  });
});
