import { TokenBrokerClient, TokenBrokerError, type TokenBrokerClientOptions } from '../src/index.ts';
import { connectionRefused, errorAnswer, isRefresh, ScriptedBroker, tokenAnswer } from './support/scripted-broker';

const SERVICE_KEY = 'tbk_unit_service_key_0123456789';
const BASE_URL = 'http://broker.test';

function clientFor(broker: ScriptedBroker, options: Partial<TokenBrokerClientOptions> = {}): TokenBrokerClient {
  return new TokenBrokerClient({ baseUrl: BASE_URL, serviceKey: SERVICE_KEY, fetch: broker.fetch, ...options });
}

/** Resolves what the promise settles to once timers have run far enough; fails the test if it never settles. */
async function settle<T>(promise: Promise<T>, advanceMs = 0): Promise<T | TokenBrokerError> {
  const caught = promise.catch((error: TokenBrokerError) => error);
  await jest.advanceTimersByTimeAsync(advanceMs);
  return caught;
}

describe('TokenBrokerClient (scripted broker, fake timers)', () => {
  let client: TokenBrokerClient | undefined;

  beforeEach(() => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
      now: new Date('2026-01-01T00:00:00Z'),
    });
  });
  afterEach(() => {
    client?.close();
    client = undefined;
    jest.useRealTimers();
  });

  it('concurrent calls for a cold client share one broker request; later calls are served from memory', async () => {
    const broker = new ScriptedBroker();
    client = clientFor(broker);
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client!.getToken('c1')));
    expect(new Set(tokens)).toEqual(new Set(['tok_1']));
    for (let i = 0; i < 1_000; i += 1) expect(await client.getToken('c1')).toBe('tok_1');
    expect(broker.count()).toBe(1);
    expect(broker.calls[0]).toMatchObject({
      method: 'GET',
      url: `${BASE_URL}/v1/clients/c1/token`,
      authorization: `Bearer ${SERVICE_KEY}`,
    });
  });

  it('a cached hit hands back the same promise, allocating nothing per call', async () => {
    client = clientFor(new ScriptedBroker());
    await client.getToken('c1');
    expect(client.getToken('c1')).toBe(client.getToken('c1'));
    expect(client.getTokenInfo('c1')).toBe(client.getTokenInfo('c1'));
  });

  it('renews in the background before the token nears minTtlSeconds: no caller waits, none gets a short-lived token', async () => {
    const broker = new ScriptedBroker();
    client = clientFor(broker, { minTtlSeconds: 60 });
    const first = await client.getTokenInfo('c1');
    expect(first.expiresAt?.getTime()).toBe(Date.now() + 3_600_000);
    // Usable life 3,540 s; the renewal leaves a twentieth of it (177 s) for retries.
    await jest.advanceTimersByTimeAsync(3_363_000 - 1);
    expect(broker.count()).toBe(1);
    let slowBroker: (value: Response) => void = () => undefined;
    broker.responder = () => new Promise<Response>((resolve) => (slowBroker = resolve));
    await jest.advanceTimersByTimeAsync(1);
    expect(broker.count()).toBe(2);
    // The renewal is still waiting on the broker: callers get the held token at once.
    expect(await client.getToken('c1')).toBe('tok_1');
    slowBroker(tokenAnswer('tok_2', 3_600));
    await jest.advanceTimersByTimeAsync(0);
    expect(await client.getToken('c1')).toBe('tok_2');
  });

  it('a renewal that brings back the same token asks again sooner, and the token is never returned under minTtl', async () => {
    const expiresAtMs = Date.now() + 200_000;
    const broker = new ScriptedBroker(() => tokenAnswer('same', Math.round((expiresAtMs - Date.now()) / 1_000)));
    client = clientFor(broker, { minTtlSeconds: 60, retryDeadlineMs: 1_000 });
    expect(await client.getToken('c1')).toBe('same');
    // Usable for 140 s: renewal after 80 s (minTtl left for retries), then every quarter of what is left.
    await jest.advanceTimersByTimeAsync(80_000);
    expect(broker.count()).toBe(2);
    await jest.advanceTimersByTimeAsync(15_000);
    expect(broker.count()).toBe(3);
    await jest.advanceTimersByTimeAsync(35_000);
    const last = await client.getTokenInfo('c1');
    expect(last.accessToken).toBe('same');
    expect((last.expiresAt?.getTime() ?? 0) - Date.now()).toBeGreaterThan(60_000);
    broker.responder = () => errorAnswer(503, 'upstream_unavailable', 5);
    await jest.advanceTimersByTimeAsync(15_000);
    const late = await settle(client.getToken('c1'), 10_000);
    expect(late).toBeInstanceOf(TokenBrokerError);
    expect(late).toMatchObject({ status: 503, code: 'upstream_unavailable', retryAfterSeconds: 5 });
  });

  it('a token the broker hands out with less than minTtlSeconds left is never returned', async () => {
    const broker = new ScriptedBroker(() => tokenAnswer('short', 30));
    client = clientFor(broker, { minTtlSeconds: 60, retryDeadlineMs: 2_000 });
    const result = await settle(client.getToken('c1'), 3_000);
    expect(result).toMatchObject({ code: 'token_expiring', status: 200 });
    expect(broker.count()).toBeGreaterThan(1);
  });

  it('503 and 429 are retried after Retry-After, within the deadline', async () => {
    const answers = [
      errorAnswer(503, 'upstream_unavailable', 2),
      errorAnswer(429, 'rate_limited', 1),
      tokenAnswer('t', 3_600),
    ];
    const broker = new ScriptedBroker(() => answers.shift() ?? errorAnswer(500, 'internal'));
    client = clientFor(broker);
    const pending = client.getToken('c1');
    await jest.advanceTimersByTimeAsync(1_999);
    expect(broker.count()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(broker.count()).toBe(2);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await pending).toBe('t');
    expect(broker.count()).toBe(3);
  });

  it('gives up at once when Retry-After reaches past the deadline, saying when to come back', async () => {
    const broker = new ScriptedBroker(() => errorAnswer(503, 'upstream_unavailable', 60));
    client = clientFor(broker, { retryDeadlineMs: 30_000 });
    const error = await settle(client.getToken('c1'));
    expect(error).toBeInstanceOf(TokenBrokerError);
    expect(error).toMatchObject({ status: 503, code: 'upstream_unavailable', retryAfterSeconds: 60 });
    expect(broker.count()).toBe(1);
  });

  it('without Retry-After, network failures back off exponentially up to maxBackoffMs', async () => {
    const broker = new ScriptedBroker(() => connectionRefused());
    client = clientFor(broker, { retryDeadlineMs: 20_000, maxBackoffMs: 2_000 });
    const error = await settle(client.getToken('c1'), 25_000);
    expect(error).toMatchObject({ status: null, code: 'network_error' });
    expect((error as Error).message).toContain('ECONNREFUSED');
    const gaps = broker.calls.slice(1).map((call, i) => call.at - broker.calls[i].at);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(2_000);
    expect(gaps.slice(-3).every((gap) => gap >= 1_000)).toBe(true);
    expect(broker.count()).toBeGreaterThan(5);
  });

  it('serves the held token while the broker is unreachable, then fails once it nears minTtl', async () => {
    const broker = new ScriptedBroker(() => tokenAnswer('held', 600));
    client = clientFor(broker, { minTtlSeconds: 60, retryDeadlineMs: 3_000 });
    expect(await client.getToken('c1')).toBe('held');
    broker.responder = () => connectionRefused();
    for (let second = 0; second < 539; second += 1) {
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await client.getToken('c1')).toBe('held');
    }
    expect(broker.count()).toBeGreaterThan(2);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await settle(client.getToken('c1'), 5_000)).toMatchObject({ code: 'network_error' });
  });

  it('a broker that does not answer within timeoutMs is a TokenBrokerError with code timeout', async () => {
    const broker = new ScriptedBroker(() => new Promise<Response>(() => undefined));
    client = clientFor(broker, { timeoutMs: 1_000, retryDeadlineMs: 1_500 });
    expect(await settle(client.getToken('c1'), 5_000)).toMatchObject({ code: 'timeout', status: null });
  });

  it.each([
    [404, 'not_found'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
  ])('%s from the broker drops the client from the cache and is not retried', async (status, code) => {
    const broker = new ScriptedBroker(() => tokenAnswer('t', 3_600));
    client = clientFor(broker);
    await client.getToken('c1');
    await client.getToken('c2');
    expect(client.stats().cachedClients).toBe(2);
    broker.responder = () => errorAnswer(status, code);
    expect(await settle(client.reportRejected('c1', 't'))).toMatchObject({ status, code });
    expect(client.stats().cachedClients).toBe(1);
    expect(await settle(client.getToken('c1'))).toMatchObject({ status, code });
    expect(broker.count()).toBe(4);
  });

  it('keeps at most maxCacheEntries clients, dropping the least recently used', async () => {
    const broker = new ScriptedBroker();
    client = clientFor(broker, { maxCacheEntries: 3 });
    for (const id of ['a', 'b', 'c']) {
      await client.getToken(id);
      jest.advanceTimersByTime(10);
    }
    await client.getToken('a');
    jest.advanceTimersByTime(10);
    await client.getToken('d');
    expect(client.stats().cachedClients).toBe(3);
    const before = broker.count();
    await client.getToken('a');
    await client.getToken('c');
    await client.getToken('d');
    expect(broker.count()).toBe(before);
    await client.getToken('b');
    expect(broker.count()).toBe(before + 1);
  });

  it('reportRejected: concurrent reports of one token share one refresh; a replaced token costs no request', async () => {
    const broker = new ScriptedBroker((call) =>
      isRefresh(call) ? tokenAnswer('new', 3_600) : tokenAnswer('old', 3_600),
    );
    client = clientFor(broker);
    expect(await client.getToken('c1')).toBe('old');
    const reports = await Promise.all(Array.from({ length: 50 }, () => client!.reportRejected('c1', 'old')));
    expect(new Set(reports)).toEqual(new Set(['new']));
    expect(broker.count(isRefresh)).toBe(1);
    expect(JSON.parse(broker.calls[1].body ?? '')).toEqual({ rejectedToken: 'old' });
    expect(await client.reportRejected('c1', 'old')).toBe('new');
    expect(await client.getToken('c1')).toBe('new');
    expect(broker.count()).toBe(2);
  });

  it('callers arriving during a report wait for the new token rather than get the refused one', async () => {
    let finishRefresh: (value: Response) => void = () => undefined;
    const broker = new ScriptedBroker((call) =>
      isRefresh(call) ? new Promise<Response>((resolve) => (finishRefresh = resolve)) : tokenAnswer('old', 3_600),
    );
    client = clientFor(broker);
    await client.getToken('c1');
    const report = client.reportRejected('c1', 'old');
    const during = client.getToken('c1');
    await jest.advanceTimersByTimeAsync(0);
    finishRefresh(tokenAnswer('new', 3_600));
    expect(await during).toBe('new');
    expect(await report).toBe('new');
    expect(broker.count()).toBe(2);
  });

  it('fetch sends the bearer token and, on a 401, reports it and retries once with the new one', async () => {
    const broker = new ScriptedBroker((call) => {
      if (call.url.startsWith(BASE_URL)) return isRefresh(call) ? tokenAnswer('new', 3_600) : tokenAnswer('old', 3_600);
      return new Response(call.authorization === 'Bearer new' ? 'ok' : 'no', {
        status: call.authorization === 'Bearer new' ? 200 : 401,
      });
    });
    client = clientFor(broker);
    const response = await client.fetch('c1', 'https://api.example.test/v1/things', {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'x-trace': '1' },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    const apiCalls = broker.calls.filter((call) => call.url.startsWith('https://api.example.test'));
    expect(apiCalls.map((call) => [call.authorization, call.body])).toEqual([
      ['Bearer old', '{"a":1}'],
      ['Bearer new', '{"a":1}'],
    ]);
    expect(broker.count(isRefresh)).toBe(1);
  });

  it('fetch retries at most once, and never a request whose body is a stream', async () => {
    const broker: ScriptedBroker = new ScriptedBroker((call): Response =>
      call.url.startsWith(BASE_URL) ? broker.nextToken(3_600) : new Response('no', { status: 401 }),
    );
    client = clientFor(broker);
    expect((await client.fetch('c1', 'https://api.example.test/x')).status).toBe(401);
    const apiCalls = (): number => broker.count((call) => call.url.startsWith('https://api.example.test'));
    expect(apiCalls()).toBe(2);
    const stream = new ReadableStream({ start: (controller) => controller.close() });
    const init = { method: 'POST', body: stream, duplex: 'half' } as RequestInit;
    expect((await client.fetch('c1', 'https://api.example.test/x', init)).status).toBe(401);
    expect(apiCalls()).toBe(3);
  });

  it('tokenProvider: getToken for the SDK; retryOnRejected reports the token handed out on a 401 and runs the call again', async () => {
    const broker = new ScriptedBroker((call) =>
      isRefresh(call) ? tokenAnswer('new', 3_600) : tokenAnswer('old', 3_600),
    );
    client = clientFor(broker);
    const provider = client.tokenProvider('c1');
    const sdkCall = jest.fn(async () => {
      const token = await provider.getToken();
      if (token === 'old') throw Object.assign(new Error('Status code: 401'), { statusCode: 401 });
      return token;
    });
    expect(await provider.retryOnRejected(sdkCall)).toBe('new');
    expect(sdkCall).toHaveBeenCalledTimes(2);
    expect(broker.count(isRefresh)).toBe(1);
    const failing = jest.fn(async () => {
      throw Object.assign(new Error('Status code: 500'), { statusCode: 500 });
    });
    await expect(provider.retryOnRejected(failing)).rejects.toThrow('500');
    expect(failing).toHaveBeenCalledTimes(1);
  });

  it('api_key clients (expires_at null) are served from memory and read again every apiKeyRefreshSeconds', async () => {
    const broker = new ScriptedBroker(() => tokenAnswer('pd_api_key', null));
    client = clientFor(broker, { apiKeyRefreshSeconds: 300 });
    expect(await client.getTokenInfo('k1')).toEqual({ accessToken: 'pd_api_key', expiresAt: null });
    await jest.advanceTimersByTimeAsync(299_000);
    expect(await client.getToken('k1')).toBe('pd_api_key');
    expect(broker.count()).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(broker.count()).toBe(2);
    await jest.advanceTimersByTimeAsync(300_000);
    expect(broker.count()).toBe(3);
  });

  it('a client nobody asks for stops being renewed after idleSeconds', async () => {
    const broker = new ScriptedBroker(() => tokenAnswer('k', null));
    client = clientFor(broker, { apiKeyRefreshSeconds: 60, idleSeconds: 150 });
    await client.getToken('k1');
    await jest.advanceTimersByTimeAsync(600_000);
    expect(broker.count()).toBe(3);
  });

  it('renewal timers do not hold the process open, and close() stops them and fails calls in flight', async () => {
    const broker = new ScriptedBroker();
    client = clientFor(broker);
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const realSetTimeout = global.setTimeout;
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation((...args: Parameters<typeof setTimeout>) => {
      const timer = realSetTimeout(...args);
      timers.push(timer);
      return timer;
    });
    await client.getToken('c1');
    spy.mockRestore();
    const renewal = timers.at(-1);
    expect(renewal?.hasRef()).toBe(false);
    broker.responder = () => new Promise<Response>(() => undefined);
    const pending = client.getToken('c2');
    client.close();
    expect(await settle(pending)).toMatchObject({ code: 'client_closed' });
    expect(jest.getTimerCount()).toBe(0);
    expect(await settle(client.getToken('c1'))).toMatchObject({ code: 'client_closed' });
  });

  it('errors and log lines never carry the service key or a token', async () => {
    const lines: string[] = [];
    const log = (message: string, context?: Record<string, unknown>): void =>
      void lines.push(message + JSON.stringify(context));
    const broker = new ScriptedBroker(() => tokenAnswer('secret_token_value', 600));
    client = clientFor(broker, { logger: { warn: log, info: log, error: log, debug: log }, retryDeadlineMs: 2_000 });
    await client.getToken('c1');
    broker.responder = () => errorAnswer(503, 'upstream_unavailable', 1);
    await jest.advanceTimersByTimeAsync(600_000);
    const errors = [
      await settle(client.getToken('c1'), 3_000),
      await settle(client.reportRejected('c1', 'secret_token_value'), 3_000),
    ];
    const text =
      lines.join('\n') + errors.map((error) => `${(error as Error).message} ${(error as Error).stack}`).join('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(text).not.toContain(SERVICE_KEY);
    expect(text).not.toContain('secret_token_value');
  });

  it('refuses bad options up front', () => {
    expect(() => new TokenBrokerClient({ baseUrl: 'not a url', serviceKey: 'k' })).toThrow('baseUrl');
    expect(() => new TokenBrokerClient({ baseUrl: BASE_URL, serviceKey: '' })).toThrow('serviceKey');
    expect(() => new TokenBrokerClient({ baseUrl: BASE_URL, serviceKey: 'k', minTtlSeconds: -1 })).toThrow(
      'minTtlSeconds',
    );
  });
});
