import { waitForOutput } from '../support/broker-process';
import { startRedisCluster, topologyEnv, type RedisTopologyHandle } from '../support/redis-topologies';
import { Cluster, adminAuth, call, report, sleep } from './support/cluster';

/**
 * On a Redis Cluster a client's hash and its schedule entry sit in two slots,
 * so a registration writes them in two steps. A replica SIGKILLed between the
 * two (TEST_FAILPOINT=after-client-insert stops it there) must leave a client
 * that another replica finds, schedules, lists and refreshes within
 * REPAIR_WITHIN_MS (20 s) plus a tick: a client stored is never left unscheduled.
 */
const BOUND_MS = 20_000 + 5_000;

describe('scenario: a replica killed between a client hash and its schedule entry (Redis Cluster)', () => {
  let redis: RedisTopologyHandle;
  let brokers: Cluster;

  beforeAll(async () => {
    redis = await startRedisCluster({ masters: 3, replicas: 1 });
    brokers = await Cluster.start({ replicas: 0, env: { REDIS_URL: '', ...topologyEnv(redis) } });
  }, 120_000);
  afterAll(async () => {
    await brokers?.stop();
    await redis?.stop();
  });

  it('the client is found, listed and gets its first token within the bound', async () => {
    const victim = await brokers.startReplica('victim', { TEST_FAILPOINT: 'after-client-insert', NODE_ENV: 'test' });
    brokers.fake.addClient('half-written', 'half-written-secret-0123456789');
    const registering = call(victim.url, 'POST', '/v1/clients', {
      headers: adminAuth,
      timeoutMs: 30_000,
      body: {
        workspaceId: 'o_insert',
        name: 'half-written',
        type: 'oauth_client_credentials',
        clientId: 'half-written',
        clientSecret: 'half-written-secret-0123456789',
      },
    }).catch(() => null);
    await waitForOutput(victim.proc.stdout, /TEST_FAILPOINT reached/, 20_000);
    process.kill(victim.proc.child.pid ?? 0, 'SIGKILL');
    await victim.proc.exited;
    expect(await registering).toBeNull();
    const killedAt = Date.now();

    const survivor = await brokers.startReplica('survivor');
    let listedAfterMs = -1;
    while (Date.now() - killedAt < BOUND_MS) {
      const listed = await call(survivor.url, 'GET', '/v1/clients?limit=10', { headers: adminAuth });
      if (listed.body.items.length === 1 && brokers.fake.issued.some((t) => t.clientId === 'half-written')) {
        listedAfterMs = Date.now() - killedAt;
        break;
      }
      await sleep(250);
    }
    expect(listedAfterMs).toBeGreaterThanOrEqual(0);
    const health = await call(survivor.url, 'GET', '/health/tokens', { headers: adminAuth });
    expect(health.body.total).toBe(1);
    report('insert-crash-cluster', { listedAndRefreshedAfterKillMs: listedAfterMs });
  });
});
