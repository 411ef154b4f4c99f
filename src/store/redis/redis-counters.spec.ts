import { latestFailing } from './redis-counters';

describe('latestFailing', () => {
  it('merges the failing lists of the shards as one sorted set would give them: score, then id, descending', () => {
    const shards = [['cl_b', '30', 'cl_a', '10'], [], ['cl_d', '30', 'cl_c', '20', 'cl_e', '10']];
    expect(latestFailing(shards, 10)).toEqual(['cl_d', 'cl_b', 'cl_c', 'cl_e', 'cl_a']);
    expect(latestFailing(shards, 2)).toEqual(['cl_d', 'cl_b']);
    expect(latestFailing(shards, 0)).toEqual([]);
    expect(latestFailing([], 5)).toEqual([]);
  });
});
