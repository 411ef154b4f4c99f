import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import { SecretBox } from '../crypto/secret-box';
import type { MetricsService } from '../metrics/metrics.service';
import type { BrokerStore } from '../store/broker-store';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import type { ClientEntry } from '../store/store.types';
import type { RefreshFacade } from '../refresh/refresh.facade';
import { TracingService } from '../tracing/tracing.service';
import { TokenCache } from './token-cache';
import { TokensService } from './tokens.service';

/** A store whose reads are answered only when the test says so. */
function deferredReads() {
  const pending: Array<(entry: ClientEntry | null) => void> = [];
  const store = {
    getClient: () => new Promise<ClientEntry | null>((resolve) => pending.push(resolve)),
  } as unknown as BrokerStore;
  return { store, pending };
}

describe('TokensService store reads', () => {
  const config = parseConfig({});
  const metrics = { tokenRequests: { labels: () => ({ inc: () => undefined }) } } as unknown as MetricsService;
  let events: MemoryStore;
  let cache: TokenCache;

  beforeEach(() => {
    events = new MemoryStore();
    const storeEvents = new StoreEventsService(events);
    storeEvents.onModuleInit();
    cache = new TokenCache(storeEvents);
  });

  afterEach(() => events.close());

  function service(store: BrokerStore): { read(id: string): Promise<ClientEntry | null> } {
    const box = new SecretBox(config.encryptionKeys);
    const tokens = new TokensService(config, store, {} as AppLogger, box, cache, {} as RefreshFacade, metrics, new TracingService(config));
    return tokens as unknown as { read(id: string): Promise<ClientEntry | null> };
  }

  it('shares one store read among concurrent callers', async () => {
    const { store, pending } = deferredReads();
    const tokens = service(store);
    const first = tokens.read('cl_a');
    const second = tokens.read('cl_a');
    expect(pending).toHaveLength(1);
    pending[0](null);
    await expect(Promise.all([first, second])).resolves.toEqual([null, null]);
  });

  it('does not hand a caller a read that began before the client last changed', async () => {
    const { store, pending } = deferredReads();
    const tokens = service(store);
    const before = tokens.read('cl_a');
    cache.invalidate('cl_a');
    const after = tokens.read('cl_a');
    expect(pending).toHaveLength(2);
    const changed = { client: { id: 'cl_a' } } as ClientEntry;
    pending[1](changed);
    pending[0](null);
    await expect(after).resolves.toBe(changed);
    await expect(before).resolves.toBeNull();
    // A read after both settled starts afresh.
    void tokens.read('cl_a');
    expect(pending).toHaveLength(3);
  });
});
