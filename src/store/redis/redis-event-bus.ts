import type Redis from 'ioredis';
import type { StoreEventBus } from '../interfaces/store-event-bus';
import { deliver } from '../store-helpers';
import type { StoreEvent } from '../store.types';
import { parseStoreEvent } from './redis-codec';
import {
  baseRedisOptions,
  closeConnection,
  reportOutages,
  type RedisConnection,
  type RedisConnectionOptions,
} from './redis-connection';

interface Subscription {
  onEvent: (event: StoreEvent) => void;
  onResync: () => void;
}

/**
 * Store events over Redis pub/sub: published on the command connection,
 * received on a connection of their own that tells its subscribers to resync
 * whenever it had to reconnect.
 */
export class RedisEventBus implements StoreEventBus {
  private readonly subscriber: Redis;
  private readonly subscriptions: Subscription[] = [];
  private subscriptionActive = false;
  /** The channel was subscribed, then the connection dropped: events may have been missed. */
  private subscriptionLost = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly options: RedisConnectionOptions,
  ) {
    // The subscription is (re)made by hand on every 'ready' (see activateSubscription), so no
    // command ever waits in a queue and onResync runs only once the channel is listened to again.
    this.subscriber = connection.subscriberClient({
      ...baseRedisOptions(),
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
    });
    this.subscriber.on('ready', () => this.activateSubscription());
    this.subscriber.on('close', () => {
      if (this.subscriptionActive) this.subscriptionLost = true;
      this.subscriptionActive = false;
    });
    this.subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
    connection.onMembershipChange(() => this.resyncAll());
    reportOutages(this.subscriber, 'subscriber', options.logger);
  }

  async publish(event: StoreEvent): Promise<void> {
    await this.connection.publish(this.connection.keys.events, JSON.stringify(event));
  }

  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void {
    this.subscriptions.push({ onEvent, onResync });
    if (!this.subscriptionActive) this.activateSubscription();
  }

  close(): Promise<void> {
    return closeConnection(this.subscriber);
  }

  private activateSubscription(): void {
    if (this.subscriptions.length === 0 || this.subscriber.status !== 'ready') return;
    this.subscriber.subscribe(this.connection.keys.events).then(
      () => {
        this.subscriptionActive = true;
        if (!this.subscriptionLost) return;
        this.subscriptionLost = false;
        this.resyncAll();
      },
      // Nothing to do: the next 'ready' of the subscriber connection subscribes again.
      (error: unknown) => this.options.logger?.warn({ err: errorMessage(error) }, 'subscribing to store events failed'),
    );
  }

  private resyncAll(): void {
    for (const { onResync } of this.subscriptions) this.notify(onResync);
  }

  private receive(channel: string, message: string): void {
    if (channel !== this.connection.keys.events) return;
    const event = parseStoreEvent(message);
    if (event === null) return;
    for (const { onEvent } of this.subscriptions) deliver(onEvent, { ...event }, this.options.logger);
  }

  private notify(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.options.logger?.warn({ err: errorMessage(error) }, 'store resync subscriber failed');
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
