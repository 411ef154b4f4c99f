import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BROKER_STORE, type BrokerStore } from './broker-store';

type Listener<T> = (value: T) => void;

/** One subscription to the store's broadcast, fanned out to whoever in this process cares. */
@Injectable()
export class StoreEventsService implements OnModuleInit {
  private readonly clientListeners = new Set<Listener<string>>();
  private readonly serviceKeyListeners = new Set<Listener<string>>();
  private readonly webhookListeners = new Set<Listener<string>>();
  private readonly resyncListeners = new Set<Listener<void>>();

  constructor(@Inject(BROKER_STORE) private readonly store: BrokerStore) {}

  onModuleInit(): void {
    this.store.subscribe(
      (event) => {
        const listeners = {
          client: this.clientListeners,
          service_key: this.serviceKeyListeners,
          webhook: this.webhookListeners,
        }[event.kind];
        for (const listener of listeners) listener(event.id);
      },
      () => {
        for (const listener of this.resyncListeners) listener();
      },
    );
  }

  /**
   * A change this replica has just written, told to this process's listeners
   * at once: the store's broadcast comes back too, but may come later (on a
   * Cluster it crosses the cluster bus), and this replica's next answer must
   * already see its own write.
   */
  clientChangedHere(id: string): void {
    for (const listener of this.clientListeners) listener(id);
  }

  /** Returns a function that removes the listener. */
  onClientChanged(listener: Listener<string>): () => void {
    this.clientListeners.add(listener);
    return () => this.clientListeners.delete(listener);
  }

  /**
   * Resolves true at the next change of the client (on any replica), or
   * false after `timeoutMs`. Register before acting, so a change that lands
   * in between is not missed.
   */
  nextClientChange(id: string, timeoutMs: number): { changed: Promise<boolean>; cancel: () => void } {
    let settle: (changed: boolean) => void = () => undefined;
    const changed = new Promise<boolean>((resolve) => (settle = resolve));
    const timer = setTimeout(() => finish(false), timeoutMs);
    const stop = this.onClientChanged((changedId) => {
      if (changedId === id) finish(true);
    });
    const stopOnResync = this.onResync(() => finish(true));
    function finish(result: boolean) {
      clearTimeout(timer);
      stop();
      stopOnResync();
      settle(result);
    }
    return { changed, cancel: () => finish(false) };
  }

  onServiceKeyChanged(listener: Listener<string>): () => void {
    this.serviceKeyListeners.add(listener);
    return () => this.serviceKeyListeners.delete(listener);
  }

  onWebhookChanged(listener: Listener<string>): () => void {
    this.webhookListeners.add(listener);
    return () => this.webhookListeners.delete(listener);
  }

  onResync(listener: Listener<void>): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }
}
