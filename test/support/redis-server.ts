import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Files of a TLS-only redis-server: it listens with TLS on its port, and uses TLS for replication and the cluster bus. */
export interface RedisTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface RedisServerHandle {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'redis-server was not found on PATH. The tests need a real Redis: install it (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) and run the tests again.';

export function assertRedisServerInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(INSTALL_HINT);
}

/** Tries at starting a redis-server on ports of our own choosing, each with fresh ones. */
const FRESH_PORT_ATTEMPTS = 3;

export interface RedisServerOptions {
  port?: number;
  dir?: string;
  appendonly?: boolean;
  args?: string[];
  tls?: RedisTlsFiles;
  /** Cluster mode: the cluster bus gets a free port of its own. */
  clusterBus?: boolean;
}

/**
 * Starts a private redis-server on a free port. `appendonly` keeps data across
 * a restart on the same `dir`, for fault tests that kill and restart it. A
 * port found free is bound by redis-server a moment later, and another socket
 * (an outgoing connection's ephemeral port) may take it in between: a server
 * on ports of our own choosing that exits before it answers is started again
 * on fresh ones.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  assertRedisServerInstalled();
  return options.port === undefined ? onFreshPorts(() => startOnce(options)) : startOnce(options);
}

/** Runs `start`, which picks free ports of its own, again while the server it starts exits before it answers. */
export async function onFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= FRESH_PORT_ATTEMPTS || !(error instanceof RedisExitedError)) throw error;
    }
  }
}

async function startOnce(options: RedisServerOptions): Promise<RedisServerHandle> {
  const port = options.port ?? (await freePort());
  const busArgs = options.clusterBus
    ? // The bus port defaults to port + 10000, which is past 65535 for a kernel-chosen port above 55535
      // (redis-server then exits at start) or may be taken: it gets a free port of its own.
      ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())]
    : [];
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tb-redis-'));
  const child = spawn(
    'redis-server',
    [
      ...listenArgs(port, options.tls),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      options.appendonly ? 'yes' : 'no',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
      ...busArgs,
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  await waitForStart(url, child, options.tls, ownsDir ? dir : null);
  return {
    url,
    port,
    dir,
    process: child,
    stop: () => stopRedisProcess(child, ownsDir ? dir : null),
  };
}

/**
 * Waits until a redis-server just spawned (stdout piped) answers. When it exits first, removes `removeDir` and
 * says why, from the end of its log.
 */
export async function waitForStart(
  url: string,
  child: ChildProcess,
  tls: RedisTlsFiles | undefined,
  removeDir: string | null,
): Promise<void> {
  const output = lastLines(child);
  try {
    await waitForRedis(url, child, tls);
  } catch (error) {
    if (removeDir !== null) rmSync(removeDir, { recursive: true, force: true });
    if (error instanceof RedisExitedError) throw new RedisExitedError(`${error.message}: ${output()}`);
    throw error;
  }
}

/** Keeps the end of what a redis-server writes to stdout (its log: why it exited), and keeps its pipe drained. */
function lastLines(child: ChildProcess): () => string {
  let tail = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-2_000);
  });
  return () => tail.trim();
}

/** A redis-server (or Sentinel) that exited before it answered: a port taken between its choice and its bind, say. */
class RedisExitedError extends Error {}

/** SIGTERM to a redis-server (or Sentinel) of ours, awaited; then its directory removed when it is ours to remove. */
export async function stopRedisProcess(child: ChildProcess, removeDir: string | null): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  if (removeDir !== null) rmSync(removeDir, { recursive: true, force: true });
}

function listenArgs(port: number, tls: RedisTlsFiles | undefined): string[] {
  if (!tls) return ['--port', String(port)];
  return [
    ...['--port', '0', '--tls-port', String(port)],
    ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile],
    ...['--tls-auth-clients', 'no', '--tls-replication', 'yes', '--tls-cluster', 'yes'],
  ];
}

async function waitForRedis(url: string, child: ChildProcess, tls?: RedisTlsFiles): Promise<void> {
  const { port } = new URL(url);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new RedisExitedError(`redis-server exited with code ${child.exitCode} before accepting connections`);
    if (await answersPing(Number(port), tls)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not accept connections at ${url} within 10 s`);
}

/**
 * A bare RESP PING, so that probing leaves no client library state behind. A server whose default user
 * is off answers NOAUTH: it is up.
 */
function answersPing(port: number, tls?: RedisTlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tls
      ? connectTls({ port, host: '127.0.0.1', ca: readFileSync(tls.caFile), servername: 'localhost' })
      : connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
    });
  });
}
