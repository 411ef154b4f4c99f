import type { SchedulerRegistry } from '@nestjs/schedule';

/**
 * A one-shot timer that runs its task by the earliest time asked of it,
 * registered under its name with @nestjs/schedule's SchedulerRegistry (every
 * timer of the app is listed, and cleared at shutdown, in one place). Asked
 * for a time later than the one it is set for, it keeps its own.
 */
export class WakeTimer {
  private at = Number.POSITIVE_INFINITY;

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly name: string,
    private readonly task: () => void,
  ) {}

  /** Runs the task at `at` at the latest. */
  by(at: number): void {
    if (at >= this.at) return;
    this.clear();
    this.at = at;
    const timer = setTimeout(
      () => {
        this.clear();
        this.task();
      },
      Math.max(0, at - Date.now()),
    );
    timer.unref();
    this.registry.addTimeout(this.name, timer);
  }

  clear(): void {
    this.at = Number.POSITIVE_INFINITY;
    if (this.registry.doesExist('timeout', this.name)) this.registry.deleteTimeout(this.name);
  }
}
