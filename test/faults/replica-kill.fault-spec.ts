import { Cluster, call, adminAuth, remainingMs, report, runLoad, sleep, type LoadResult } from './support/cluster';

/**
 * Scenario 2. A replica is SIGKILLed while it holds refresh locks (the fake
 * upstream is slowed to 5 s so every refresh holds its lock that long). The
 * other replicas must take its clients over within 30 s, no expired token
 * may be served meanwhile, and no client may be left without a refresh.
 */
const CLIENTS = 30;
const DELAY_MS = 5_000;

describe('scenario 2: a replica killed mid-refresh', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // 8 s tokens: refresh window min(10, 8/2) = 4 s, so refreshes start 4-6 s after each token.
    cluster = await Cluster.start({
      replicas: 3,
      expiresIn: 8,
      env: {
        UPSTREAM_TIMEOUT_MS: '8000',
        REFRESH_BEFORE_SECONDS: '10',
        MIN_TOKEN_TTL_SECONDS: '2',
        SCHEDULER_TICK_MS: '200',
      },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('the survivors take over its clients within 30 s; no expired token served; no client left without a refresh', async () => {
    const { fake, replicas } = cluster;
    const clients = await cluster.registerClients(CLIENTS, 'kill');
    const clientIds = clients.map((c) => c.clientId);
    await cluster.waitForIssued(clientIds, 1, 15_000);
    // From now on refreshes take 5 s (so locks are held) and bring 60 s tokens.
    fake.setDelay(DELAY_MS);
    fake.setExpiresIn(60);
    const slowFrom = Date.now();
    const [victim, ...survivors] = replicas;

    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 8,
      maxMs: 60_000,
      timeoutMs: 40_000,
      pauseMs: 20,
      pick: (n) => {
        const client = clients[n % CLIENTS];
        return { replica: survivors[n % survivors.length], id: client.id, clientId: client.clientId };
      },
      onResult: (result) => results.push(result),
    });
    let killedAt = 0;
    try {
      // Kill once the refresh wave is under way on the replicas (requests held by the slow upstream).
      const waitUntil = Date.now() + 15_000;
      while (fake.inFlight < 12 && Date.now() < waitUntil) await sleep(20);
      await cluster.waitForLocksOnReplicas(3, 10_000);
      const locks = await cluster.redisProbe().keys('tbf:{c:*}:lock');
      killedAt = Date.now();
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      const locksAtKill = locks.length;

      // The victim's refreshes are the upstream requests it sent and never read the answer of.
      await sleep(DELAY_MS + 500);
      fake.setDelay(300);
      const orphaned = fake.requests.filter(
        (r) => r.at >= slowFrom && r.at < killedAt && r.status === null && r.clientId !== null,
      );
      const victimClients = [...new Set(orphaned.map((r) => r.clientId!))];

      // Each of them gets a token from a survivor within 30 s of the kill.
      const takeoverMs = new Map<string, number>();
      const deadline = killedAt + 30_000;
      while (takeoverMs.size < victimClients.length && Date.now() < deadline) {
        for (const clientId of victimClients) {
          if (takeoverMs.has(clientId)) continue;
          const after = fake.requests.find((r) => r.clientId === clientId && r.at > killedAt && r.status === 200);
          if (after) takeoverMs.set(clientId, after.at - killedAt);
        }
        await sleep(100);
      }
      // Every client ends with a token from this cycle (60 s), valid, and in state ready.
      const views = await Promise.all(
        clients.map((c) => call(survivors[0].url, 'GET', `/v1/clients/${c.id}`, { headers: adminAuth })),
      );
      const refreshed = views.filter(
        (v) => v.body.status.state === 'ready' && Date.parse(v.body.status.tokenExpiresAt) - Date.now() > 30_000,
      ).length;
      await load.stop();

      const ok = results.filter((r) => r.answer?.status === 200);
      const other = results.filter((r) => r.answer?.status !== 200);
      const remaining = ok.map((r) => remainingMs(r.answer!));
      const expiredServed = remaining.filter((ms) => ms < 2_000).length;
      const takeovers = [...takeoverMs.values()];
      report('2-replica-sigkill', {
        replicas: 3,
        clients: CLIENTS,
        upstreamDelayMs: DELAY_MS,
        locksHeldAtKill: locksAtKill,
        victimRefreshesCutShort: victimClients.length,
        takenOver: takeovers.length,
        takeoverMaxS: +(Math.max(...takeovers) / 1000).toFixed(2),
        takeoverMinS: +(Math.min(...takeovers) / 1000).toFixed(2),
        tokenRequestsDuring: results.length,
        servedOk: ok.length,
        otherAnswers: other.length,
        servedWithLessThanMinTtl: expiredServed,
        clientsRefreshedThisCycle: refreshed,
      });

      expect(victimClients.length).toBeGreaterThan(0);
      expect(takeovers.length).toBe(victimClients.length);
      expect(Math.max(...takeovers)).toBeLessThanOrEqual(30_000);
      expect(other.map((r) => r.answer?.status ?? r.error?.code)).toEqual([]);
      expect(expiredServed).toBe(0);
      expect(refreshed).toBe(CLIENTS);
    } finally {
      await load.stop();
    }
  });
});
