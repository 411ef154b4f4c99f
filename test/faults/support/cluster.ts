import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFileSync } from 'node:fs';
import Redis from 'ioredis';
import { ADMIN_KEY, ENCRYPTION_KEY } from '../../support/broker';
import { spawnBroker, type BrokerProcess } from '../../support/broker-process';
import { FakePipedream, type FakeClientOptions } from '../../support/fake-pipedream';
import { freePort, startRedisServer, type RedisServerHandle } from '../../support/redis-server';

export { ADMIN_KEY };
export const PREFIX = 'tbf:';
export const adminAuth = { Authorization: `Bearer ${ADMIN_KEY}` };

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Prints one scenario's figures as a single JSON line (and appends it to FAULT_FIGURES_FILE when set). */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, ...figures });
  console.log(`FIGURES ${line}`);
  if (process.env.FAULT_FIGURES_FILE) appendFileSync(process.env.FAULT_FIGURES_FILE, `${line}\n`);
}

// ---------------------------------------------------------------- HTTP, 127.0.0.1 only

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer; each scenario reads the fields it expects
  body: any;
  sentAt: number;
  receivedAt: number;
}

export class HttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One request with node:http; rejects with HttpError(code) on a network error or after timeoutMs. */
export function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; timeoutMs?: number; agent?: Agent | false } = {},
): Promise<Answer> {
  const url = new URL(path, baseUrl);
  if (url.hostname !== '127.0.0.1')
    throw new Error(`refusing to call ${url.hostname}: the fault suite talks to 127.0.0.1 only`);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        agent: options.agent,
        headers: {
          ...options.headers,
          ...(body !== undefined
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error: NodeJS.ErrnoException) =>
          reject(new HttpError(error.code ?? 'ERESPONSE', error.message)),
        );
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, sentAt, receivedAt: Date.now() });
        });
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () =>
      req.destroy(new HttpError('ETIMEDOUT_TEST', `no answer within ${options.timeoutMs ?? 10_000} ms`)),
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(error instanceof HttpError ? error : new HttpError(error.code ?? 'EUNKNOWN', error.message)),
    );
    req.end(body);
  });
}

// ---------------------------------------------------------------- replicas

export interface Replica {
  name: string;
  port: number;
  url: string;
  proc: BrokerProcess;
}

