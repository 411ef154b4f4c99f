/** A client taken from the schedule, with the time it was due (for refresh-lag figures). */
export interface DueClient {
  id: string;
  dueAt: number;
}

/** What one claim took, and when the earliest client it left behind is due (null: none is scheduled). */
export interface DueClaim {
  due: DueClient[];
  nextDueAt: number | null;
}

/** The refresh schedule: one due time per client. */
export interface ScheduleStore {
  setDue(id: string, dueAt: number): Promise<void>;
  removeDue(id: string): Promise<void>;
  /**
   * Atomically takes up to `limit` clients due at or before `now` and pushes
   * their due time to `leaseUntil`, so other replicas do not take them again
   * unless the taker dies before rescheduling them. Also tells when the
   * earliest client left in the schedule is due, so the caller can sleep until then.
   */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim>;
  /**
   * Moves those of `ids` still due at exactly `from` to `until`; an entry
   * claimed, rescheduled or removed since is left as it is. Returns how many
   * moved. A replica renews with it the fallback entries of the first fetches
   * it will take itself (a lease kept while it lives).
   */
  deferDue(ids: readonly string[], from: number, until: number): Promise<number>;
}
