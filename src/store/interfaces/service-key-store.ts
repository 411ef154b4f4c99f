import type { ServiceKeyRecord } from '../store.types';

/** Service keys. insertServiceKey and deleteServiceKey broadcast `{ kind: 'service_key' }` as part of the write. */
export interface ServiceKeyStore {
  insertServiceKey(record: ServiceKeyRecord): Promise<void>;
  getServiceKey(id: string): Promise<ServiceKeyRecord | null>;
  /** Oldest first. */
  listServiceKeys(): Promise<ServiceKeyRecord[]>;
  deleteServiceKey(id: string): Promise<boolean>;
}
