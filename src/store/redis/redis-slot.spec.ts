import { keySlot } from './redis-slot';

describe('keySlot', () => {
  it('matches Redis Cluster (CLUSTER KEYSLOT) on keys with and without hash tags', () => {
    // Values from CLUSTER KEYSLOT on redis-server 7.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('tb:{c:abc}')).toBe(keySlot('c:abc'));
    expect(keySlot('tb:{c:abc}:lock')).toBe(keySlot('tb:{c:abc}'));
    expect(keySlot('a{}b')).toBe(keySlot('a{}b'));
  });
});
