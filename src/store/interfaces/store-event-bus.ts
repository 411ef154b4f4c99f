import type { StoreEvent } from '../store.types';

/** Broadcast to all replicas (including this one). */
export interface StoreEventBus {
  publish(event: StoreEvent): Promise<void>;
  /**
   * `onEvent` receives every published event; `onResync` is called when
   * events may have been missed (the subscription reconnected), so caches
   * must drop everything.
   */
  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void;
}
