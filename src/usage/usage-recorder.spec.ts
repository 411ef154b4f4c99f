import { SchedulerRegistry } from '@nestjs/schedule';
import type { Principal } from '../auth/principal';
import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import { StoreUnavailableError, type UsageStamps, type UsageStore } from '../store/broker-store';
import { MemoryStore } from '../store/memory.store';
import { UsageRecorder } from './usage-recorder';

const INTERVAL_MS = 30_000;
const NOW = Date.parse('2026-01-01T00:00:00.000Z');

/** The memory store's usage times, with every write counted and copied, and writes that fail or wait when told. */
class RecordingStore implements UsageStore {
  readonly writes: { clients: [string, number][]; serviceKeys: [string, number][] }[] = [];
  failing = false;
  /** The next write waits until `release` is called. */
  holdNext = false;
  release: (() => void) | null = null;
  private readonly store = new MemoryStore();

  async recordUsage(stamps: UsageStamps): Promise<void> {
    this.writes.push({ clients: [...stamps.clients], serviceKeys: [...stamps.serviceKeys] });
    if (this.holdNext) {
      this.holdNext = false;
      await new Promise<void>((resolve) => (this.release = resolve));
    }
    if (this.failing) throw new StoreUnavailableError(new Error('connection refused'));
    return this.store.recordUsage(stamps);
  }

  lastUsage: UsageStore['lastUsage'] = (kind, ids) => this.store.lastUsage(kind, ids);
  forgetUsage: UsageStore['forgetUsage'] = (kind, ids) => this.store.forgetUsage(kind, ids);
}

describe('UsageRecorder', () => {
  const config = parseConfig({ USAGE_FLUSH_INTERVAL_MS: String(INTERVAL_MS) });
  const serviceKey = (id: string): Principal => ({
    kind: 'service',
    actor: id,
    serviceKeyId: id,
    workspaces: new Set(['o_1']),
    allWorkspaces: false,
  });
  const admin: Principal = { kind: 'admin', actor: 'admin:0123abcd' };
  let store: RecordingStore;
  let registry: SchedulerRegistry;
  let recorder: UsageRecorder;
  let warnings: string[];

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    store = new RecordingStore();
    registry = new SchedulerRegistry();
    warnings = [];
    const logger = {
      warn: (_: object, message: string) => warnings.push(message),
      info: () => undefined,
    } as unknown as AppLogger;
    recorder = new UsageRecorder(config, store, logger, registry);
    recorder.onApplicationBootstrap();
  });

  afterEach(async () => {
    await recorder.stop();
    jest.useRealTimers();
  });

  /** Lets the interval fire and the write it starts settle. */
  async function nextInterval(): Promise<void> {
    await jest.advanceTimersByTimeAsync(INTERVAL_MS);
  }

  it('writes 1,000 tokens served in an interval as one store write, with the last time of each client and key', async () => {
    for (let served = 0; served < 1_000; served += 1) {
      recorder.stamp(serviceKey(`sk_${served % 3}`), `cl_${served % 10}`, Date.now());
      jest.advanceTimersByTime(10);
    }
    expect(store.writes).toHaveLength(0);

    await nextInterval();

    expect(store.writes).toHaveLength(1);
    const [write] = store.writes;
    expect(write.clients).toHaveLength(10);
    expect(write.serviceKeys).toHaveLength(3);
    // The last of the 1,000 (index 999) was cl_9 by sk_0 at NOW + 9,990 ms.
    expect(await store.lastUsage('clients', ['cl_9', 'cl_0'])).toEqual([NOW + 9_990, NOW + 9_900]);
    expect(await store.lastUsage('serviceKeys', ['sk_0', 'sk_1', 'sk_2'])).toEqual([
      NOW + 9_990,
      NOW + 9_970,
      NOW + 9_980,
    ]);
  });

  it('writes once per interval while tokens are served, and not at all while none are', async () => {
    for (let interval = 0; interval < 3; interval += 1) {
      for (let served = 0; served < 100; served += 1) recorder.stamp(serviceKey('sk_a'), 'cl_a', Date.now());
      await nextInterval();
    }
    expect(store.writes).toHaveLength(3);

    await nextInterval();
    await nextInterval();

    expect(store.writes).toHaveLength(3);
    expect(await store.lastUsage('clients', ['cl_a'])).toEqual([NOW + 2 * INTERVAL_MS]);
  });

  it('stamps no service key for an admin key', async () => {
    recorder.stamp(admin, 'cl_a', NOW);
    await nextInterval();
    expect(store.writes).toEqual([{ clients: [['cl_a', NOW]], serviceKeys: [] }]);
  });

  it('keeps what the store did not take and writes it with the next interval, newer stamps winning', async () => {
    recorder.stamp(serviceKey('sk_a'), 'cl_a', NOW);
    recorder.stamp(serviceKey('sk_a'), 'cl_b', NOW);
    store.failing = true;
    await nextInterval();
    await nextInterval();
    expect(store.writes).toHaveLength(2);
    expect(warnings).toEqual(['usage times could not be written; kept for the next attempt']);

    recorder.stamp(serviceKey('sk_a'), 'cl_b', NOW + 5);
    store.failing = false;
    await nextInterval();

    expect(store.writes).toHaveLength(3);
    expect(new Map(store.writes[2].clients)).toEqual(
      new Map([
        ['cl_a', NOW],
        ['cl_b', NOW + 5],
      ]),
    );
    expect(await store.lastUsage('clients', ['cl_a', 'cl_b'])).toEqual([NOW, NOW + 5]);
    await nextInterval();
    expect(store.writes).toHaveLength(3);
  });

  it('never has two writes in flight: an interval that finds one running lets it be', async () => {
    store.holdNext = true;
    recorder.stamp(serviceKey('sk_a'), 'cl_a', NOW);
    await nextInterval();
    recorder.stamp(serviceKey('sk_a'), 'cl_b', Date.now());
    await nextInterval();
    await nextInterval();
    expect(store.writes).toHaveLength(1);

    store.release?.();
    await nextInterval();

    expect(store.writes).toHaveLength(2);
    expect(store.writes[1].clients).toEqual([['cl_b', NOW + INTERVAL_MS]]);
  });

  it('writes what is left when it stops, and nothing on a timer after', async () => {
    recorder.stamp(serviceKey('sk_a'), 'cl_a', NOW);
    await recorder.stop();

    expect(store.writes).toHaveLength(1);
    expect(registry.doesExist('interval', 'usage-flush')).toBe(false);
    recorder.stamp(serviceKey('sk_a'), 'cl_a', NOW + 1);
    await nextInterval();
    expect(store.writes).toHaveLength(1);
  });

  it('drops the stamp of a client deleted before the write', async () => {
    recorder.stamp(serviceKey('sk_a'), 'cl_a', NOW);
    recorder.stamp(serviceKey('sk_a'), 'cl_b', NOW);
    recorder.discard('clients', 'cl_a');
    await nextInterval();
    expect(store.writes[0].clients).toEqual([['cl_b', NOW]]);
  });
});
