import { keySlot } from './redis-slot';
import { SHARDS, shardOf, shardTags, takeEarliest } from './shards';

describe('shards of the schedule and the counters', () => {
  it('gives shard n a tag in the n-th sixteenth of the slots, so equal slot ranges hold equal shards', () => {
    for (const name of ['sched', 'stats']) {
      const tags = shardTags(name);
      expect(tags).toHaveLength(SHARDS);
      tags.forEach((tag, shard) => expect(Math.floor(keySlot(`{${tag}}`) / 1_024)).toBe(shard));
      // What `redis-cli --cluster create` gives 3 masters: 0-5460, 5461-10922, 10923-16383.
      const perMaster = [0, 0, 0];
      for (const tag of tags) perMaster[Math.min(2, Math.floor(keySlot(`{${tag}}`) / 5_461.34))] += 1;
      expect(Math.max(...perMaster)).toBeLessThanOrEqual(6);
    }
  });

  it('spreads client ids evenly over the shards', () => {
    const counts = new Array<number>(SHARDS).fill(0);
    for (let index = 0; index < 16_000; index += 1) counts[shardOf(`cl_${index.toString(36)}x${index * 7919}`)] += 1;
    expect(Math.max(...counts) / 1_000).toBeLessThan(1.15);
  });

  it('takes the earliest due entries over all shards; equal times take turns', () => {
    const entries = [
      { shard: 0, id: 'a', dueAt: 5 },
      { shard: 0, id: 'b', dueAt: 6 },
      { shard: 2, id: 'c', dueAt: 1 },
      { shard: 3, id: 'd', dueAt: 5 },
    ];
    expect(takeEarliest(entries, 2, 0, 4)).toEqual([1, 0, 1, 0]);
    expect(takeEarliest(entries, 2, 3, 4)).toEqual([0, 0, 1, 1]);
    expect(takeEarliest(entries, 10, 0, 4)).toEqual([2, 0, 1, 1]);
    expect(takeEarliest(entries, 0, 0, 4)).toEqual([0, 0, 0, 0]);
  });
});
