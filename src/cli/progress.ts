const WIDTH = 30;

/** A one-line progress bar on stderr, drawn only when stderr is a terminal (never into a pipe or a log). */
export class ProgressBar {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDrawAt = 0;

  constructor(
    private readonly total: number,
    private readonly label: string,
  ) {}

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDrawAt < 100) return;
    this.lastDrawAt = now;
    const ratio = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const filled = Math.round(ratio * WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
    process.stderr.write(`\r${this.label} [${bar}] ${done}/${this.total} ${Math.floor(ratio * 100)}%`);
  }

  finish(done: number): void {
    if (!this.enabled) return;
    this.update(done, true);
    process.stderr.write('\n');
  }
}
