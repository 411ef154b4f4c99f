import { BUDGET_WINDOW_MS, FirstFetchBudget, LOOP_BUSY_CEILING } from './first-fetch-budget';

/** A budget read with the busy shares given, one per window, in order. */
function budgetReading(shares: number[]) {
  // The budget reads the meter once as it is made, to start its first window there.
  const readings = [0, ...shares];
  const meter = jest.fn(() => readings.shift() ?? 0);
  const budget = new FirstFetchBudget(meter, 0);
  meter.mockClear();
  return { budget, meter };
}

/** Starts first fetches in the window at `at` until the budget says no, at most `most`; returns how many. */
function spend(budget: FirstFetchBudget, at: number, most = 10_000): number {
  let started = 0;
  while (started < most && budget.allows(at)) {
    budget.spent();
    started += 1;
  }
  return started;
}

describe('FirstFetchBudget', () => {
  it('limits nothing while the loop stays under its ceiling, reading the meter once a window', () => {
    const { budget, meter } = budgetReading([0.3, LOOP_BUSY_CEILING, 0.5]);
    for (let window = 0; window < 4; window += 1) {
      expect(spend(budget, window * BUDGET_WINDOW_MS, 800)).toBe(800);
    }
    expect(meter).toHaveBeenCalledTimes(3);
    expect(budget.perWindow).toBe(Number.POSITIVE_INFINITY);
    expect(budget.nextWindowAt()).toBe(4 * BUDGET_WINDOW_MS);
  });

  it('scales the first fetches of a busy window by the ceiling over the busy share, and grows by the room left', () => {
    const { budget } = budgetReading([0.9, 0.6, 0.68]);
    expect(spend(budget, 0, 900)).toBe(900);
    // 900 kept the loop 90% busy: 900 * 0.7 / 0.9 = 700 keep it at the ceiling.
    expect(spend(budget, BUDGET_WINDOW_MS)).toBe(700);
    // 0.6 busy leaves room for 0.7 / 0.6 as many; 0.68 for 3% more, yet it grows by at least a tenth.
    expect(spend(budget, 2 * BUDGET_WINDOW_MS)).toBe(817);
    expect(spend(budget, 3 * BUDGET_WINDOW_MS)).toBe(899);
  });

  it('counts a window that ran long at its rate, and never goes below 5 a window however busy the loop is', () => {
    const { budget } = budgetReading([0.9, 1, 1]);
    expect(spend(budget, 0, 900)).toBe(900);
    // A window twice as long as the rest: 450 a window, 350 at the ceiling.
    expect(spend(budget, 2 * BUDGET_WINDOW_MS)).toBe(350);
    // A window with no first fetch started, the loop kept busy by other work: first fetches still move.
    expect(budget.allows(3 * BUDGET_WINDOW_MS)).toBe(true);
    expect(spend(budget, 4 * BUDGET_WINDOW_MS)).toBe(5);
  });

  it('doubles each window while the loop is idle, and drops the limit past any rate a process reaches', () => {
    const shares = [0.9, ...Array.from({ length: 200 }, () => 0.1)];
    const { budget } = budgetReading(shares);
    spend(budget, 0, 100);
    let window = 1;
    do {
      budget.allows(window * BUDGET_WINDOW_MS);
      window += 1;
    } while (budget.perWindow !== Number.POSITIVE_INFINITY && window < 200);
    expect(budget.perWindow).toBe(Number.POSITIVE_INFINITY);
    // 77 a window after the busy one, then doubled 11 times: under 10 s.
    expect(window).toBe(13);
  });
});
