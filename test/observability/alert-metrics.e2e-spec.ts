import { FakePipedream } from '../support/fake-pipedream';
import { eventually } from '../support/broker';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { registerClient, startRunningBroker, type RunningBroker } from './running-broker';

/** One sample of /metrics text, or undefined when the series is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * The series the alerts watch move as the states they stand for: the circuit
 * opens on a dead host, the store goes down with Redis, readiness with it.
 */
describe('alerting series of the compiled broker', () => {
  let redis: RedisServerHandle;
  let upstream: FakePipedream;
  let broker: RunningBroker;

  const scrape = async (): Promise<string> => (await fetch(`${broker.url}/metrics`)).text();

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await FakePipedream.start();
    broker = await startRunningBroker(upstream, { REDIS_URL: redis.url, UPSTREAM_TIMEOUT_MS: '1000' });
  }, 60_000);

  afterAll(async () => {
    await broker?.stop();
    await upstream?.stop();
    await redis?.stop();
  });

  it('healthy: store up, ready, the below-MIN_TTL counter at 0, the host circuit closed', async () => {
    await registerClient(broker, upstream, {
      workspaceId: 'o_alerts',
      clientId: 'alerts-0',
      clientSecret: 'alerts-secret-0',
    });
    const text = await scrape();
    const host = `127.0.0.1:${new URL(upstream.baseUrl).port}`;
    expect(sample(text, 'tb_store_up')).toBe(1);
    expect(sample(text, 'tb_ready')).toBe(1);
    expect(sample(text, 'tb_tokens_served_below_min_ttl_total')).toBe(0);
    expect(sample(text, `tb_upstream_circuit_state{host="${host}",state="closed"}`)).toBe(1);
    expect(sample(text, `tb_upstream_circuit_state{host="${host}",state="open"}`)).toBe(0);
    expect(sample(text, 'tb_refresh_overdue_seconds')).toBe(0);
  });

  it('a dead host: its circuit reads open once failures from several clients pile up', async () => {
    upstream.fail('503', { times: 1_000 });
    const host = `127.0.0.1:${new URL(upstream.baseUrl).port}`;
    // New clients each fail their first fetch: enough distinct failing clients to open the circuit.
    for (let index = 1; index <= 4; index += 1) {
      upstream.addClient(`alerts-${index}`, `alerts-secret-${index}`);
      await fetch(`${broker.url}/v1/clients`, {
        method: 'POST',
        headers: { ...broker.admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          workspaceId: 'o_alerts',
          name: `alerts-${index}`,
          type: 'oauth_client_credentials',
          clientId: `alerts-${index}`,
          clientSecret: `alerts-secret-${index}`,
        }),
      });
    }
    await eventually(
      async () => sample(await scrape(), `tb_upstream_circuit_state{host="${host}",state="open"}`) === 1,
      20_000,
      200,
    );
    upstream.heal();
  }, 30_000);

  it('Redis down: tb_store_up and tb_ready read 0 while /metrics still answers', async () => {
    await redis.stop();
    const text = await eventually(
      async () => {
        const scraped = await scrape();
        return sample(scraped, 'tb_store_up') === 0 ? scraped : null;
      },
      20_000,
      200,
    );
    expect(sample(text, 'tb_ready')).toBe(0);
  }, 30_000);
});
