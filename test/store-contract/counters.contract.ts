import fc from 'fast-check';
import type { ClientStore, LockStore, ScheduleStore } from '../../src/store/broker-store';
import { CLIENT_STATES, type ClientState, type TokenStats } from '../../src/store/store.types';
import { UNSCHEDULED, isoAt, makeEntry, makeToken, statusIn } from './fixtures';

type Store = ClientStore & ScheduleStore & LockStore;

const IDS = ['cl_0', 'cl_1', 'cl_2', 'cl_3', 'cl_4'];

/** When each client started failing, whenever it fails: two share a time, so the order's tie-break is covered. */
const FAILING_SINCE: Record<string, string> = {
  cl_0: isoAt(3),
  cl_1: isoAt(1),
  cl_2: isoAt(3),
  cl_3: isoAt(2),
  cl_4: isoAt(5),
};

type Operation =
  | { kind: 'insert'; id: string; state: ClientState }
  | { kind: 'status'; id: string; state: ClientState; staleGeneration: boolean }
  | { kind: 'record'; id: string }
  | { kind: 'token'; id: string }
  | { kind: 'delete'; id: string };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    id: fc.constantFrom(...IDS),
    state: fc.constantFrom(...CLIENT_STATES),
  }),
  fc.record({
    kind: fc.constant('status' as const),
    id: fc.constantFrom(...IDS),
    state: fc.constantFrom(...CLIENT_STATES),
    staleGeneration: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('record' as const), id: fc.constantFrom(...IDS) }),
  fc.record({ kind: fc.constant('token' as const), id: fc.constantFrom(...IDS) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...IDS) }),
);

const status = (id: string, state: ClientState) =>
  statusIn(state, state === 'failing' || state === 'rejected' ? FAILING_SINCE[id] : null);

async function apply(store: Store, op: Operation): Promise<void> {
  const current = await store.getClient(op.id);
  const generation = current?.client.generation ?? 1;
  switch (op.kind) {
    case 'insert':
      if (current !== null) return;
      await store.insertClient(makeEntry(op.id, { status: status(op.id, op.state) }), UNSCHEDULED);
      return;
    case 'status':
      await store.updateClient(op.id, op.staleGeneration ? generation + 1 : generation, {
        status: status(op.id, op.state),
        token: op.state === 'ready' ? makeToken(generation) : undefined,
      });
      return;
    case 'record':
      if (current !== null) {
        await store.updateClient(op.id, generation, { client: { ...current.client, generation: generation + 1 } });
      }
      return;
    case 'token':
      await store.updateClient(op.id, generation, { token: null });
      return;
    case 'delete':
      await store.deleteClient(op.id);
  }
}

/** What /health/tokens must say, by reading every client: the slow way the counters stand in for. */
async function recount(store: Store, ids: string[], failingLimit: number): Promise<Omit<TokenStats, 'nextDueAt'>> {
  const byState = { pending: 0, ready: 0, failing: 0, rejected: 0 };
  const failing: { id: string; since: number }[] = [];
  let total = 0;
  for (const id of ids) {
    const entry = await store.getClient(id);
    if (entry === null) continue;
    total += 1;
    byState[entry.status.state] += 1;
    if (entry.status.state === 'failing' || entry.status.state === 'rejected') {
      failing.push({ id, since: Date.parse(entry.status.failingSince ?? '') });
    }
  }
  // Newest failure first; equal times by id, descending (as Redis orders a sorted set read backwards).
  failing.sort((a, b) => b.since - a.since || (a.id < b.id ? 1 : -1));
  return { total, byState, failingIds: failing.slice(0, failingLimit).map(({ id }) => id) };
}

/** tokenStats equals a recount of getClient over `ids` (every id the test used), and no counter is negative. */
export async function expectCountersExact(store: Store, ids: string[] = IDS, failingLimit = 100): Promise<void> {
  const stats = await store.tokenStats(failingLimit);
  for (const state of CLIENT_STATES) expect(stats.byState[state]).toBeGreaterThanOrEqual(0);
  const { total, byState, failingIds } = stats;
  expect({ total, byState, failingIds }).toEqual(await recount(store, ids, failingLimit));
}

/** tokenStats: kept as clients change, and always equal to a recount of the clients. */
export function describeCountersContract(store: () => Store): void {
  describe('tokenStats counters', () => {
    it('equal a recount of the clients after every operation of any sequence, never negative', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { maxLength: 25 }), fc.integer({ min: 1, max: 6 }), async (ops, limit) => {
          for (const id of IDS) await store().deleteClient(id);
          for (const op of ops) {
            await apply(store(), op);
            await expectCountersExact(store(), IDS, limit);
          }
        }),
        { numRuns: 40 },
      );
    });

    it('count a client again under the same id once it was deleted and registered anew', async () => {
      await store().insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
      await store().deleteClient('cl_a');
      await expectCountersExact(store(), ['cl_a']);
      await store().insertClient(makeEntry('cl_a', { status: statusIn('rejected', isoAt(2)) }), UNSCHEDULED);
      expect((await store().tokenStats(10)).failingIds).toEqual(['cl_a']);
      expect((await store().tokenStats(10)).byState.rejected).toBe(1);
    });

    it('a removeDue of a client that still exists leaves it counted', async () => {
      await store().insertClient(makeEntry('cl_a', { status: statusIn('failing', isoAt(1)) }), UNSCHEDULED);
      await store().removeDue('cl_a');
      expect((await store().tokenStats(10)).byState.failing).toBe(1);
      expect((await store().tokenStats(10)).failingIds).toEqual(['cl_a']);
    });
  });
}
