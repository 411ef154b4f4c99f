import type { ServiceKeyStore } from '../interfaces/service-key-store';
import { sortServiceKeys } from '../store-helpers';
import type { ServiceKeyRecord } from '../store.types';
import { serviceKeyEvent } from './redis-codec';
import type { RedisConnection } from './redis-connection';

/** Service keys on Redis: one hash of records; each write announces itself in the same transaction. */
export class RedisServiceKeyStore implements ServiceKeyStore {
  constructor(private readonly connection: RedisConnection) {}

  async insertServiceKey(record: ServiceKeyRecord): Promise<void> {
    const { keys } = this.connection;
    await this.connection.transaction((multi) => {
      multi.hset(keys.serviceKeys, record.id, JSON.stringify(record));
      multi.publish(keys.events, serviceKeyEvent(record.id));
    });
  }

  async getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    const json = await this.connection.run((redis) => redis.hget(this.connection.keys.serviceKeys, id));
    return json === null ? null : (JSON.parse(json) as ServiceKeyRecord);
  }

  async listServiceKeys(): Promise<ServiceKeyRecord[]> {
    const values = await this.connection.run((redis) => redis.hvals(this.connection.keys.serviceKeys));
    return sortServiceKeys(values.map((json) => JSON.parse(json) as ServiceKeyRecord));
  }

  async deleteServiceKey(id: string): Promise<boolean> {
    const { keys } = this.connection;
    // The event goes out in the same transaction; for a key that was not there it only makes replicas look again.
    const [deleted] = await this.connection.transaction((multi) => {
      multi.hdel(keys.serviceKeys, id);
      multi.publish(keys.events, serviceKeyEvent(id));
    });
    return deleted === 1;
  }
}
