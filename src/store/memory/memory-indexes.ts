import type { DueClient } from '../interfaces/schedule-store';
import type { ClientState } from '../store.types';

/** The indexes the memory store keeps, ordered as Redis orders its own. */

export class StreamIdClock {
  private lastMs = 0;
  private sequence = 0;

  next(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = 0;
    } else {
      this.sequence += 1;
    }
    return `${this.lastMs}-${this.sequence}`;
  }
}

export function emptyStateCounts(): Record<ClientState, number> {
  return { pending: 0, ready: 0, failing: 0, rejected: 0 };
}

/** Ids kept sorted (code-unit order, as Redis orders ASCII members) for cursor pages without a sort per call. */
export class SortedIds {
  private readonly ids: string[] = [];

  add(id: string): void {
    const index = this.firstIndexNotBelow(id);
    if (this.ids[index] !== id) this.ids.splice(index, 0, id);
  }

  delete(id: string): void {
    const index = this.firstIndexNotBelow(id);
    if (this.ids[index] === id) this.ids.splice(index, 1);
  }

  /** Up to `limit` ids strictly greater than `afterId`. */
  after(afterId: string | undefined, limit: number): string[] {
    if (limit <= 0) return [];
    let start = afterId === undefined ? 0 : this.firstIndexNotBelow(afterId);
    if (this.ids[start] === afterId) start += 1;
    return this.ids.slice(start, start + limit);
  }

  private firstIndexNotBelow(id: string): number {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.ids[middle] < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

interface DueEntry {
  dueAt: number;
  id: string;
}

/**
 * One due time per client, with a min-heap ordered like the Redis sorted set
 * (due time, then id) so a claim costs O(claimed · log n), not a scan.
 * Heap entries are never changed in place: a rescheduled or removed client
 * leaves its old entry behind, and it is dropped when it reaches the top.
 */
export class DueSchedule {
  private readonly dueAtById = new Map<string, number>();
  private readonly heap: DueEntry[] = [];

  set(id: string, dueAt: number): void {
    if (this.dueAtById.get(id) === dueAt) return;
    this.dueAtById.set(id, dueAt);
    this.push({ id, dueAt });
  }

  delete(id: string): void {
    this.dueAtById.delete(id);
  }

  dueAt(id: string): number | undefined {
    return this.dueAtById.get(id);
  }

  earliest(): number | null {
    this.dropSuperseded();
    return this.heap[0]?.dueAt ?? null;
  }

  claim(now: number, leaseUntil: number, limit: number): DueClient[] {
    // A client rescheduled back to an earlier time can have two live heap entries; it is claimed once.
    const claimed = new Map<string, number>();
    while (claimed.size < limit) {
      this.dropSuperseded();
      const top = this.heap[0];
      if (!top || top.dueAt > now) break;
      this.pop();
      if (!claimed.has(top.id)) claimed.set(top.id, top.dueAt);
    }
    // Re-queued only now, so a lease that is itself already due is not claimed twice in one call.
    for (const id of claimed.keys()) {
      this.dueAtById.set(id, leaseUntil);
      this.push({ id, dueAt: leaseUntil });
    }
    return [...claimed].map(([id, dueAt]) => ({ id, dueAt }));
  }

  private dropSuperseded(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0];
      if (this.dueAtById.get(top.id) === top.dueAt) return;
      this.pop();
    }
  }

  private push(entry: DueEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (!isEarlier(heap[index], heap[parent])) break;
      [heap[index], heap[parent]] = [heap[parent], heap[index]];
      index = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let earliest = index;
      if (left < heap.length && isEarlier(heap[left], heap[earliest])) earliest = left;
      if (right < heap.length && isEarlier(heap[right], heap[earliest])) earliest = right;
      if (earliest === index) return;
      [heap[index], heap[earliest]] = [heap[earliest], heap[index]];
      index = earliest;
    }
  }
}

function isEarlier(a: DueEntry, b: DueEntry): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);
}
