import { RandomPool } from './random-pool';

describe('RandomPool', () => {
  it('hands out each byte of a fill once, in buffers of the length asked', () => {
    const pool = new RandomPool(64);
    const taken = [pool.take(12), pool.take(12), pool.take(12), pool.take(12), pool.take(12)];
    expect(taken.map((bytes) => bytes.length)).toEqual([12, 12, 12, 12, 12]);
    expect(new Set(taken.map((bytes) => bytes.toString('hex'))).size).toBe(5);
  });

  it('refills when a request does not fit what is left, without changing bytes already handed out', () => {
    const pool = new RandomPool(16);
    const first = pool.take(12);
    const copy = Buffer.from(first);
    const second = pool.take(12);
    expect(first.equals(copy)).toBe(true);
    expect(second.equals(first)).toBe(false);
  });

  it('serves a request larger than the pool on its own', () => {
    const pool = new RandomPool(16);
    const big = pool.take(40);
    expect(big.length).toBe(40);
    expect(big.equals(Buffer.alloc(40))).toBe(false);
  });
});
