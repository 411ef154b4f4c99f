import { Cluster, adminAuth, call, report, sleep, type Answer } from './support/cluster';

/**
 * Scenarios 4 and 5, on three replicas sharing one redis-server (appendonly yes).
 * 4: Redis down for 10 s. 5: Redis SIGKILLed and restarted on its AOF.
 */
const EXPIRES_IN = 24;
const OUTAGE_MS = 10_000;

describe('Redis faults', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // 24 s tokens, window min(10, 12) = 10 s: refreshes fall 14-19 s after each token, just after the outage ends.
    cluster = await Cluster.start({
      replicas: 3,
      expiresIn: EXPIRES_IN,
      env: { REFRESH_BEFORE_SECONDS: '10', MIN_TOKEN_TTL_SECONDS: '2' },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function readyStatuses(): Promise<number[]> {
    return Promise.all(
      cluster.replicas.map((r) =>
        call(r.url, 'GET', '/health/ready', { timeoutMs: 5_000 }).then(
          (a) => a.status,
          () => 0,
        ),
      ),
    );
  }

  it('scenario 4: Redis down for 10 s: held tokens served everywhere, admin writes 503, not ready; then ready again and refreshes resume', async () => {
    const { fake, replicas } = cluster;
    const clients = await cluster.registerClients(20, 'rdown');
    const serviceKey = await cluster.createServiceKey('outage-reader', ['o_faults']);
    const svc = { Authorization: `Bearer ${serviceKey.key}` };
    await cluster.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      10_000,
    );
    // Every replica holds every token (and the service key) in memory.
    const held = new Map<string, string>();
    for (const replica of replicas) {
      for (const client of clients) {
        const res = await call(replica.url, 'GET', `/v1/clients/${client.id}/token`, { headers: svc });
        expect(res.status).toBe(200);
        held.set(client.id, res.body.access_token);
      }
    }

    const restart = await cluster.stopRedis('SIGTERM');
    const downAt = Date.now();
    let served = 0;
    const wrongAnswers: string[] = [];
    const writeCodes = new Set<string>();
    const readyDuring = new Set<number>();
    let writes = 0;
    try {
      while (Date.now() - downAt < OUTAGE_MS) {
        for (const replica of replicas) {
          for (const client of clients) {
            const res = await call(replica.url, 'GET', `/v1/clients/${client.id}/token`, { headers: svc });
            if (res.status === 200 && res.body.access_token === held.get(client.id)) served += 1;
            else wrongAnswers.push(`${replica.name}:${res.status}:${res.body?.code}`);
          }
          const write = await call(replica.url, 'POST', '/v1/clients', {
            headers: adminAuth,
            body: {
              workspaceId: 'o_faults',
              name: 'during',
              type: 'oauth_client_credentials',
              clientId: `during-${writes}`,
              clientSecret: 'during-secret-0123456789',
            },
          });
          writes += 1;
          writeCodes.add(`${write.status} ${write.body?.code}`);
        }
        for (const status of await readyStatuses()) readyDuring.add(status);
        await sleep(200);
      }
    } finally {
      await restart();
    }
    const upAt = Date.now();
    // Ready again by itself: no replica restarted.
    let readyAfterMs = -1;
    while (Date.now() - upAt < 20_000) {
      if ((await readyStatuses()).every((s) => s === 200)) {
        readyAfterMs = Date.now() - upAt;
        break;
      }
      await sleep(100);
    }
    // Scheduled refreshes resume: every client gets its next token from the scheduler.
    await cluster.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      25_000,
      upAt,
    );
    const resumedAfterMs = Math.max(...fake.issued.filter((t) => t.at >= upAt).map((t) => t.at)) - upAt;
    fake.addClient('after-outage', 'after-secret-0123456789');
    const after = await call(replicas[1].url, 'POST', '/v1/clients', {
      headers: adminAuth,
      body: {
        workspaceId: 'o_faults',
        name: 'after',
        type: 'oauth_client_credentials',
        clientId: 'after-outage',
        clientSecret: 'after-secret-0123456789',
      },
    });

    report('4-redis-down-10s', {
      replicas: 3,
      clients: clients.length,
      outageS: OUTAGE_MS / 1000,
      heldTokensServedDuringOutage: served,
      otherTokenAnswersDuringOutage: wrongAnswers.length,
      adminWritesDuringOutage: writes,
      adminWriteAnswers: [...writeCodes],
      readyDuringOutage: [...readyDuring],
      readyAgainAfterMs: readyAfterMs,
      allRefreshedAfterRestartWithinS: +(resumedAfterMs / 1000).toFixed(2),
      restartedReplicas: 0,
      adminWriteAfter: after.status,
    });
    expect(wrongAnswers).toEqual([]);
    expect(served).toBeGreaterThan(0);
    expect([...writeCodes]).toEqual(['503 store_unavailable']);
    expect([...readyDuring]).toEqual([503]);
    expect(readyAfterMs).toBeGreaterThanOrEqual(0);
    expect(after.status).toBe(201);
    expect(replicas.every((r) => r.proc.child.exitCode === null)).toBe(true);
  });

  it('scenario 5: Redis SIGKILLed and restarted with appendonly yes: every client and service key still there and serving', async () => {
    const { replicas } = cluster;
    const more = await cluster.registerClients(10, 'rkill', 'o_kill');
    const keys = [
      await cluster.createServiceKey('kill-a', ['o_kill']),
      await cluster.createServiceKey('kill-b', ['*']),
    ];
    await cluster.waitForIssued(
      more.map((c) => c.clientId),
      1,
      10_000,
    );
    const listAll = async () => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Answer = await call(
          replicas[0].url,
          'GET',
          `/v1/clients?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          { headers: adminAuth },
        );
        expect(res.status).toBe(200);
        ids.push(...res.body.items.map((item: { id: string }) => item.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      return ids.sort();
    };
    const clientsBefore = await listAll();
    const keysBefore = (await call(replicas[0].url, 'GET', '/v1/service-keys', { headers: adminAuth })).body.items
      .map((k: { id: string }) => k.id)
      .sort();

    const restart = await cluster.stopRedis('SIGKILL');
    const killedAt = Date.now();
    await restart();
    let readyAfterMs = -1;
    while (Date.now() - killedAt < 20_000) {
      if ((await readyStatuses()).every((s) => s === 200)) {
        readyAfterMs = Date.now() - killedAt;
        break;
      }
      await sleep(100);
    }
    const clientsAfter = await listAll();
    const keysAfter = (await call(replicas[0].url, 'GET', '/v1/service-keys', { headers: adminAuth })).body.items
      .map((k: { id: string }) => k.id)
      .sort();
    // Every client serves a token on every replica, through a service key that was created just before the kill.
    const statuses = new Map<string, number>();
    for (const replica of replicas) {
      for (const client of more) {
        for (const key of keys) {
          const res = await call(replica.url, 'GET', `/v1/clients/${client.id}/token`, {
            headers: { Authorization: `Bearer ${key.key}` },
          });
          statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
        }
      }
      for (const id of clientsAfter) {
        const res = await call(replica.url, 'GET', `/v1/clients/${id}/token`, { headers: adminAuth });
        statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
      }
    }

    report('5-redis-sigkill-aof', {
      replicas: 3,
      clientsBefore: clientsBefore.length,
      clientsAfter: clientsAfter.length,
      serviceKeysBefore: keysBefore.length,
      serviceKeysAfter: keysAfter.length,
      readyAgainAfterMs: readyAfterMs,
      tokenAnswersAfter: Object.fromEntries(statuses),
    });
    expect(clientsAfter).toEqual(clientsBefore);
    expect(keysAfter).toEqual(keysBefore);
    expect(readyAfterMs).toBeGreaterThanOrEqual(0);
    expect([...statuses.keys()]).toEqual(['200']);
  });
});
