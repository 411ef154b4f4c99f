import { Cluster, remainingMs, report, runLoad, sleep, type LoadResult } from './support/cluster';

/**
 * Scenarios 6 and 7, on three replicas: the upstream down (5xx, then
 * timeouts) for longer than the refresh window, then rate limiting with 429
 * and Retry-After.
 */
const EXPIRES_IN = 12;
const MIN_TTL_MS = 2_000;

describe('upstream faults', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // 12 s tokens, window min(6, 6) = 6 s: refreshes 6-9 s after each token; UPSTREAM_TIMEOUT_MS 1 s.
    cluster = await Cluster.start({
      replicas: 3,
      expiresIn: EXPIRES_IN,
      env: {
        REFRESH_BEFORE_SECONDS: '6',
        MIN_TOKEN_TTL_SECONDS: '2',
        UPSTREAM_TIMEOUT_MS: '1000',
        SCHEDULER_TICK_MS: '200',
      },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('scenario 6: upstream down longer than the refresh window: held tokens until MIN_TOKEN_TTL_SECONDS, then 503 with Retry-After; bounded upstream requests; no spike on recovery', async () => {
    const { fake, replicas } = cluster;
    const CLIENTS = 20;
    const clients = await cluster.registerClients(CLIENTS, 'down');
    const clientIds = clients.map((c) => c.clientId);
    await cluster.waitForIssued(clientIds, 1, 10_000);

    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 24,
      maxMs: 90_000,
      timeoutMs: 20_000,
      pick: (n) => {
        const client = clients[(n * 13) % CLIENTS];
        return { replica: replicas[n % replicas.length], id: client.id, clientId: client.clientId };
      },
      onResult: (result) => results.push(result),
    });
    let downAt = 0;
    let healAt = 0;
    try {
      await sleep(500);
      downAt = Date.now();
      fake.fail('503');
      await sleep(7_000);
      fake.fail('timeout');
      await sleep(7_000);
      fake.fail('500');
      await sleep(2_000);
      healAt = Date.now();
      fake.heal();
      // Recovery: every client gets one new token.
      await cluster.waitForIssued(clientIds, 1, 45_000, healAt);
    } finally {
      await load.stop();
    }

    const tokenRequests = fake.requests.filter((r) => r.clientId !== null && clientIds.includes(r.clientId));
    const whileDown = tokenRequests.filter((r) => r.at >= downAt && r.at < healAt);
    const afterHeal = tokenRequests.filter((r) => r.at >= healAt);
    const callersWhileDown = results.filter(
      (r) => r.answer && r.answer.sentAt >= downAt && r.answer.receivedAt < healAt,
    ).length;

    // Recovery: each client's first request after the heal succeeds, and none asks twice before it has its token.
    const firstAfterHeal = new Map<string, { at: number; status: number | null }>();
    const perClientUntilRecovered = new Map<string, number>();
    for (const r of afterHeal) {
      if (firstAfterHeal.has(r.clientId!) && firstAfterHeal.get(r.clientId!)!.status === 200) continue;
      if (!firstAfterHeal.has(r.clientId!)) firstAfterHeal.set(r.clientId!, { at: r.at, status: r.status });
      perClientUntilRecovered.set(r.clientId!, (perClientUntilRecovered.get(r.clientId!) ?? 0) + 1);
    }
    const recoveryTimes = [...firstAfterHeal.values()].map((f) => f.at - healAt).sort((a, b) => a - b);
    const perSecond = new Map<number, number>();
    for (const t of recoveryTimes) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);

    // Serving: every 200 had MIN_TOKEN_TTL_SECONDS left; every other answer is 503 upstream_unavailable with Retry-After,
    // and none came while the client's held token still had more than MIN_TOKEN_TTL_SECONDS + 1 s left
    // (the broker stops serving 0.5 s before MIN_TOKEN_TTL_SECONDS, SERVE_MARGIN_MS, for the answer's transit).
    const heldExpiry = new Map<string, number>();
    for (const t of fake.issued)
      if (t.at < downAt)
        heldExpiry.set(t.clientId, Math.max(heldExpiry.get(t.clientId) ?? 0, t.at + EXPIRES_IN * 1000));
    const ok = results.filter((r) => r.answer?.status === 200);
    const shortServed = ok.filter((r) => remainingMs(r.answer!) < MIN_TTL_MS).length;
    const unavailable = results.filter((r) => r.answer?.status === 503);
    const badUnavailable = unavailable.filter(
      (r) => r.answer!.body?.code !== 'upstream_unavailable' || !(Number(r.answer!.headers['retry-after']) >= 1),
    );
    const other = results.filter((r) => r.answer?.status !== 200 && r.answer?.status !== 503);
    const early503 = unavailable.filter((r) => {
      const expiry = heldExpiry.get(r.clientId);
      return (
        expiry !== undefined &&
        r.answer!.sentAt < downAt + 60_000 &&
        expiry - r.answer!.sentAt > MIN_TTL_MS + 1_000 &&
        r.answer!.sentAt < healAt
      );
    }).length;
    const retryAfters = unavailable.map((r) => Number(r.answer!.headers['retry-after']));

    report('6-upstream-down', {
      replicas: 3,
      clients: CLIENTS,
      outageS: +((healAt - downAt) / 1000).toFixed(1),
      modes: '503 7s, timeout 7s, 500 2s',
      refreshWindowS: 6,
      callerRequestsWhileDown: callersWhileDown,
      upstreamRequestsWhileDown: whileDown.length,
      servedOk: ok.length,
      servedWithLessThanMinTtl: shortServed,
      shortServedDetail: ok
        .filter((r) => remainingMs(r.answer!) < MIN_TTL_MS)
        .slice(0, 5)
        .map((r) => ({
          remainingMs: remainingMs(r.answer!),
          expiresIn: r.answer!.body.expires_in,
          latencyMs: r.answer!.receivedAt - r.answer!.sentAt,
        })),
      answered503: unavailable.length,
      bad503: badUnavailable.length,
      // A loop, not a spread: a fast run answers over 100,000 503s, past the stack's argument limit.
      retryAfterRangeS: [
        retryAfters.reduce((a, b) => Math.min(a, b), Infinity),
        retryAfters.reduce((a, b) => Math.max(a, b), -Infinity),
      ],
      early503: early503,
      otherAnswers: other.length,
      recoveryRequestsPerClientMax: Math.max(...perClientUntilRecovered.values()),
      recoveryFirstS: +(recoveryTimes[0] / 1000).toFixed(2),
      recoveryLastS: +(recoveryTimes[recoveryTimes.length - 1] / 1000).toFixed(2),
      recoveryMaxPerSecond: Math.max(...perSecond.values()),
    });

    expect(shortServed).toBe(0);
    expect(other.map((r) => r.answer?.status ?? r.error?.code)).toEqual([]);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(badUnavailable.length).toBe(0);
    expect(early503).toBe(0);
    // Bounded by backoff and the circuit, not by callers: a few per client at most, against thousands of calls.
    expect(whileDown.length).toBeLessThanOrEqual(3 * CLIENTS);
    expect(callersWhileDown).toBeGreaterThan(20 * whileDown.length);
    // No spike on recovery: one request per client, first try successful.
    expect([...firstAfterHeal.values()].every((f) => f.status === 200)).toBe(true);
    expect(Math.max(...perClientUntilRecovered.values())).toBe(1);
  });

  it('scenario 7: 429 with Retry-After: no replica asks again for a client before Retry-After has passed', async () => {
    const { fake, replicas } = cluster;
    const RETRY_AFTER_S = 3;
    fake.fail('429', { retryAfterSeconds: RETRY_AFTER_S });
    const clients = await cluster.registerClients(8, 'limited', 'o_limited');
    const clientIds = clients.map((c) => c.clientId);
    const startedAt = Date.now();
    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 8,
      maxMs: 60_000,
      timeoutMs: 20_000,
      pick: (n) => {
        const client = clients[n % clients.length];
        return { replica: replicas[n % replicas.length], id: client.id, clientId: client.clientId };
      },
      onResult: (result) => results.push(result),
    });
    let healAt = 0;
    try {
      await sleep(10_000);
      healAt = Date.now();
      fake.heal();
      await cluster.waitForIssued(clientIds, 1, 30_000, healAt);
    } finally {
      await load.stop();
    }
    // Every request that followed a 429 for the same client (from any replica) came at least Retry-After later.
    const gaps: number[] = [];
    for (const clientId of clientIds) {
      const requests = fake.requests.filter((r) => r.clientId === clientId && r.at >= startedAt);
      for (let i = 1; i < requests.length; i += 1) {
        if (requests[i - 1].status === 429) gaps.push(requests[i].at - requests[i - 1].at);
      }
    }
    const limited = fake.requests.filter((r) => r.at >= startedAt && r.at < healAt && r.status === 429).length;
    const unavailable = results.filter((r) => r.answer?.status === 503 && r.answer.receivedAt < healAt);
    const retryAfters = unavailable.map((r) => Number(r.answer!.headers['retry-after']));
    const other = results.filter((r) => r.answer?.status !== 200 && r.answer?.status !== 503);

    report('7-upstream-429', {
      replicas: 3,
      clients: clients.length,
      retryAfterS: RETRY_AFTER_S,
      answered429: limited,
      callerRequests: results.length,
      minGapAfter429S: +(Math.min(...gaps) / 1000).toFixed(2),
      gapsMeasured: gaps.length,
      callers503: unavailable.length,
      callerRetryAfterRangeS: [Math.min(...retryAfters), Math.max(...retryAfters)],
      otherAnswers: other.length,
    });
    expect(gaps.length).toBeGreaterThan(0);
    // 50 ms of slack for the clocks of two processes on one machine.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 50);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(retryAfters.every((s) => s >= 1)).toBe(true);
    expect(other.map((r) => r.answer?.status ?? r.error?.code)).toEqual([]);
  });
});
