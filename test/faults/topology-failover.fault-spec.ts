import type { FakePipedream } from '../support/fake-pipedream';
import {
  masterPorts,
  startRedisCluster,
  startRedisSentinel,
  topologyEnv,
  type RedisTopologyHandle,
} from '../support/redis-topologies';
import {
  Cluster,
  adminAuth,
  call,
  issuedCounts,
  remainingMs,
  report,
  runLoad,
  sleep,
  type LoadResult,
} from './support/cluster';

/**
 * A master SIGKILLed under load, on a 3-master, 3-replica Redis Cluster and
 * on a master with 2 replicas watched by 3 Sentinels: three broker replicas
 * with REDIS_WAIT_REPLICAS=1, clients refreshing on short tokens, token GETs
 * and registrations running.
 */
const EXPIRES_IN = 12;
const MIN_TTL_MS = 2_000;
const REFRESH_BEFORE_SECONDS = 6;
/** The refresh window of these tokens, as the broker computes it. */
const REFRESH_WINDOW_MS = Math.min(REFRESH_BEFORE_SECONDS, EXPIRES_IN / 2) * 1_000;

const TOPOLOGIES = [
  { name: 'Redis Cluster', start: () => startRedisCluster({ masters: 3, replicas: 1 }), masters: 3 },
  { name: 'Sentinel', start: () => startRedisSentinel({ replicas: 2, sentinels: 3 }), masters: 1 },
];

