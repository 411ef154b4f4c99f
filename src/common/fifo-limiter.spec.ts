import { FifoLimiter } from './fifo-limiter';

interface ControlledTask {
  run: () => Promise<string>;
  finish: () => void;
  fail: (error: Error) => void;
}

function controlledTask(name: string, started: string[]): ControlledTask {
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    run: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
    fail: (error) => fail(error),
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FifoLimiter', () => {
  it('runs at most maxInFlight tasks at once and queues the rest', async () => {
    const limiter = new FifoLimiter(2);
    const started: string[] = [];
    const tasks = ['a', 'b', 'c', 'd'].map((name) => controlledTask(name, started));
    const results = tasks.map((task) => limiter.run(task.run));
    await flush();
    expect(started).toEqual(['a', 'b']);
    expect(limiter.inFlight).toBe(2);
    expect(limiter.queued).toBe(2);

    tasks[0].finish();
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(limiter.inFlight).toBe(2);

    tasks.slice(1).forEach((task) => task.finish());
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c', 'd']);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('serves waiters first in, first out, and a newcomer cannot overtake them', async () => {
    const limiter = new FifoLimiter(1);
    const started: string[] = [];
    const first = controlledTask('first', started);
    const queued = ['q1', 'q2', 'q3'].map((name) => controlledTask(name, started));
    const runs = [limiter.run(first.run), ...queued.map((task) => limiter.run(task.run))];
    await flush();

    first.finish();
    const latecomer = controlledTask('latecomer', started);
    runs.push(limiter.run(latecomer.run));
    for (const task of [...queued, latecomer]) {
      await flush();
      task.finish();
    }
    await Promise.all(runs);
    expect(started).toEqual(['first', 'q1', 'q2', 'q3', 'latecomer']);
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new FifoLimiter(1);
    const started: string[] = [];
    const failing = controlledTask('failing', started);
    const next = controlledTask('next', started);
    const failed = limiter.run(failing.run);
    const following = limiter.run(next.run);
    failing.fail(new Error('boom'));
    await expect(failed).rejects.toThrow('boom');
    await flush();
    expect(started).toEqual(['failing', 'next']);
    next.finish();
    await expect(following).resolves.toBe('next');
    expect(limiter.inFlight).toBe(0);
  });

  it('keeps order through a long queue', async () => {
    const limiter = new FifoLimiter(3);
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 5_000 }, (_, i) =>
        limiter.run(async () => {
          order.push(i);
          await Promise.resolve();
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
  });

  it('refuses a cap that is not a positive integer', () => {
    expect(() => new FifoLimiter(0)).toThrow();
    expect(() => new FifoLimiter(1.5)).toThrow();
  });
});
