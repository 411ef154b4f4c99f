import { Agent } from 'node:http';
import { Cluster, adminAuth, call, report, sleep, type Replica } from './support/cluster';

/**
 * Scenario 3. Rotation and deletion on one replica are seen by every other
 * replica within 1 s: the old token is no longer served (rotation) and the
 * client answers 404 (deletion), even where the token sat in the in-process cache.
 */
describe('scenario 3: rotation and deletion seen everywhere', () => {
  let cluster: Cluster;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });

  beforeAll(async () => {
    cluster = await Cluster.start({ replicas: 3, expiresIn: 3600 });
  });
  afterAll(async () => {
    agent.destroy();
    await cluster?.stop();
  });

  /** Polls every other replica until `done` holds for its answer; the time each took, in ms from `from`. */
  async function timeUntil(
    others: Replica[],
    path: string,
    from: number,
    done: (status: number, body: Record<string, unknown>) => boolean,
  ): Promise<number[]> {
    return Promise.all(
      others.map(async (replica) => {
        for (;;) {
          const res = await call(replica.url, 'GET', path, { headers: adminAuth, agent });
          if (done(res.status, res.body)) return res.receivedAt - from;
          if (Date.now() - from > 5_000) return Infinity;
          await sleep(5);
        }
      }),
    );
  }

  it('no other replica serves the old token 1 s after a rotation, and every one answers 404 1 s after a deletion', async () => {
    const { fake, replicas } = cluster;
    const clients = await cluster.registerClients(5, 'prop');
    await cluster.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      10_000,
    );
    const rotationMs: number[] = [];
    const deletionMs: number[] = [];

    for (const [index, client] of clients.entries()) {
      const writer = replicas[index % replicas.length];
      const others = replicas.filter((r) => r !== writer);
      // Warm every replica's cache with the current token.
      const held = await Promise.all(
        replicas.map((r) => call(r.url, 'GET', `/v1/clients/${client.id}/token`, { headers: adminAuth, agent })),
      );
      const oldToken = held[0].body.access_token;
      expect(held.map((h) => h.body.access_token)).toEqual([oldToken, oldToken, oldToken]);

      const newSecret = `${client.secret}-rotated`;
      fake.addClient(client.clientId, newSecret);
      const rotated = await call(writer.url, 'PUT', `/v1/clients/${client.id}/secret`, {
        headers: adminAuth,
        body: { clientSecret: newSecret },
        agent,
      });
      expect(rotated.status).toBe(200);
      rotationMs.push(
        ...(await timeUntil(
          others,
          `/v1/clients/${client.id}/token`,
          rotated.receivedAt,
          (s, b) => s === 200 && b.access_token !== oldToken,
        )),
      );

      const deleted = await call(writer.url, 'DELETE', `/v1/clients/${client.id}`, { headers: adminAuth, agent });
      expect(deleted.status).toBe(204);
      deletionMs.push(
        ...(await timeUntil(others, `/v1/clients/${client.id}/token`, deleted.receivedAt, (s) => s === 404)),
      );
    }

    report('3-rotation-deletion', {
      replicas: 3,
      clients: clients.length,
      rotationSeenMaxMs: Math.max(...rotationMs),
      deletionSeenMaxMs: Math.max(...deletionMs),
      rotationSeenMs: rotationMs,
      deletionSeenMs: deletionMs,
    });
    expect(Math.max(...rotationMs)).toBeLessThanOrEqual(1_000);
    expect(Math.max(...deletionMs)).toBeLessThanOrEqual(1_000);
  });
});
