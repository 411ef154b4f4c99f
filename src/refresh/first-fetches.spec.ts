import { FirstFetches } from './first-fetches';

describe('FirstFetches', () => {
  it('hands out the stored first fetches earliest first; a claimed or changed one is settled once', () => {
    const book = new FirstFetches();
    book.announce(['cl_a', 'cl_b'], 1_000, false);
    book.announce(['cl_c'], 2_000, true);
    book.markStored(['cl_c', 'cl_a', 'cl_never_announced']);
    expect([...book.waitingInOrder()]).toEqual(['cl_c', 'cl_a']);
    expect(book.settle('cl_a')).toBe(true);
    expect(book.settle('cl_a')).toBe(false);
    // Announced but never stored (cl_b) is still a first fetch when claimed, though never taken ahead.
    expect(book.settle('cl_b')).toBe(true);
    expect(book.waiting).toBe(1);
  });

  it("takes a batch's fallbacks falling due by the horizon, only those still waiting, and keeps renewed ones", () => {
    const book = new FirstFetches();
    book.announce(['cl_1', 'cl_2', 'cl_3'], 10_000, true);
    book.announce(['cl_4'], 50_000, true);
    book.announce(['cl_single'], 5_000, false);
    book.markStored(['cl_1', 'cl_2', 'cl_3', 'cl_4', 'cl_single']);
    book.settle('cl_2');

    expect(book.takeFallingDue(9_999)).toEqual([]);
    expect(book.takeFallingDue(10_000)).toEqual([{ dueAt: 10_000, ids: ['cl_1', 'cl_3'] }]);
    // Taken once: until renewed, they are not handed out again.
    expect(book.takeFallingDue(20_000)).toEqual([]);
    book.settle('cl_3');
    book.renewed(['cl_1', 'cl_3'], 70_000);
    expect(book.takeFallingDue(60_000)).toEqual([{ dueAt: 50_000, ids: ['cl_4'] }]);
    expect(book.takeFallingDue(70_000)).toEqual([{ dueAt: 70_000, ids: ['cl_1'] }]);
  });

  it('forgets first fetches a minute past their due time (another replica claimed them), renewed ones a minute past the new one', () => {
    const book = new FirstFetches();
    book.announce(['cl_old', 'cl_renewed'], 1_000, true);
    book.announce(['cl_new'], 2_000, true);
    book.markStored(['cl_old', 'cl_renewed', 'cl_new']);
    book.renewed(['cl_renewed'], 100_000);

    book.forget(62_000);
    expect([...book.waitingInOrder()]).toEqual(['cl_renewed']);
    book.forget(160_000);
    expect(book.waiting).toBe(0);
  });
});
