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
/** A fallback falling due this soon whose first fetch this replica still holds is renewed. */
export const FALLBACK_RENEW_AHEAD_MS = 60_000;

/** The fallback schedule entries of some first fetches, all due at `dueAt`. */
export interface Fallbacks {
  dueAt: number;
  ids: string[];
}

/**
 * The fallback entries of the batches' first fetches this replica holds,
 * kept like a lock: renewed while it lives. An import takes longer to fetch
 * than BATCH_FIRST_FETCH_DELAY_MS once it is large enough (a million clients:
 * 752 s of first fetches), and claims follow due times, so fallbacks falling
 * due meanwhile were claimed ahead of held tokens' refreshes falling due then,
 * which ran up to 151 s late. Renewed, a fallback falls due only when its
 * replica has stopped renewing it. Book-keeping only: no I/O.
 */
export class FirstFetchFallbacks {
  private batches: Fallbacks[] = [];

  /** Fallback entries stored (or moved) for `ids`, due at `dueAt`. */
  add(ids: readonly string[], dueAt: number): void {
    if (ids.length > 0) this.batches.push({ dueAt, ids: [...ids] });
  }

  /**
   * Takes the fallbacks due by `horizon` whose first fetch is `stillHeld`
   * here (the rest were fetched, or another replica stored their token): the
   * caller moves them on and gives them back with add().
   */
  takeFallingDue(horizon: number, stillHeld: (id: string) => boolean): Fallbacks[] {
    const falling: Fallbacks[] = [];
    const later: Fallbacks[] = [];
    for (const batch of this.batches) {
      if (batch.dueAt > horizon) {
        later.push(batch);
        continue;
      }
      const ids = batch.ids.filter(stillHeld);
      if (ids.length > 0) falling.push({ dueAt: batch.dueAt, ids });
    }
    this.batches = later;
    return falling;
  }
}