describe.each(TOPOLOGIES)('$name failover', ({ name, start, masters }) => {
  let redis: RedisTopologyHandle;
  let brokers: Cluster;

  beforeAll(async () => {
    redis = await start();
    brokers = await Cluster.start({
      replicas: 3,
      expiresIn: EXPIRES_IN,
      env: {
        REDIS_URL: '',
        ...topologyEnv(redis),
        REDIS_WAIT_REPLICAS: '1',
        REFRESH_BEFORE_SECONDS: String(REFRESH_BEFORE_SECONDS),
      },
    });
  }, 120_000);
  afterAll(async () => {
    await brokers?.stop();
    await redis?.stop();
  });

  /** Each replica's readiness: its status (0 when it did not answer) and the Terminus body saying what is down. */
  async function readiness(): Promise<{ status: number; body: unknown }[]> {
    return Promise.all(
      brokers.replicas.map((r) =>
        call(r.url, 'GET', '/health/ready', { timeoutMs: 3_000 }).then(
          (a) => ({ status: a.status, body: a.body }),
          (error: Error) => ({ status: 0, body: error.message }),
        ),
      ),
    );
  }

  it('SIGKILL of a master: no token served near expiry, no acknowledged registration lost, refreshing resumes', async () => {
    const { fake, replicas } = brokers;
    const clients = await brokers.registerClients(24, 'failover');
    await brokers.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      15_000,
    );

    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 6,
      maxMs: 60_000,
      timeoutMs: 5_000,
      pick: (n) => ({ replica: replicas[n % replicas.length], ...clients[n % clients.length] }),
      onResult: (result) => results.push(result),
    });
    const acknowledged: string[] = [];
    const refusedStatuses: number[] = [];
    let registering = true;
    const registrations = (async () => {
      for (let index = 0; registering; index += 1) {
        const clientId = `late-${index}`;
        fake.addClient(clientId, `late-secret-${index}-0123456789`);
        const res = await call(replicas[index % replicas.length].url, 'POST', '/v1/clients', {
          headers: adminAuth,
          timeoutMs: 5_000,
          body: {
            workspaceId: 'o_faults',
            name: clientId,
            type: 'oauth_client_credentials',
            clientId,
            clientSecret: `late-secret-${index}-0123456789`,
          },
        }).catch(() => null);
        if (res?.status === 201) acknowledged.push(res.body.id as string);
        else refusedStatuses.push(res?.status ?? 0);
        await sleep(50);
      }
    })();

    await sleep(3_000);
    const [victimPort] = await masterPorts(redis);
    const victim = redis.nodes.find(({ port }) => port === victimPort);
    victim?.process.kill('SIGKILL');
    const killedAt = Date.now();
    const readySeen = new Set<number>();
    let promotedAfterMs = -1;
    let readyAgainAfterPromotionMs = -1;
    let lastReadiness: { status: number; body: unknown }[] = [];
    // Load runs on for 15 s after the kill, and on until every replica is ready again: a Sentinel whose first
    // failover attempt fails waits twice its failover-timeout before the next, so promotion may come late.
    while (Date.now() - killedAt < 15_000 || (readyAgainAfterPromotionMs < 0 && Date.now() - killedAt < 45_000)) {
      lastReadiness = await readiness();
      for (const { status } of lastReadiness) readySeen.add(status);
      if (promotedAfterMs < 0 && (await masterPorts(redis)).length === masters) {
        promotedAfterMs = Date.now() - killedAt;
      }
      const allReady = lastReadiness.every(({ status }) => status === 200);
      if (promotedAfterMs >= 0 && readyAgainAfterPromotionMs < 0 && allReady) {
        readyAgainAfterPromotionMs = Date.now() - killedAt - promotedAfterMs;
      }
      await sleep(250);
    }
    registering = false;
    await registrations;
    await load.stop();

    if (lastReadiness.some(({ status }) => status !== 200)) {
      for (const replica of replicas) console.log(`${replica.name} logs:\n${replica.proc.stdout().slice(-4_000)}`);
    }
    // The master was promoted, and readiness came back on every replica by itself within seconds of it.
    expect(promotedAfterMs).toBeGreaterThanOrEqual(0);
    expect({ readyAgainAfterPromotionMs, lastReadiness }).toEqual({
      readyAgainAfterPromotionMs: expect.any(Number),
      lastReadiness: [200, 200, 200].map((status) => expect.objectContaining({ status })),
    });
    expect(readyAgainAfterPromotionMs).toBeLessThanOrEqual(10_000);
    // Every registration answered 201 is there.
    for (const id of acknowledged) {
      const res = await call(replicas[0].url, 'GET', `/v1/clients/${id}`, { headers: adminAuth });
      expect(res.status).toBe(200);
    }
    // No token served within MIN_TOKEN_TTL_SECONDS of its expiry.
    const served = results.flatMap(({ answer }) => (answer?.status === 200 ? [answer] : []));
    expect(served.length).toBeGreaterThan(100);
    for (const answer of served) expect(remainingMs(answer)).toBeGreaterThanOrEqual(MIN_TTL_MS - 50);
    // Refreshing resumed for every client after the failover.
    const afterPromotion = killedAt + Math.max(promotedAfterMs, 0);
    await brokers.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      EXPIRES_IN * 1_000 + 5_000,
      afterPromotion,
    );
    // Change events still reach every replica within 1 s (the killed master was the subscribers' first node).
    const [gone] = clients;
    const deleteGone = () => call(replicas[0].url, 'DELETE', `/v1/clients/${gone.id}`, { headers: adminAuth });
    const deleted = await deleteGone();
    // With REDIS_WAIT_REPLICAS=1, a write to the promoted master (no replica of its own left) is 503 store_unavailable
    // and may have been kept (SPEC): the retry says which, 204 or 404. Which master the client's keys sit on is chance.
    if (deleted.status === 503) {
      expect(deleted.body.code).toBe('store_unavailable');
      expect([204, 404]).toContain((await deleteGone()).status);
    } else {
      expect(deleted.status).toBe(204);
    }
    const deletedAt = Date.now();
    for (const replica of replicas.slice(1)) {
      let status = 200;
      while (status !== 404 && Date.now() - deletedAt < 1_000) {
        status = (await call(replica.url, 'GET', `/v1/clients/${gone.id}/token`, { headers: adminAuth })).status;
      }
      expect(status).toBe(404);
    }
    // One upstream request per client per cycle, give or take one around the failover: per client, at most one
    // token issued before the previous one's refresh window opened (a second request in one cycle), and at most
    // one cycle that ran past its token's expiry before the next token came (a refresh delayed by the failover).
    const cycles = cyclesAround(fake, new Set(clients.map((c) => c.clientId)));
    expect(cycles.filter(({ early }) => early > 1)).toEqual([]);
    expect(cycles.filter(({ lapsed }) => lapsed > 1)).toEqual([]);
    const perClient = [...issuedCounts(fake, killedAt - 20_000).values()];
    report(`${name} master SIGKILL`, {
      promotedAfterMs,
      readyAgainAfterPromotionMs,
      acknowledgedRegistrations: acknowledged.length,
      refusedRegistrations: refusedStatuses.length,
      refusedStatuses: [...new Set(refusedStatuses)],
      tokensServed: served.length,
      readySeen: [...readySeen],
      issuedPerClientOver20s: { min: Math.min(...perClient), max: Math.max(...perClient) },
      earlyRequests: cycles.reduce((sum, { early }) => sum + early, 0),
      lapsedCycles: cycles.reduce((sum, { lapsed }) => sum + lapsed, 0),
    });
  });
});

/**
 * Per client of `clientIds`, from the gaps between its issued tokens: `early`, tokens issued before the previous
 * token's refresh window opened (EXPIRES_IN - REFRESH_WINDOW_MS after it, less 250 ms of clock slack), each an
 * extra upstream request within one cycle; `lapsed`, gaps longer than the token's lifetime.
 */
function cyclesAround(
  fake: FakePipedream,
  clientIds: Set<string>,
): { clientId: string; early: number; lapsed: number }[] {
  const times = new Map<string, number[]>([...clientIds].map((clientId) => [clientId, []]));
  for (const token of fake.issued) times.get(token.clientId)?.push(token.at);
  return [...times].map(([clientId, at]) => {
    const gaps = at.slice(1).map((time, i) => time - at[i]);
    return {
      clientId,
      early: gaps.filter((gap) => gap < EXPIRES_IN * 1_000 - REFRESH_WINDOW_MS - 250).length,
      lapsed: gaps.filter((gap) => gap > EXPIRES_IN * 1_000).length,
    };
  });
}