/** Short timings for the fault suite; each scenario overrides what it needs. */
export function replicaEnv(
  fake: FakePipedream,
  redisUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: PREFIX,
    BROKER_ADMIN_KEYS: ADMIN_KEY,
    BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
    TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
    DEFAULT_TOKEN_URL: fake.tokenUrl,
    PIPEDREAM_API_BASE: fake.baseUrl,
    MIN_TOKEN_TTL_SECONDS: '2',
    REFRESH_BEFORE_SECONDS: '10',
    SCHEDULER_TICK_MS: '200',
    UPSTREAM_TIMEOUT_MS: '3000',
    FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/**
 * The processes of one scenario: a fake upstream, a redis-server (appendonly,
 * own directory) and N replicas of `node dist/main.js`. stop() ends all of
 * them, whatever state they are in.
 */
export class Cluster {
  readonly replicas: Replica[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'tb-faults-'));
  redis!: RedisServerHandle;
  fake!: FakePipedream;
  private probe: Redis | null = null;

  private constructor(private readonly env: Record<string, string>) {}

  static async start(options: {
    replicas: number;
    env?: Record<string, string>;
    expiresIn?: number;
  }): Promise<Cluster> {
    const cluster = new Cluster(options.env ?? {});
    try {
      cluster.fake = await FakePipedream.start({ expiresIn: options.expiresIn ?? 3600 });
      cluster.redis = await startRedisServer({ appendonly: true, dir: cluster.dir });
      await Promise.all(Array.from({ length: options.replicas }, (_, index) => cluster.startReplica(`r${index}`)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** `env` adds to (or overrides) the scenario's variables for this replica only. */
  async startReplica(name: string, env: Record<string, string> = {}): Promise<Replica> {
    const port = await freePort();
    const proc = spawnBroker({ ...replicaEnv(this.fake, this.redis.url, { ...this.env, ...env }), PORT: String(port) });
    const replica: Replica = { name, port, url: `http://127.0.0.1:${port}`, proc };
    this.replicas.push(replica);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.child.exitCode !== null)
        throw new Error(`replica ${name} exited at start:\n${proc.stderr()}\n${proc.stdout()}`);
      const ready = await call(replica.url, 'GET', '/health/ready', { timeoutMs: 1_000 }).catch(() => null);
      if (ready?.status === 200) return replica;
      if (Date.now() > deadline)
        throw new Error(`replica ${name} not ready within 20 s:\n${proc.stdout()}\n${proc.stderr()}`);
      await sleep(100);
    }
  }

  /** Redis as the test sees it (a separate connection, for locks and the schedule). */
  redisProbe(): Redis {
    this.probe ??= new Redis(this.redis.url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (n) => Math.min(n * 100, 500),
    });
    this.probe.on('error', () => undefined);
    return this.probe;
  }

  /**
   * Waits until refresh locks are held by `replicas` different replicas (a lock's
   * owner is `<replica id>.<random>`), so that a fault hits one while it refreshes.
   */
  async waitForLocksOnReplicas(replicas: number, timeoutMs: number): Promise<void> {
    const probe = this.redisProbe();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const keys = await probe.keys(`${PREFIX}{c:*}:lock`);
      const owners = keys.length === 0 ? [] : await probe.mget(...keys);
      if (new Set(owners.filter((o): o is string => o !== null).map((o) => o.split('.')[0])).size >= replicas) return;
      await sleep(20);
    }
    throw new Error(`refresh locks were not held by ${replicas} replicas at once within ${timeoutMs} ms`);
  }

  /** Stops redis-server (SIGTERM, or SIGKILL) and returns a function that starts it again on the same port and directory. */
  async stopRedis(signal: 'SIGTERM' | 'SIGKILL'): Promise<() => Promise<void>> {
    const { port } = this.redis;
    const child = this.redis.process;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    }
    return async () => {
      this.redis = await startRedisServer({ port, dir: this.dir, appendonly: true });
    };
  }

  async stop(): Promise<void> {
    for (const replica of this.replicas) {
      const { child } = replica.proc;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await replica.proc.exited;
      }
    }
    this.probe?.disconnect();
    await this.redis?.stop().catch(() => undefined);
    await this.fake?.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ------------------------------------------------------------ API helpers

  /** Registers `count` OAuth clients through replica 0; returns broker ids and OAuth client ids in order. */
  async registerClients(
    count: number,
    label: string,
    workspaceId = 'o_faults',
    fakeOptions: FakeClientOptions = {},
  ): Promise<{ id: string; clientId: string; secret: string }[]> {
    const made: { id: string; clientId: string; secret: string }[] = [];
    const batch = 20;
    for (let start = 0; start < count; start += batch) {
      const slice = Array.from({ length: Math.min(batch, count - start) }, (_, k) => start + k);
      const created = await Promise.all(
        slice.map(async (index) => {
          const clientId = `${label}-${index}`;
          const secret = `${label}-secret-${index}-0123456789`;
          this.fake.addClient(clientId, secret, fakeOptions);
          const res = await call(this.replicas[0].url, 'POST', '/v1/clients', {
            headers: adminAuth,
            body: { workspaceId, name: clientId, type: 'oauth_client_credentials', clientId, clientSecret: secret },
          });
          if (res.status !== 201) throw new Error(`registering ${clientId}: ${res.status} ${JSON.stringify(res.body)}`);
          return { id: res.body.id as string, clientId, secret };
        }),
      );
      made.push(...created);
    }
    return made;
  }

  async createServiceKey(name: string, workspaces: string[]): Promise<{ id: string; key: string }> {
    const res = await call(this.replicas[0].url, 'POST', '/v1/service-keys', {
      headers: adminAuth,
      body: { name, workspaces },
    });
    if (res.status !== 201) throw new Error(`service key: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id, key: res.body.key };
  }

  /** Waits until the fake has issued at least `perClient` tokens to every one of `clientIds`. */
  async waitForIssued(clientIds: string[], perClient: number, timeoutMs: number, after = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = issuedCounts(this.fake, after);
      const short = clientIds.filter((clientId) => (counts.get(clientId) ?? 0) < perClient);
      if (short.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `${short.length} clients have fewer than ${perClient} tokens issued after ${timeoutMs} ms (e.g. ${short.slice(0, 3).join(', ')})`,
        );
      await sleep(100);
    }
  }
}

export function issuedCounts(fake: FakePipedream, after = 0): Map<string, number> {
  const counts = new Map<string, number>();
  for (const token of fake.issued)
    if (token.at >= after) counts.set(token.clientId, (counts.get(token.clientId) ?? 0) + 1);
  return counts;
}

// ---------------------------------------------------------------- load

export interface LoadResult {
  replica: string;
  clientId: string;
  answer?: Answer;
  error?: HttpError;
}

/**
 * `workers` loops, each sending one request at a time until `stop()` (or
 * `maxMs`), picking a target with `pick`. Bounded in time, whatever happens.
 */
export function runLoad(options: {
  workers: number;
  maxMs: number;
  pick: (n: number) => { replica: Replica; id: string; clientId?: string };
  headers?: Record<string, string>;
  timeoutMs?: number;
  agent?: Agent | false;
  pauseMs?: number;
  onResult: (result: LoadResult) => void;
}): { stop: () => Promise<void>; count: () => number } {
  let stopped = false;
  let sent = 0;
  const deadline = Date.now() + options.maxMs;
  const worker = async () => {
    while (!stopped && Date.now() < deadline) {
      const n = sent++;
      const { replica, id, clientId } = options.pick(n);
      try {
        const answer = await call(replica.url, 'GET', `/v1/clients/${id}/token`, {
          headers: options.headers ?? adminAuth,
          timeoutMs: options.timeoutMs ?? 30_000,
          agent: options.agent,
        });
        options.onResult({ replica: replica.name, clientId: clientId ?? id, answer });
      } catch (error) {
        options.onResult({ replica: replica.name, clientId: clientId ?? id, error: error as HttpError });
        await sleep(20);
      }
      if (options.pauseMs) await sleep(options.pauseMs);
    }
  };
  const running = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    stop: async () => {
      stopped = true;
      await running;
    },
    count: () => sent,
  };
}

/** Milliseconds of life a served token had left when its answer arrived. */
export function remainingMs(answer: Answer): number {
  return Date.parse(answer.body.expires_at) - answer.receivedAt;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
