import { spawn } from 'node:child_process';
import Redis from 'ioredis';
import { masterPorts, startRedisCluster, topologyEnv, type RedisTopologyHandle } from '../support/redis-topologies';
import { Cluster, adminAuth, call, remainingMs, report, runLoad, sleep, type LoadResult } from './support/cluster';

/**
 * `redis-cli --cluster reshard` moves 2,000 slots (two schedule shards among
 * them) from one master to another while three brokers serve token GETs,
 * take registrations and refresh short tokens: nothing is lost, nothing stops.
 */
const EXPIRES_IN = 12;

async function nodeId(port: number): Promise<string> {
  const redis = new Redis({ port, host: '127.0.0.1' });
  try {
    return String(await redis.call('CLUSTER', 'MYID'));
  } finally {
    redis.disconnect();
  }
}

function reshard(fromPort: number, toPort: number, slots: number): Promise<{ code: number | null; output: string }> {
  return Promise.all([nodeId(fromPort), nodeId(toPort)]).then(
    ([from, to]) =>
      new Promise((resolve) => {
        const args = ['--cluster', 'reshard', `127.0.0.1:${fromPort}`, '--cluster-from', from, '--cluster-to', to];
        const child = spawn('redis-cli', [...args, '--cluster-slots', String(slots), '--cluster-yes']);
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        child.on('exit', (code) => resolve({ code, output }));
      }),
  );
}

describe('Redis Cluster resharding while serving', () => {
  let redis: RedisTopologyHandle;
  let brokers: Cluster;

  beforeAll(async () => {
    redis = await startRedisCluster({ masters: 3, replicas: 1 });
    brokers = await Cluster.start({
      replicas: 3,
      expiresIn: EXPIRES_IN,
      env: { REDIS_URL: '', ...topologyEnv(redis), REFRESH_BEFORE_SECONDS: '6' },
    });
  }, 120_000);
  afterAll(async () => {
    await brokers?.stop();
    await redis?.stop();
  });

  it('moves 2,000 slots: every registration answered, every client kept and refreshed, tokens served throughout', async () => {
    const { fake, replicas } = brokers;
    const clients = await brokers.registerClients(60, 'reshard');
    await brokers.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      15_000,
    );
    const results: LoadResult[] = [];
    const load = runLoad({
      workers: 4,
      maxMs: 60_000,
      timeoutMs: 5_000,
      pick: (n) => ({ replica: replicas[n % replicas.length], ...clients[n % clients.length] }),
      onResult: (result) => results.push(result),
    });
    const registered: string[] = [];
    const refused: number[] = [];
    let registering = true;
    const registrations = (async () => {
      for (let index = 0; registering; index += 1) {
        const clientId = `moving-${index}`;
        const clientSecret = `moving-secret-${index}-0123456789`;
        fake.addClient(clientId, clientSecret);
        const res = await call(replicas[index % replicas.length].url, 'POST', '/v1/clients', {
          headers: adminAuth,
          timeoutMs: 5_000,
          body: { workspaceId: 'o_faults', name: clientId, type: 'oauth_client_credentials', clientId, clientSecret },
        }).catch(() => null);
        if (res?.status === 201) registered.push(res.body.id as string);
        else refused.push(res?.status ?? 0);
        await sleep(30);
      }
    })();

    const [from, to] = await masterPorts(redis);
    const startedAt = Date.now();
    const moved = await reshard(from, to, 2_000);
    const reshardMs = Date.now() - startedAt;
    await sleep(2_000);
    registering = false;
    await registrations;
    await load.stop();

    expect(moved.code).toBe(0);
    expect(refused).toEqual([]);
    const answers = results.map(({ answer }) => answer?.status ?? 0);
    expect(answers.filter((status) => status !== 200)).toEqual([]);
    for (const { answer } of results) if (answer) expect(remainingMs(answer)).toBeGreaterThanOrEqual(1_950);
    for (const id of [...clients.map((c) => c.id), ...registered]) {
      expect((await call(replicas[0].url, 'GET', `/v1/clients/${id}`, { headers: adminAuth })).status).toBe(200);
    }
    // Refreshing went on: every client got a token after the resharding began.
    await brokers.waitForIssued(
      clients.map((c) => c.clientId),
      1,
      EXPIRES_IN * 1_000 + 5_000,
      startedAt,
    );
    report('cluster-reshard', { reshardMs, registered: registered.length, tokenAnswers: answers.length });
  });
});
