import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_KEY, ENCRYPTION_KEY, eventually, randomSecret } from './broker';
import { spawnBroker } from './broker-process';
import { freePort } from './redis-server';
import { testRedisUrl, uniquePrefix } from './test-redis';

/** The built `token-broker` binary; `npm test` builds it first (the pretest script). */
export const CLI_JS = join(__dirname, '..', '..', 'dist', 'cli', 'token-broker.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  key?: string;
  input?: string;
}

/**
 * Runs the CLI as a process against a broker, and keeps every argv it was
 * given and everything it printed, so that a test can check at the end that
 * no secret was ever in either.
 */
export class CliRunner {
  readonly argvs: string[][] = [];
  readonly outputs: string[] = [];

  constructor(
    private readonly baseUrl: () => string,
    private readonly dir: () => string,
  ) {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run \`npm run build\` (npm test does it first)`);
  }

  start(args: string[], options: CliOptions = {}): ChildProcess {
    this.argvs.push(args);
    const child = spawn(process.execPath, [CLI_JS, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        TOKEN_BROKER_URL: this.baseUrl(),
        TOKEN_BROKER_ADMIN_KEY: options.key ?? ADMIN_KEY,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin?.end(options.input ?? '');
    return child;
  }

  finished(child: ChildProcess): Promise<CliRun> {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve) =>
      child.once('close', (code) => {
        this.outputs.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      }),
    );
  }

  run(args: string[], options: CliOptions = {}): Promise<CliRun> {
    return this.finished(this.start(args, options));
  }

  /** A 0600 file holding `content` (a secret, a PEM key) in the test's directory; its path goes in the argv. */
  file(content: string, label = 'secret'): string {
    const path = join(this.dir(), `${label}-${randomSecret('f')}`);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  /** Every secret given: never in an argv, never printed. */
  expectNeverShown(secrets: string[]): void {
    const args = this.argvs.flat().join('\n');
    const printed = this.outputs.join('\n');
    for (const secret of secrets) {
      expect({ secret, inArgs: args.includes(secret) }).toEqual({ secret, inArgs: false });
      expect({ secret, printed: printed.includes(secret) }).toEqual({ secret, printed: false });
    }
  }
}

export interface CliBroker {
  baseUrl: string;
  /** A private directory for the files the test gives the CLI. */
  dir: string;
  /** SIGTERM to the broker, awaited; then the directory removed. */
  stop(): Promise<void>;
}

/**
 * The broker the CLI suites run against: a process on the run's Redis under
 * a key prefix of its own, with the test admin and encryption keys, ready
 * before this resolves; `env` adds to or overrides the defaults.
 */
export async function startCliBroker(name: string, env: Record<string, string>): Promise<CliBroker> {
  const port = await freePort();
  const broker = spawnBroker({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: uniquePrefix(name),
    BROKER_ADMIN_KEYS: ADMIN_KEY,
    BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
    SCHEDULER_TICK_MS: '100',
    LOG_LEVEL: 'warn',
    ...env,
  });
  const stopBroker = async () => {
    broker.child.kill('SIGTERM');
    await broker.exited;
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await eventually(async () => (await fetch(`${baseUrl}/health/ready`)).status === 200, 30_000, 100);
  } catch (error) {
    await stopBroker();
    throw error;
  }
  const dir = mkdtempSync(join(tmpdir(), `tb-${name}-`));
  return {
    baseUrl,
    dir,
    stop: async () => {
      await stopBroker();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
