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

  /** recordingRefresher that, as the real refresher does, schedules a landed refresh's next one (here, far away). */
  function reschedulingRefresher(workMs: number) {
    const recording = recordingRefresher(workMs);
    const refresher = {
      refresh: async (id: string) => {
        await recording.refresher.refresh(id, 'scheduled');
        await store.setDue(id, Date.now() + 3_600_000);
      },
    } as unknown as Refresher;
    return { ...recording, refresher };
  }

  /** The scheduler, with an event loop that is idle unless `loopBusy` says otherwise (FirstFetchPacer). */
  function start(refresher: Refresher, env: Record<string, string>, loopBusy = () => 0): RefreshScheduler {
    const events = new StoreEventsService(store);
    events.onModuleInit();
    const registry = new SchedulerRegistry();
    scheduler = new RefreshScheduler(parseConfig(env), store, silent, refresher, metrics, registry, events, loopBusy);
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

  it("a batch's caughtUp does not wait for first fetches of clients announced as just registered", async () => {
    const { refresher, refreshedAt } = recordingRefresher(60_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const registered = Array.from({ length: 40 }, (_, index) => `cl_new_${index}`);
    const dueAt = scheduler.expectFirstFetches(registered);
    expect(dueAt).toBe(Date.now());
    for (const id of registered) await store.setDue(id, dueAt);
    scheduler.pump();
    await until(() => refreshedAt.size === 4, 2_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(10_000, true), 1_000);
    expect(Date.now() - startedAt).toBeLessThan(100);
    // A single registration (not a batch) waits for any backlog, first fetches included.
    const singleFrom = Date.now();
    await settled(scheduler.caughtUp(200), 1_000);
    expect(Date.now() - singleFrom).toBeGreaterThanOrEqual(190);
  });

  it("a batch's caughtUp waits while refreshes of held tokens fill every slot", async () => {
    const { refresher, refreshedAt } = recordingRefresher(60_000);
    const now = Date.now();
    for (let index = 0; index < 40; index += 1) await store.setDue(`cl_${index}`, now - index);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    await until(() => refreshedAt.size === 4, 2_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(200, true), 1_000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
  });

  it("takes no first fetch ahead once another replica stored its token (the client's change event)", async () => {
    const { refresher, refreshedAt } = recordingRefresher(0);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    // A first group never stored: it only pushes the next group's due time 625 ms away.
    const ahead = Array.from({ length: 100 }, (_, index) => `cl_gone_${index}`);
    scheduler.expectFirstFetches(ahead);
    scheduler.dropFirstFetches(ahead);
    // Registered and stored here, then claimed and fetched by other replicas: never due in this store.
    const registered = Array.from({ length: 6 }, (_, index) => `cl_elsewhere_${index}`);
    scheduler.expectFirstFetches(registered);
    // The start's own claim is over: from here only pump() claims, and takes first fetches ahead.
    await jest.advanceTimersByTimeAsync(10);
    scheduler.firstFetchesStored(registered);
    for (const id of registered) await store.publish({ kind: 'client', id });
    await jest.advanceTimersByTimeAsync(1);

    scheduler.pump();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(refreshedAt.size).toBe(0);
  });

  it("spreads first fetches registered behind others, and a held token's refresh due meanwhile overtakes the later ones", async () => {
    // 4 slots of 20 ms: 200 refreshes a second, the pacer's first guess, so the spacing is known.
    const { refresher, refreshedAt } = recordingRefresher(20);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const startedAt = Date.now();
    const first = Array.from({ length: 100 }, (_, index) => `cl_first_${index}`);
    const second = Array.from({ length: 100 }, (_, index) => `cl_second_${index}`);
    const firstDueAt = scheduler.expectFirstFetches(first);
    const secondDueAt = scheduler.expectFirstFetches(second);
    expect(firstDueAt).toBe(startedAt);
    // 100 first fetches at 80% of 200 a second.
    expect(secondDueAt).toBe(startedAt + 625);
    for (const id of first) await store.setDue(id, firstDueAt);
    for (const id of second) await store.setDue(id, secondDueAt);
    // Due before the second group, while the first (due at once) may still be draining.
    const heldDueAt = startedAt + 600;
    await store.setDue('cl_held', heldDueAt);
    scheduler.pump();

    await until(() => refreshedAt.size === 201, 10_000);
    const heldAt = refreshedAt.get('cl_held')![0];
    expect(heldAt - heldDueAt).toBeLessThan(100);
    const secondAt = second.map((id) => refreshedAt.get(id)![0]);
    expect(Math.min(...secondAt)).toBeGreaterThanOrEqual(Math.max(secondDueAt, heldAt));
  });

  it('takes stored first fetches ahead of their due time while slots are idle, leaving a slot for held tokens', async () => {
    const { refresher, refreshedAt, mostAtOnce } = reschedulingRefresher(100);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const startedAt = Date.now();
    // A first group never stored: it only pushes the next group's due time 625 ms away.
    const ahead = Array.from({ length: 100 }, (_, index) => `cl_gone_${index}`);
    scheduler.expectFirstFetches(ahead);
    scheduler.dropFirstFetches(ahead);
    const registered = Array.from({ length: 9 }, (_, index) => `cl_new_${index}`);
    const dueAt = scheduler.expectFirstFetches(registered);
    expect(dueAt).toBe(startedAt + 625);
    for (const id of registered) await store.setDue(id, dueAt);
    scheduler.firstFetchesStored(registered);
    const heldDueAt = startedAt + 150;
    await store.setDue('cl_held', heldDueAt);
    scheduler.pump();

    await until(() => refreshedAt.size === 10, 5_000);
    // 3 slots of 4 for first fetches: 9 take 3 turns of 100 ms, all before they were due.
    const firstAt = registered.map((id) => refreshedAt.get(id)![0]);
    expect(Math.max(...firstAt)).toBeLessThan(startedAt + 400);
    expect(refreshedAt.get('cl_held')![0] - heldDueAt).toBeLessThan(20);
    expect(mostAtOnce()).toBe(4);
    // Each client once: a first fetch taken ahead is not taken again when its due time comes.
    await jest.advanceTimersByTimeAsync(1_000);
    expect([...refreshedAt.values()].every((times) => times.length === 1)).toBe(true);
  });

  it("puts a batch's first fetches off while batches keep coming, then takes them ahead; their due time is the fallback", async () => {
    const { refresher, refreshedAt } = reschedulingRefresher(10);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const startedAt = Date.now();
    const imported: string[] = [];
    // Five batches 200 ms apart: an import going on for 800 ms.
    for (let batch = 0; batch < 5; batch += 1) {
      const ids = Array.from({ length: 8 }, (_, index) => `cl_batch${batch}_${index}`);
      const dueAt = scheduler.expectFirstFetches(ids, true);
      // Its schedule entry: ten minutes after the pacer's time, for a crash of this replica.
      expect(dueAt).toBeGreaterThanOrEqual(Date.now() + 600_000);
      for (const id of ids) await store.setDue(id, dueAt);
      scheduler.firstFetchesStored(ids);
      scheduler.pump();
      imported.push(...ids);
      await jest.advanceTimersByTimeAsync(200);
    }
    const importEndedAt = startedAt + 800;
    // Meanwhile a held token's refresh is not held back by the import.
    expect(refreshedAt.size).toBe(0);
    await store.setDue('cl_held', Date.now());
    scheduler.pump();
    await until(() => refreshedAt.has('cl_held'), 100);

    await until(() => imported.every((id) => refreshedAt.has(id)), 5_000);
    const firstAt = imported.map((id) => refreshedAt.get(id)![0]);
    // None while batches came, all within half a second of the import's end, each once.
    expect(Math.min(...firstAt)).toBeGreaterThanOrEqual(importEndedAt + 500);
    expect(Math.max(...firstAt)).toBeLessThan(importEndedAt + 1_000);
    await jest.advanceTimersByTimeAsync(700_000);
    expect(imported.every((id) => refreshedAt.get(id)!.length === 1)).toBe(true);
  });

  it("renews the fallbacks of a batch's first fetches it still holds: an import slower than their delay never goes ahead of held tokens", async () => {
    // 2,400 first fetches on 3 slots of a second each: 800 s, longer than the 600 s their fallbacks wait.
    const { refresher, refreshedAt } = reschedulingRefresher(1_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    const imported = Array.from({ length: 2_400 }, (_, index) => `cl_imported_${index}`);
    const fallbackAt = scheduler.expectFirstFetches(imported, true);
    for (const id of imported) await store.setDue(id, fallbackAt);
    scheduler.firstFetchesStored(imported);
    scheduler.pump();
    // Held tokens falling due after the first fallbacks would have, while hundreds of first fetches still wait.
    const held = Array.from({ length: 20 }, (_, index) => ({
      id: `cl_held_${index}`,
      dueAt: fallbackAt + index * 5_000,
    }));
    for (const { id, dueAt } of held) await store.setDue(id, dueAt);

    for (let step = 0; step < 820 && !imported.every((id) => refreshedAt.has(id)); step += 1) {
      await jest.advanceTimersByTimeAsync(1_000);
    }
    expect(Date.now() - fallbackAt).toBeGreaterThan(100_000);
    expect(imported.every((id) => refreshedAt.get(id)!.length === 1)).toBe(true);
    // Each held token's refresh started within a claim of its due time: no fallback was claimed ahead of it.
    for (const { id, dueAt } of held) expect(refreshedAt.get(id)![0] - dueAt).toBeLessThan(50);
    // Nothing of the import is left in the schedule to fall due later.
    await jest.advanceTimersByTimeAsync(700_000);
    expect(imported.every((id) => refreshedAt.get(id)!.length === 1)).toBe(true);
  });

  it('takes first fetches ahead at full speed again once no held token is late, even with none falling due', async () => {
    const { refresher, refreshedAt } = reschedulingRefresher(100);
    // Held tokens' refreshes claimed late, one claim after another: first fetches taken ahead are cut to one slot.
    for (let index = 0; index < 4; index += 1) await store.setDue(`cl_late_${index}`, Date.now() - 1_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    await until(() => refreshedAt.size === 4, 1_000);
    await jest.advanceTimersByTimeAsync(200);

    const imported = Array.from({ length: 30 }, (_, index) => `cl_imported_${index}`);
    const dueAt = scheduler.expectFirstFetches(imported, true);
    for (const id of imported) await store.setDue(id, dueAt);
    scheduler.firstFetchesStored(imported);
    scheduler.pump();
    const quietAt = Date.now() + 500;
    await until(() => imported.every((id) => refreshedAt.has(id)), 5_000);
    // No held refresh falls due meanwhile, so none is late: three slots of four again, 10 turns of 100 ms (one slot: 3 s).
    expect(Date.now() - quietAt).toBeLessThan(1_300);
  });

  it("takes an import's first fetches ahead at 80% of what the CPU takes, measured on the event loop; held tokens' refreshes stay on time", async () => {
    const { refresher, refreshedAt } = reschedulingRefresher(10);
    // Each refresh keeps the event loop busy for 4 ms: 250 a second fill it.
    let startedAtLastRead = 0;
    let lastReadAt = Date.now();
    const loopBusy = () => {
      const busyMs = (refreshedAt.size - startedAtLastRead) * 4;
      const share = Math.min(1, busyMs / Math.max(1, Date.now() - lastReadAt));
      startedAtLastRead = refreshedAt.size;
      lastReadAt = Date.now();
      return share;
    };
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '8' }, loopBusy);
    const claims = jest.spyOn(store, 'claimDue');
    const imported = Array.from({ length: 1_200 }, (_, index) => `cl_imported_${index}`);
    const dueAt = scheduler.expectFirstFetches(imported, true);
    for (const id of imported) await store.setDue(id, dueAt);
    scheduler.firstFetchesStored(imported);
    scheduler.pump();
    const quietAt = Date.now() + 500;
    const heldDueAt = quietAt + 2_500;
    await store.setDue('cl_held', heldDueAt);

    await until(() => imported.every((id) => refreshedAt.has(id)), 10_000);
    const firstAt = imported.map((id) => refreshedAt.get(id)![0]);
    // The slots alone would take them at about 400 a second (6 slots of 8, 10 ms each, within 80% of 8 slots);
    // once the loop's first second is measured, 200 a second: 80% of 250.
    const startedBetween = (from: number, to: number) => firstAt.filter((at) => at >= from && at < to).length;
    expect(startedBetween(quietAt, quietAt + 1_000)).toBeGreaterThan(300);
    expect(startedBetween(quietAt + 1_000, quietAt + 3_000)).toBeGreaterThanOrEqual(380);
    expect(startedBetween(quietAt + 1_000, quietAt + 3_000)).toBeLessThanOrEqual(420);
    expect(refreshedAt.get('cl_held')![0] - heldDueAt).toBeLessThan(20);
    // Paced first fetches start without asking the schedule: a claim each would cost more than they do.
    expect(claims.mock.calls.length).toBeLessThan(50);
  });

  it("a batch's caughtUp waits after a held token's refresh was claimed late, until one is claimed on time", async () => {
    const { refresher, refreshedAt } = recordingRefresher(0);
    await store.setDue('cl_late', Date.now() - 1_000);
    const scheduler = start(refresher, { SCHEDULER_TICK_MS: '60000', UPSTREAM_CONCURRENCY: '4' });
    await until(() => refreshedAt.has('cl_late'), 1_000);

    const startedAt = Date.now();
    await settled(scheduler.caughtUp(200, true), 1_000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    await store.setDue('cl_on_time', Date.now());
    scheduler.pump();
    await until(() => refreshedAt.has('cl_on_time'), 1_000);
    const onTimeFrom = Date.now();
    await settled(scheduler.caughtUp(200, true), 1_000);
    expect(Date.now() - onTimeFrom).toBeLessThan(20);
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
