import { Cluster, percentile, remainingMs, report, runLoad, type LoadResult } from './support/cluster';

/**
 * Scenario 1. Three replicas, 200 clients with 20 s tokens (refresh window
 * min(REFRESH_BEFORE_SECONDS=10, 20/2) = 10 s), continuous token requests
 * over all replicas for at least three refresh cycles. The upstream must see
 * exactly one request per client per cycle, and no answer may carry a token
 * with less than MIN_TOKEN_TTL_SECONDS left.
 */
const CLIENTS = 200;
const EXPIRES_IN = 20;
const MIN_TTL_MS = 2_000;
const WINDOW_MS = 10_000;

describe('scenario 1: three replicas, steady state', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start({
      replicas: 3,
      expiresIn: EXPIRES_IN,
      env: { REFRESH_BEFORE_SECONDS: '10', MIN_TOKEN_TTL_SECONDS: '2', SCHEDULER_TICK_MS: '200' },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('one upstream request per client per refresh cycle, and never a token with less than MIN_TOKEN_TTL_SECONDS left', async () => {
    const clients = await cluster.registerClients(CLIENTS, 'steady');
    const clientIds = clients.map((c) => c.clientId);
    await cluster.waitForIssued(clientIds, 1, 20_000);

    const results: LoadResult[] = [];
    const startedAt = Date.now();
    const load = runLoad({
      workers: 12,
      maxMs: 90_000,
      pick: (n) => {
        const client = clients[(n * 7919) % CLIENTS];
        return { replica: cluster.replicas[n % cluster.replicas.length], id: client.id, clientId: client.clientId };
      },
      onResult: (result) => results.push(result),
    });
    try {
      // The first token starts cycle 1; three more issued tokens each make three full refresh cycles under load.
      await cluster.waitForIssued(clientIds, 4, 80_000);
    } finally {
      await load.stop();
    }
    const loadMs = Date.now() - startedAt;

    const { fake } = cluster;
    const ok = results.filter((r) => r.answer?.status === 200);
    const notOk = results.filter((r) => r.answer?.status !== 200);
    const remaining = ok.map((r) => remainingMs(r.answer!));
    const tooShort = remaining.filter((ms) => ms < MIN_TTL_MS).length;

    // Per client: every upstream request, and the tokens issued in order.
    const perClient = new Map<string, number[]>();
    for (const token of fake.issued)
      perClient.set(token.clientId, [...(perClient.get(token.clientId) ?? []), token.at]);
    const requests = fake.tokenRequestCount();
    const cycles = fake.issued.length;
    // A second request inside one cycle shows as a token issued before the previous one's refresh window opened.
    let earlyRequests = 0;
    let minGapMs = Infinity;
    let maxGapMs = 0;
    for (const times of perClient.values()) {
      for (let i = 1; i < times.length; i += 1) {
        const gap = times[i] - times[i - 1];
        minGapMs = Math.min(minGapMs, gap);
        maxGapMs = Math.max(maxGapMs, gap);
        if (gap < EXPIRES_IN * 1000 - WINDOW_MS - 250) earlyRequests += 1;
      }
    }
    const cyclesPerClient = [...perClient.values()].map((times) => times.length);

    report('1-steady-state', {
      replicas: 3,
      clients: CLIENTS,
      expiresInS: EXPIRES_IN,
      loadSeconds: Math.round(loadMs / 1000),
      tokenRequestsServed: ok.length,
      otherAnswers: notOk.length,
      cyclesPerClientMin: Math.min(...cyclesPerClient),
      cyclesPerClientMax: Math.max(...cyclesPerClient),
      upstreamRequests: requests,
      upstreamRequestsPerClientPerCycle: +(requests / cycles).toFixed(3),
      requestsInsideOneCycle: earlyRequests,
      refreshGapMinS: +(minGapMs / 1000).toFixed(2),
      refreshGapMaxS: +(maxGapMs / 1000).toFixed(2),
      servedWithLessThanMinTtl: tooShort,
      // A loop, not Math.min(...remaining): tens of thousands of arguments overflow the stack.
      minRemainingAtReceiptS: +(remaining.reduce((least, value) => Math.min(least, value), Infinity) / 1000).toFixed(2),
      p50RemainingS: +(percentile(remaining, 50) / 1000).toFixed(2),
    });

    expect(notOk.map((r) => r.answer?.status ?? r.error?.code)).toEqual([]);
    expect(Math.min(...cyclesPerClient)).toBeGreaterThanOrEqual(4);
    expect(requests).toBe(cycles);
    expect(earlyRequests).toBe(0);
    // No token outlived itself: each was replaced at least MIN_TOKEN_TTL_SECONDS before it expired.
    expect(maxGapMs).toBeLessThanOrEqual(EXPIRES_IN * 1000 - MIN_TTL_MS);
    expect(tooShort).toBe(0);
  });
});
