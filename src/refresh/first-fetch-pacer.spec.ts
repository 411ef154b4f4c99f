import { FirstFetchPacer } from './first-fetch-pacer';

describe('FirstFetchPacer', () => {
  it('gives now when no first fetch is waiting', () => {
    const pacer = new FirstFetchPacer(16, 0);
    expect(pacer.dueAt(1, 1_000)).toBe(1_000);
    // 16 slots of 20 ms (the first guess): 800 a second at 80%, so one is done 1.25 ms later.
    expect(pacer.dueAt(1, 5_000)).toBe(5_000);
  });

  it('spaces a group after the groups handed out before it, at 80% of what the slots take', () => {
    const pacer = new FirstFetchPacer(16, 0);
    expect(pacer.perSecond()).toBe(640);
    expect(pacer.dueAt(1_000, 0)).toBe(0);
    expect(pacer.dueAt(100, 10)).toBeCloseTo(1_562.5, 6);
    expect(pacer.dueAt(100, 20)).toBeCloseTo(1_562.5 + 156.25, 6);
  });

  it('follows the measured time a refresh holds its slot', () => {
    const pacer = new FirstFetchPacer(16, 0);
    for (let index = 0; index < 500; index += 1) pacer.refreshed(100);
    // 16 slots of 100 ms: 160 a second, 128 for first fetches.
    expect(pacer.perSecond()).toBeCloseTo(128, 1);
  });

  it('leaves room for the refreshes of held tokens, and never less than 5% of the capacity to first fetches', () => {
    const pacer = new FirstFetchPacer(16, 0);
    pacer.heldClaimed(300, 1_000);
    // (800 - 150, the average with the 0 before) * 80%.
    expect(pacer.perSecond()).toBeCloseTo(520, 6);
    pacer.heldClaimed(5_000, 2_000);
    expect(pacer.perSecond()).toBeCloseTo(40, 6);
  });
});
