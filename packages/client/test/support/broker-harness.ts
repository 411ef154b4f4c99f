import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENCRYPTION_KEY } from '../../../../test/support/broker';
import { spawnBroker, type BrokerProcess } from '../../../../test/support/broker-process';
import type { FakePipedream } from '../../../../test/support/fake-pipedream';
import { freePort } from '../../../../test/support/redis-server';
import { testRedisUrl, uniquePrefix } from '../../../../test/support/test-redis';

export const ADMIN_KEY = 'adm_client_e2e_admin_key_0123456789';

/** The compiled broker (`node dist/main.js`) on the run's redis-server, restartable on the same port and data. */
export class BrokerUnderTest {
  process: BrokerProcess | null = null;
  readonly url: string;

  private constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(upstream: FakePipedream, env: Record<string, string> = {}): Promise<BrokerUnderTest> {
    const port = await freePort();
    const broker = new BrokerUnderTest(port, {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: uniquePrefix('client'),
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
      PIPEDREAM_API_BASE: upstream.baseUrl,
      MIN_TOKEN_TTL_SECONDS: '2',
      SCHEDULER_TICK_MS: '100',
      FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
      LOG_LEVEL: 'warn',
      ...env,
    });
    await broker.restart();
    return broker;
  }

  /** Starts the process (again), on the same port and Redis prefix; resolves once it answers. */
  async restart(): Promise<void> {
    const started = spawnBroker(this.env);
    this.process = started;
    const deadline = Date.now() + 20_000;
    while (!(await this.answers())) {
      if (started.child.exitCode !== null || Date.now() > deadline) {
        await this.kill();
        throw new Error(`broker did not start:\n${started.stdout()}\n${started.stderr()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async answers(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/health/live`)).ok;
    } catch {
      return false;
    }
  }

  /** SIGKILL by PID: no shutdown, no goodbye. */
  async kill(): Promise<void> {
    const running = this.process;
    this.process = null;
    if (running === null || running.child.exitCode !== null || running.child.signalCode !== null) return;
    running.child.kill('SIGKILL');
    await running.exited;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer; each test reads the fields it expects
  async admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : JSON.parse(text) };
  }

  /** Registers an OAuth client on the fake upstream and the broker; resolves to the broker's client id. */
  async registerClient(
    upstream: FakePipedream,
    name: string,
    options: { workspaceId?: string; expiresIn?: number } = {},
  ): Promise<string> {
    const secret = `${name}-secret-0123456789`;
    upstream.addClient(name, secret, options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn });
    const created = await this.admin('POST', '/v1/clients', {
      workspaceId: options.workspaceId ?? 'o_client',
      name,
      type: 'oauth_client_credentials',
      clientId: name,
      clientSecret: secret,
    });
    if (created.status !== 201)
      throw new Error(`registration failed: ${created.status} ${JSON.stringify(created.body)}`);
    return created.body.id;
  }

  async serviceKey(workspaces: string[]): Promise<{ id: string; key: string }> {
    const created = await this.admin('POST', '/v1/service-keys', { name: `svc-${workspaces.join('-')}`, workspaces });
    if (created.status !== 201)
      throw new Error(`service key failed: ${created.status} ${JSON.stringify(created.body)}`);
    return { id: created.body.id, key: created.body.key };
  }
}

/** Counts every request on its way to the broker, by method and path, and passes it on untouched. */
export class CountingProxy {
  readonly url: string;
  private readonly counts = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    target: string,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { hostname, port } = new URL(target);
    server.on('request', (incoming, outgoing) => {
      const key = `${incoming.method} ${incoming.url}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      const forward = httpRequest(
        { hostname, port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forward.on('error', () => outgoing.destroy());
      incoming.pipe(forward);
    });
  }

  static async start(target: string): Promise<CountingProxy> {
    const server = createServer({ keepAlive: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return new CountingProxy(server, target);
  }

  tokenGets(clientId: string): number {
    return this.counts.get(`GET /v1/clients/${clientId}/token`) ?? 0;
  }

  refreshes(clientId: string): number {
    return this.counts.get(`POST /v1/clients/${clientId}/token/refresh`) ?? 0;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/**
 * An upstream API (Pipedream's, say) that checks bearer tokens: it accepts the tokens the fake
 * token endpoint issued, except those the test has made it refuse.
 */
export class FakeApi {
  readonly url: string;
  readonly seen: string[] = [];
  private readonly refused = new Set<string>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: FakePipedream,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('request', (req, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      this.seen.push(token);
      const valid = this.upstream.issued.some((issued) => issued.accessToken === token) && !this.refused.has(token);
      req.resume();
      res.writeHead(valid ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          valid ? { data: { id: 'app_1', name_slug: 'slack', name: 'Slack' } } : { error: 'invalid token' },
        ),
      );
    });
  }

  static async start(upstream: FakePipedream): Promise<FakeApi> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return new FakeApi(server, upstream);
  }

  refuse(token: string): void {
    this.refused.add(token);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
