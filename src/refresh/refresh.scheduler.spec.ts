import { SchedulerRegistry } from '@nestjs/schedule';
import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import type { MetricsService } from '../metrics/metrics.service';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import { RefreshScheduler } from './refresh.scheduler';
import type { Refresher } from './refresher';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as AppLogger;
const metrics = { refreshLag: { observe: () => undefined } } as unknown as MetricsService;

/** A refresher that records when each client was refreshed, and how many ran at once; each takes `workMs`. */
function recordingRefresher(workMs: number) {
  const refreshedAt = new Map<string, number[]>();
  let running = 0;
  let mostAtOnce = 0;
  const refresher = {
    refresh: async (id: string) => {
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      refreshedAt.set(id, [...(refreshedAt.get(id) ?? []), Date.now()]);
      await new Promise((resolve) => setTimeout(resolve, workMs));
      running -= 1;
    },
  };
  return { refresher: refresher as unknown as Refresher, refreshedAt, mostAtOnce: () => mostAtOnce };
}

/** Moves the fake clock on, 1 ms at a time, until `condition` holds (or fails after `timeoutMs` of fake time). */
async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await jest.advanceTimersByTimeAsync(1);
  }
}

/** Moves the fake clock on until `promise` settles. */
async function settled(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let done = false;
  void promise.finally(() => (done = true));
  await until(() => done, timeoutMs);
  await promise;
}

describe('RefreshScheduler', () => {
  let store: MemoryStore;
  let scheduler: RefreshScheduler | undefined;

  beforeEach(() => {
    // The memory store answers on process.nextTick: only the clock and its timers are faked.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    store = new MemoryStore();
  });

  afterEach(async () => {
    scheduler?.stop();
    scheduler = undefined;
    await store.close();
    jest.useRealTimers();
  });

  function start(refresher: Refresher, env: Record<string, string>): RefreshScheduler {
    const events = new StoreEventsService(store);
    events.onModuleInit();
    const registry = new SchedulerRegistry();
    scheduler = new RefreshScheduler(parseConfig(env), store, silent, refresher, metrics, registry, events);
    scheduler.onApplicationBootstrap();
    return scheduler;
  }

  it('wakes when the earliest client falls due, not on the next tick, and never before it is due', async () => {
    const { refresher, refreshedAt } = recordingRefresher(0);
    // A tick of a minute: only the scheduler's own wake-up can refresh these within the test.
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000' });
    const dueAt = { cl_soon: Date.now() + 150, cl_later: Date.now() + 400 };
    await store.setDue('cl_soon', dueAt.cl_soon);
    await store.setDue('cl_later', dueAt.cl_later);
    scheduler.pump();

    await until(() => refreshedAt.has('cl_later'), 5_000);
    expect(refreshedAt.get('cl_soon')?.[0]).toBeGreaterThanOrEqual(dueAt.cl_soon);
    expect(refreshedAt.get('cl_later')?.[0]).toBeGreaterThanOrEqual(dueAt.cl_later);
    expect(refreshedAt.get('cl_soon')?.[0]).toBeLessThan(dueAt.cl_later);
  });

  it('drains a backlog larger than its slots, each client once, never more at a time than UPSTREAM_CONCURRENCY', async () => {
    const { refresher, refreshedAt, mostAtOnce } = recordingRefresher(20);
    const now = Date.now();
    for (let index = 0; index < 200; index += 1) await store.setDue(`cl_${index}`, now - index);
    start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });

    await until(() => refreshedAt.size === 200, 10_000);
    expect([...refreshedAt.values()].every((times) => times.length === 1)).toBe(true);
    expect(mostAtOnce()).toBe(4);
  });

  it('caughtUp waits while more clients are due than its slots, until the last of them is claimed', async () => {
    const { refresher, refreshedAt } = recordingRefresher(100);
    const now = Date.now();
    for (let index = 0; index < 40; index += 1) await store.setDue(`cl_${index}`, now - index);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    await until(() => refreshedAt.size === 4, 2_000);

    await settled(scheduler.caughtUp(10_000), 20_000);
    expect(refreshedAt.size).toBe(40);
  });

  it("a paced import's caughtUp does not wait for a few first fetches of clients announced as just registered", async () => {
    const { refresher, refreshedAt } = recordingRefresher(60_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const now = Date.now();
    // 16 left waiting once 4 run: 4 per slot, no more.
    const registered = Array.from({ length: 20 }, (_, index) => `cl_new_${index}`);
    for (const id of registered) await store.setDue(id, now);
    scheduler.expectFirstFetches(registered);
    scheduler.pump();
    await until(() => refreshedAt.size === 4, 2_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(10_000, true), 1_000);
    expect(Date.now() - startedAt).toBeLessThan(100);
    // A single registration (not a paced import) waits for any backlog, first fetches included.
    const singleFrom = Date.now();
    await settled(scheduler.caughtUp(200), 1_000);
    expect(Date.now() - singleFrom).toBeGreaterThanOrEqual(190);
    // Refreshes of tokens already held are still waited for: the test above.
  });

  it('caughtUp waits while more first fetches are queued than 4 per slot', async () => {
    const { refresher, refreshedAt } = recordingRefresher(60_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const now = Date.now();
    const registered = Array.from({ length: 21 }, (_, index) => `cl_new_${index}`);
    for (const id of registered) await store.setDue(id, now);
    scheduler.expectFirstFetches(registered);
    scheduler.pump();
    await until(() => refreshedAt.size === 4, 2_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(200, true), 1_000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
  });

  it("a paced import stops waiting for first fetches once another replica has stored them (the clients' change events)", async () => {
    const { refresher } = recordingRefresher(60_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    // Registered here, but claimed by other replicas: never due in this replica's view of the schedule.
    const registered = Array.from({ length: 21 }, (_, index) => `cl_new_${index}`);
    scheduler.expectFirstFetches(registered);

    const waitingFrom = Date.now();
    await settled(scheduler.caughtUp(200, true), 1_000);
    expect(Date.now() - waitingFrom).toBeGreaterThanOrEqual(190);

    // Five first tokens stored elsewhere leave 16 expected: 4 per slot, no longer behind.
    for (const id of registered.slice(0, 5)) await store.publish({ kind: 'client', id });
    await jest.advanceTimersByTimeAsync(1);
    const startedAt = Date.now();
    await settled(scheduler.caughtUp(10_000, true), 1_000);
    expect(Date.now() - startedAt).toBeLessThan(100);
  });

  it('caughtUp gives up after the longest wait it was given', async () => {
    const { refresher, refreshedAt } = recordingRefresher(60_000);
    const now = Date.now();
    for (let index = 0; index < 40; index += 1) await store.setDue(`cl_${index}`, now - index);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    await until(() => refreshedAt.size === 4, 2_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(200), 1_000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    expect(refreshedAt.size).toBe(4);
  });

  it('claims nothing once stopped', async () => {
    const { refresher, refreshedAt } = recordingRefresher(0);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000' });
    scheduler.stop();
    await store.setDue('cl_a', Date.now());
    scheduler.pump();
    await jest.advanceTimersByTimeAsync(100);
    expect(refreshedAt.size).toBe(0);
    expect(scheduler.isRunning()).toBe(false);
  });
});
