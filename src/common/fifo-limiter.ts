/**
 * Caps the tasks in flight (requests to one upstream host, admin writes).
 * Callers beyond the cap wait in FIFO order; a finishing task hands its slot
 * straight to the oldest waiter, so a newcomer can never overtake the queue.
 */
export class FifoLimiter {
  private running = 0;
  // An array with a moving head: shift() on a queue of many thousands of
  // waiters would copy the whole array each time.
  private waiters: Array<() => void> = [];
  private head = 0;

  constructor(readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new Error('maxInFlight must be a positive integer');
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiters.length - this.head;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.maxInFlight) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    if (this.head < this.waiters.length) {
      const next = this.waiters[this.head];
      this.head += 1;
      this.compact();
      next();
      return;
    }
    this.running -= 1;
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    } else if (this.head >= 1_024 && this.head * 2 >= this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  }
}
