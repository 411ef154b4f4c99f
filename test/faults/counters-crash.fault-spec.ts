import { waitForOutput } from '../support/broker-process';
import { Cluster, adminAuth, call, report, sleep, type Replica } from './support/cluster';

/**
 * Scenario: a replica is SIGKILLed between a client write and the write of
 * the /health/tokens counters (two Redis Cluster slots, so two steps). A
 * test-only failpoint (TEST_FAILPOINT=after-client-write, refused in
 * production) stops the replica exactly there; the test kills it by PID.
 * A replica started afterwards on the same Redis must make /health/tokens
 * equal a recount of the client views within the bound the store promises:
 * REPAIR_WITHIN_MS (20 s, also the scheduler's claim lease) plus a tick.
 */
const BOUND_MS = 20_000 + 5_000;
const FAILPOINT_ENV = { TEST_FAILPOINT: 'after-client-write', NODE_ENV: 'test' };

interface View {
  id: string;
  workspaceId: string;
  status: { state: string; lastError: string | null; failingSince: string | null };
}

async function views(replica: Replica): Promise<View[]> {
  const res = await call(replica.url, 'GET', '/v1/clients?limit=100', { headers: adminAuth });
  expect(res.status).toBe(200);
  return res.body.items;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the /health/tokens JSON, compared whole
async function healthTokens(replica: Replica): Promise<any> {
  const res = await call(replica.url, 'GET', '/health/tokens', { headers: adminAuth });
  expect(res.status).toBe(200);
  return res.body;
}

const since = (view: View) => Date.parse(view.status.failingSince ?? '');

/** What /health/tokens must say, by reading every client view. */
function recount(clients: View[]) {
  const byState: Record<string, number> = { pending: 0, ready: 0, failing: 0, rejected: 0 };
  for (const view of clients) byState[view.status.state] += 1;
  const failing = clients
    .filter((view) => view.status.state === 'failing' || view.status.state === 'rejected')
    .sort((a, b) => since(b) - since(a) || (a.id < b.id ? 1 : -1))
    .map(({ id, workspaceId, status }) => {
      const { state, lastError, failingSince } = status;
      return { id, workspaceId, state, lastError, failingSince };
    });
  return { total: clients.length, byState, failing };
}

async function register(replica: Replica, clientId: string, clientSecret: string): Promise<string> {
  const res = await call(replica.url, 'POST', '/v1/clients', {
    headers: adminAuth,
    body: { workspaceId: 'o_counters', name: clientId, type: 'oauth_client_credentials', clientId, clientSecret },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Kills the replica once it has stopped at the failpoint `times` times. */
async function killAtFailpoint(replica: Replica, times: number): Promise<void> {
  await waitForOutput(replica.proc.stdout, new RegExp(`(TEST_FAILPOINT reached[\\s\\S]*){${times}}`), 20_000);
  process.kill(replica.proc.child.pid!, 'SIGKILL');
  await replica.proc.exited;
}

/** Polls /health/tokens on `replica` until it equals the recount of the views; answers how long that took. */
async function exactWithin(replica: Replica, boundMs: number): Promise<number> {
  const startedAt = Date.now();
  for (;;) {
    const [health, clients] = [await healthTokens(replica), await views(replica)];
    for (const count of Object.values(health.byState)) expect(count).toBeGreaterThanOrEqual(0);
    const expected = recount(clients);
    const { total, byState, failing } = health;
    if (JSON.stringify({ total, byState, failing }) === JSON.stringify(expected)) return Date.now() - startedAt;
    if (Date.now() - startedAt > boundMs) {
      expect({ total, byState, failing }).toEqual(expected);
    }
    await sleep(200);
  }
}

describe('scenario: a replica killed between a client write and its counting', () => {
  let cluster: Cluster;

  beforeEach(async () => {
    cluster = await Cluster.start({ replicas: 0 });
  });
  afterEach(async () => {
    await cluster?.stop();
  });

  it('a state change: /health/tokens is exact again within the bound, failing list included', async () => {
    const victim = await cluster.startReplica('victim', FAILPOINT_ENV);
    cluster.fake.addClient('good', 'good-secret-0123456789');
    cluster.fake.addClient('refused', 'the-right-secret-0123456789');
    const goodId = await register(victim, 'good', 'good-secret-0123456789');
    const refusedId = await register(victim, 'refused', 'a-wrong-secret-0123456789');

    // Both first refreshes change a state (pending -> ready, pending -> rejected) and stop after the client write.
    await killAtFailpoint(victim, 2);
    const killedAt = Date.now();

    const survivor = await cluster.startReplica('survivor');
    const before = await healthTokens(survivor);
    const clients = await views(survivor);
    expect(Object.fromEntries(clients.map((view) => [view.id, view.status.state]))).toEqual({
      [goodId]: 'ready',
      [refusedId]: 'rejected',
    });
    // The crash left the counters behind: they still count both clients as pending.
    expect(before.byState).toEqual({ pending: 2, ready: 0, failing: 0, rejected: 0 });

    const tookMs = await exactWithin(survivor, BOUND_MS);
    const health = await healthTokens(survivor);
    expect(health.failing.map((entry: { id: string }) => entry.id)).toEqual([refusedId]);
    report('counters-crash-state-change', { exactAfterKillMs: Date.now() - killedAt, exactAfterRestartMs: tookMs });
  });

  it('a delete: the deleted client leaves the counters and the failing list within the bound', async () => {
    const normal = await cluster.startReplica('normal');
    cluster.fake.addClient('refused', 'the-right-secret-0123456789');
    cluster.fake.addClient('good', 'good-secret-0123456789');
    const refusedId = await register(normal, 'refused', 'a-wrong-secret-0123456789');
    await register(normal, 'good', 'good-secret-0123456789');
    await exactWithin(normal, 10_000);
    await waitForState(normal, refusedId, 'rejected');
    await exactWithin(normal, 10_000);
    const victim = await cluster.startReplica('victim', FAILPOINT_ENV);
    process.kill(normal.proc.child.pid!, 'SIGKILL');
    await normal.proc.exited;

    const deleting = call(victim.url, 'DELETE', `/v1/clients/${refusedId}`, { headers: adminAuth, timeoutMs: 30_000 });
    deleting.catch(() => undefined);
    await killAtFailpoint(victim, 1);
    const killedAt = Date.now();

    const survivor = await cluster.startReplica('survivor');
    expect((await views(survivor)).map((view) => view.id)).not.toContain(refusedId);
    expect((await healthTokens(survivor)).byState.rejected).toBe(1);

    const tookMs = await exactWithin(survivor, BOUND_MS);
    expect(await healthTokens(survivor)).toMatchObject({ total: 1, byState: { ready: 1, rejected: 0 }, failing: [] });
    report('counters-crash-delete', { exactAfterKillMs: Date.now() - killedAt, exactAfterRestartMs: tookMs });
  });
});

async function waitForState(replica: Replica, id: string, state: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await call(replica.url, 'GET', `/v1/clients/${id}`, { headers: adminAuth });
    if (res.body?.status?.state === state) return;
    if (Date.now() > deadline) throw new Error(`client ${id} is not ${state} after 15 s: ${JSON.stringify(res.body)}`);
    await sleep(100);
  }
}
