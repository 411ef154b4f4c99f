import { Cluster, remainingMs, report, runLoad, sleep, type LoadResult } from './support/cluster';

/**
 * Scenario 8. SIGTERM to one of three replicas under load, while it holds
 * refresh locks on a slow upstream (8 s per token request). It must exit 0
 * within 10 s, no request in flight may see its connection reset, and its
 * locks (and claims) must be given back at once, so another replica refreshes
 * its clients without waiting for the 15 s lock expiry.
 */
const DELAY_MS = 8_000;

describe('scenario 8: SIGTERM under load', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // 8 s tokens (window 4 s) for the refreshing group; UPSTREAM_TIMEOUT_MS above the fake's delay.
    cluster = await Cluster.start({
      replicas: 3,
      expiresIn: 8,
      env: {
        UPSTREAM_TIMEOUT_MS: '10000',
        REFRESH_BEFORE_SECONDS: '10',
        MIN_TOKEN_TTL_SECONDS: '2',
        SCHEDULER_TICK_MS: '200',
      },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('exits 0 within 10 s, resets no in-flight request, and releases its locks at once', async () => {
    const { fake, replicas } = cluster;
    // Served under load: long-lived tokens. Refreshed in the background: 8 s tokens.
    const served = await cluster.registerClients(20, 'served', 'o_faults', { expiresIn: 3600 });
    const refreshing = await cluster.registerClients(30, 'refreshing');
    await cluster.waitForIssued(
      [...served, ...refreshing].map((c) => c.clientId),
      1,
      15_000,
    );
    fake.setDelay(DELAY_MS);
    const slowFrom = Date.now();
    const [victim] = replicas;

    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 12,
      maxMs: 60_000,
      timeoutMs: 15_000,
      pick: (n) => {
        const client = served[n % served.length];
        return { replica: replicas[n % replicas.length], id: client.id, clientId: client.clientId };
      },
      onResult: (result) => results.push(result),
    });
    let signalledAt = 0;
    let exitedAt = 0;
    let exitCode: number | string;
    let victimLocksLeft: number;
    let locksAtSignal: number;
    try {
      // SIGTERM once the victim is refreshing (the refresh wave holds the slow upstream).
      const waitUntil = Date.now() + 15_000;
      while (fake.inFlight < 12 && Date.now() < waitUntil) await sleep(20);
      await cluster.waitForLocksOnReplicas(3, 10_000);
      const probe = cluster.redisProbe();
      const lockKeys = await probe.keys('tbf:{c:*}:lock');
      const owners = new Map<string, string | null>(
        await Promise.all(lockKeys.map(async (k) => [k, await probe.get(k)] as [string, string | null])),
      );
      locksAtSignal = lockKeys.length;
      signalledAt = Date.now();
      victim.proc.child.kill('SIGTERM');
      exitCode = await victim.proc.exited;
      exitedAt = Date.now();
      // Which of those locks were the victim's: the ones whose upstream request it never read the answer of.
      await sleep(DELAY_MS - (Date.now() - signalledAt) + 500);
      const cut = fake.requests.filter(
        (r) => r.at >= slowFrom && r.at < signalledAt && r.status === null && r.clientId !== null,
      );
      const cutClients = [...new Set(cut.map((r) => r.clientId!))];
      const victimLockKeys = refreshing
        .filter((c) => cutClients.includes(c.clientId))
        .map((c) => `tbf:{c:${c.id}}:lock`);
      victimLocksLeft = 0;
      for (const key of victimLockKeys) {
        const owner = await probe.get(key);
        if (owner !== null && owner === owners.get(key)) victimLocksLeft += 1;
      }
      // Another replica asks the upstream for each of them, well before a lock could have expired (15 s).
      const nextRequest = (clientId: string) =>
        fake.requests.find((r) => r.clientId === clientId && r.at > signalledAt);
      while (Date.now() - exitedAt < 20_000 && !cutClients.every(nextRequest)) await sleep(100);
      const takeoverMs = cutClients.map((clientId) => {
        const next = nextRequest(clientId);
        return next ? next.at - exitedAt : Infinity;
      });
      await load.stop();

      const victimResults = results.filter((r) => r.replica === victim.name);
      const inFlightFailures = victimResults.filter((r) => r.error && r.error.code !== 'ECONNREFUSED');
      const refused = victimResults.filter((r) => r.error?.code === 'ECONNREFUSED').length;
      const badAnswers = results.filter((r) => r.answer && r.answer.status !== 200);
      const survivorErrors = results.filter((r) => r.replica !== victim.name && r.error);
      const short = results.filter((r) => r.answer?.status === 200 && remainingMs(r.answer) < 2_000).length;
      const victimServedAfterSignal = victimResults.filter(
        (r) => r.answer?.status === 200 && r.answer.receivedAt >= signalledAt,
      ).length;

      report('8-sigterm-under-load', {
        replicas: 3,
        exitCode,
        exitWithinS: +((exitedAt - signalledAt) / 1000).toFixed(2),
        locksInRedisAtSignal: locksAtSignal,
        victimRefreshesCutShort: cutClients.length,
        victimLocksLeftAfterExit: victimLocksLeft,
        takeoverAfterExitMaxS: +(Math.max(...takeoverMs) / 1000).toFixed(2),
        takeoverAfterSignalMaxS: +((Math.max(...takeoverMs) + exitedAt - signalledAt) / 1000).toFixed(2),
        requestsTotal: results.length,
        victimAnsweredAfterSignal: victimServedAfterSignal,
        victimConnectionsRefusedAfterClose: refused,
        inFlightFailures: inFlightFailures.map((r) => r.error!.code),
        non200Answers: badAnswers.map((r) => r.answer!.status),
        survivorErrors: survivorErrors.length,
        servedWithLessThanMinTtl: short,
      });

      expect(exitCode).toBe(0);
      expect(exitedAt - signalledAt).toBeLessThan(10_000);
      expect(inFlightFailures.map((r) => r.error!.code)).toEqual([]);
      expect(badAnswers.map((r) => r.answer!.status)).toEqual([]);
      expect(survivorErrors.length).toBe(0);
      expect(short).toBe(0);
      expect(cutClients.length).toBeGreaterThan(0);
      expect(victimLocksLeft).toBe(0);
      // Lock expiry would be 15 s after the victim last renewed; the hand-back must beat it by far.
      expect(Math.max(...takeoverMs)).toBeLessThan(5_000);
    } finally {
      await load.stop();
    }
  });
});
