/**
 * First fetches of a batch are put off while an import goes on: each costs
 * this process about as much CPU as registering three clients, and no one
 * waits on an imported client's first token the way a service waits on a
 * held one. The replica that stored them takes them ahead of their due time
 * once imports pause (RefreshScheduler); their schedule entry, this much
 * later than the pacer's time, is the fallback when that replica is gone.
 * Ten minutes, because a million-client import runs that long: with a
 * minute, first fetches falling due during it took the CPU and Redis from it
 * (batches of 1,000 went unanswered for two minutes at UPSTREAM_CONCURRENCY 64).
 */
export const BATCH_FIRST_FETCH_DELAY_MS = 600_000;
/** A fallback falling due this soon whose first fetch is still held here is renewed. */
export const FALLBACK_RENEW_AHEAD_MS = 60_000;
/**
 * A first fetch announced here and not claimed here within this after its
 * due time (another replica claimed it) is forgotten.
 */
const FIRST_FETCH_MEMORY_MS = 60_000;

/** The fallback schedule entries of some first fetches, all due at `dueAt`. */
export interface Fallbacks {
  dueAt: number;
  ids: string[];
}

/**
 * The first fetches of clients registered here, until they are claimed:
 * announced before they are stored (a claim that takes them at once must
 * still know them), then stored (from then on they may be taken ahead of
 * their due time, earliest first).
 *
 * A batch's fallback entries are kept like a lock: renewed while this
 * replica lives. An import takes longer to fetch than
 * BATCH_FIRST_FETCH_DELAY_MS once it is large enough (a million clients: 752 s
 * of first fetches), and claims follow due times, so fallbacks falling due
 * meanwhile were claimed ahead of held tokens' refreshes falling due then,
 * which ran up to 151 s late. Renewed, a fallback falls due only once its
 * replica has stopped renewing it. Book-keeping only: no I/O.
 */
export class FirstFetches {
  /** Announced and not claimed yet, with when to forget them; insertion order is the order they are forgotten in. */
  private readonly announced = new Map<string, number>();
  /** Those of `announced` that are stored, earliest due first. */
  private readonly stored = new Set<string>();
  private fallbacks: Fallbacks[] = [];

  /** First fetches stored at `dueAt` are coming; a batch's due time is a fallback (see above). */
  announce(ids: readonly string[], dueAt: number, batch: boolean): void {
    const forgetAt = dueAt + FIRST_FETCH_MEMORY_MS;
    for (const id of ids) this.announced.set(id, forgetAt);
    if (batch) this.fallbacks.push({ dueAt, ids: [...ids] });
  }

  /** Announced, and not stored after all. */
  drop(ids: readonly string[]): void {
    for (const id of ids) this.announced.delete(id);
  }

  /** Announced and stored: may be taken ahead from now. */
  markStored(ids: readonly string[]): void {
    for (const id of ids) if (this.announced.has(id)) this.stored.add(id);
  }

  /** Claimed (here, or its token stored by another replica): true when it was announced here. */
  settle(id: string): boolean {
    this.stored.delete(id);
    return this.announced.delete(id);
  }

  /** Stored first fetches waiting to be taken ahead. */
  get waiting(): number {
    return this.stored.size;
  }

  /** The stored first fetches, earliest due first; settle() each one taken. */
  waitingInOrder(): IterableIterator<string> {
    return this.stored.values();
  }

  /** Drops first fetches announced too long ago: another replica claimed them. */
  forget(now: number): void {
    for (const [id, forgetAt] of this.announced) {
      if (forgetAt > now) return;
      this.announced.delete(id);
      this.stored.delete(id);
    }
  }

  /**
   * Takes the fallbacks due by `horizon` whose first fetch still waits here
   * (the rest were fetched, or another replica stored their token): the
   * caller moves them on in the store, then hands them to renewed().
   */
  takeFallingDue(horizon: number): Fallbacks[] {
    const falling: Fallbacks[] = [];
    const later: Fallbacks[] = [];
    for (const batch of this.fallbacks) {
      if (batch.dueAt > horizon) {
        later.push(batch);
        continue;
      }
      const ids = batch.ids.filter((id) => this.stored.has(id));
      if (ids.length > 0) falling.push({ dueAt: batch.dueAt, ids });
    }
    this.fallbacks = later;
    return falling;
  }

  /** The fallbacks of `ids` were moved to `dueAt`: those still waiting are remembered until then. */
  renewed(ids: readonly string[], dueAt: number): void {
    // Re-inserted, so `announced` stays in the order it is forgotten in.
    const kept = ids.filter((id) => this.announced.delete(id));
    this.announce(kept, dueAt, true);
  }
}
