import { FakePipedream } from '../../../test/support/fake-pipedream';
import { TokenBrokerClient, TokenBrokerError } from '../src/index.ts';
import { BrokerUnderTest } from './support/broker-harness';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The broker killed with SIGKILL (by PID) while services hold its tokens. */
describe('@token-broker/client when the broker goes away', () => {
  let upstream: FakePipedream;
  let broker: BrokerUnderTest | undefined;
  let client: TokenBrokerClient | undefined;

  beforeAll(async () => {
    upstream = await FakePipedream.start();
  });
  afterEach(async () => {
    client?.close();
    await broker?.kill();
  });
  afterAll(async () => {
    await upstream.stop();
  });

  async function setUp(
    expiresIn: number,
    clientOptions: { minTtlSeconds: number },
  ): Promise<{ id: string; client: TokenBrokerClient }> {
    broker = await BrokerUnderTest.start(upstream);
    const id = await broker.registerClient(upstream, `outage-${expiresIn}`, { expiresIn });
    const { key } = await broker.serviceKey(['o_client']);
    client = new TokenBrokerClient({
      baseUrl: broker.url,
      serviceKey: key,
      timeoutMs: 1_000,
      retryDeadlineMs: 2_000,
      ...clientOptions,
    });
    return { id, client };
  }

  it('killed and restarted: callers holding a valid token see no error, before, during or after', async () => {
    const { id, client } = await setUp(3_600, { minTtlSeconds: 60 });
    const token = await client.getToken(id);
    const failures: unknown[] = [];
    const call = async (): Promise<void> => {
      try {
        expect(await client.getToken(id)).toBe(token);
      } catch (error) {
        failures.push(error);
      }
    };
    await broker?.kill();
    for (let i = 0; i < 150; i += 1) {
      await call();
      await sleep(20);
    }
    await broker?.restart();
    for (let i = 0; i < 50; i += 1) {
      await call();
      await sleep(20);
    }
    expect(failures).toEqual([]);
    // The broker is back: the client reaches it again.
    expect(await client.reportRejected(id, 'a-token-that-is-not-current')).toBe(token);
  }, 60_000);

  it('down until the token nears expiry: served while it has minTtlSeconds, then a TokenBrokerError, never a stale token', async () => {
    const { id, client } = await setUp(12, { minTtlSeconds: 3 });
    const first = await client.getTokenInfo(id);
    await broker?.kill();
    let served = 0;
    let leastLeftMs = Infinity;
    let failure: unknown;
    const deadline = Date.now() + 20_000;
    while (failure === undefined && Date.now() < deadline) {
      try {
        const info = await client.getTokenInfo(id);
        expect(info.accessToken).toBe(first.accessToken);
        leastLeftMs = Math.min(leastLeftMs, (info.expiresAt?.getTime() ?? 0) - Date.now());
        served += 1;
      } catch (error) {
        failure = error;
      }
      await sleep(25);
    }
    expect(served).toBeGreaterThan(100);
    expect(leastLeftMs).toBeGreaterThanOrEqual(3_000);
    expect(failure).toBeInstanceOf(TokenBrokerError);
    expect(failure).toMatchObject({ status: null, code: 'network_error' });
    expect((failure as Error).message).toContain('ECONNREFUSED');
    // And it stays an error: the expired token is never handed out again.
    await expect(client.getToken(id)).rejects.toBeInstanceOf(TokenBrokerError);
    expect(Date.now()).toBeGreaterThanOrEqual((first.expiresAt?.getTime() ?? 0) - 3_000);
  }, 60_000);
});
