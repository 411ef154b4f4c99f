import { FirstFetchPacer, PACER_WINDOW_MS } from './first-fetch-pacer';

/** A pacer whose event loop reads `busy` at every window (idle unless told). */
function pacerWith(slots: number, busy: () => number = () => 0): FirstFetchPacer {
  return new FirstFetchPacer(slots, busy, 0);
}

/** Runs `count` refreshes of `ms` each, spread over the window that ends at `end`, then rolls the window there. */
function refreshWindow(pacer: FirstFetchPacer, count: number, ms: number, end: number, held = 0): void {
  for (let index = 0; index < count; index += 1) pacer.refreshed(ms);
  pacer.heldClaimed(held, end);
}

/** How many first fetches takeAhead lets start, asked every millisecond from `from` to `to`. */
function takenAhead(pacer: FirstFetchPacer, from: number, to: number): number {
  let taken = 0;
  for (let now = from; now < to; now += 1) while (pacer.takeAhead(now)) taken += 1;
  return taken;
}

describe('FirstFetchPacer', () => {
  it('gives now when no first fetch is waiting', () => {
    const pacer = pacerWith(16);
    expect(pacer.dueAt(1, 1_000)).toBe(1_000);
    // 16 slots of 20 ms (the first guess): 800 a second at 80%, so one is done 1.25 ms later.
    expect(pacer.dueAt(1, 5_000)).toBe(5_000);
  });

  it('spaces a group after the groups handed out before it, at 80% of what the slots take', () => {
    const pacer = pacerWith(16);
    expect(pacer.perSecond()).toBe(640);
    expect(pacer.dueAt(1_000, 0)).toBe(0);
    expect(pacer.dueAt(100, 10)).toBeCloseTo(1_562.5, 6);
    expect(pacer.dueAt(100, 20)).toBeCloseTo(1_562.5 + 156.25, 6);
  });

  it('follows the measured time a refresh holds its slot', () => {
    const pacer = pacerWith(16);
    for (let index = 0; index < 500; index += 1) pacer.refreshed(100);
    // 16 slots of 100 ms: 160 a second, 128 for first fetches.
    expect(pacer.perSecond()).toBeCloseTo(128, 1);
  });

  it('leaves room for the refreshes of held tokens, and never less than 10% of what the slots take to first fetches', () => {
    const pacer = pacerWith(16);
    pacer.heldClaimed(300, PACER_WINDOW_MS);
    // 80% of 800, less 150 (the average with the 0 before).
    expect(pacer.perSecond()).toBeCloseTo(490, 6);
    pacer.heldClaimed(5_000, 2 * PACER_WINDOW_MS);
    expect(pacer.perSecond()).toBeCloseTo(80, 6);
  });

  it('measures what the CPU takes from the refreshes finished over the busy share of the loop, when the loop says enough', () => {
    // The first share is read as the pacer is made, to start its first window there.
    const shares = [0, 0.1, 0.5, 0.5, 0.25];
    const pacer = pacerWith(64, () => shares.shift() ?? 0);
    // 64 slots of 20 ms take 3,200 a second; a loop 10% busy tells nothing of the CPU.
    refreshWindow(pacer, 100, 20, 1_000);
    expect(pacer.capacity()).toBeCloseTo(3_200, 6);
    // 600 refreshes kept the loop half busy: 1,200 a second keep it full.
    refreshWindow(pacer, 600, 20, 2_000);
    expect(pacer.capacity()).toBeCloseTo(1_200, 6);
    expect(pacer.perSecond()).toBeCloseTo(960, 6);
    // A moving average: 800 a second half busy say 1,600, a fifth of the way from 1,200.
    refreshWindow(pacer, 800, 20, 3_000);
    expect(pacer.capacity()).toBeCloseTo(1_280, 6);
    // A window under 30% busy leaves it.
    refreshWindow(pacer, 50, 20, 4_000);
    expect(pacer.capacity()).toBeCloseTo(1_280, 6);
  });

  it('keeps first fetches and refreshes of held tokens together within 80% of what the CPU takes', () => {
    const pacer = pacerWith(64, () => 0.5);
    refreshWindow(pacer, 1_000, 20, 1_000);
    // 2,000 a second keep the loop full; held tokens' refreshes claimed at 1,000 a second (the average with 0: 500).
    refreshWindow(pacer, 1_000, 20, 2_000, 1_000);
    expect(pacer.capacity()).toBeCloseTo(2_000, 6);
    expect(pacer.perSecond()).toBeCloseTo(1_600 - 500, 6);
    refreshWindow(pacer, 1_000, 20, 3_000, 1_000);
    expect(pacer.perSecond()).toBeCloseTo(1_600 - 750, 6);
  });

  it('lets first fetches be taken ahead at its rate, a tenth of a second of them at once', () => {
    const pacer = pacerWith(16);
    // 640 a second: 64 at once, then one every 1.5625 ms.
    expect(takenAhead(pacer, 0, 1)).toBe(64);
    expect(pacer.takeAhead(1)).toBe(false);
    expect(pacer.nextAheadAt(1)).toBe(2);
    const inASecond = takenAhead(pacer, 1, 1_001);
    expect(inASecond).toBeGreaterThanOrEqual(639);
    expect(inASecond).toBeLessThanOrEqual(640);
    // Idle for a while: no more than the burst.
    expect(takenAhead(pacer, 10_000, 10_001)).toBe(64);
  });
});
