import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';
const INSTALL_HINT =
  "Debian's prometheus package is missing: `npm test` installs it (scripts/ensure-system-packages.js)";

export interface PrometheusHandle {
  url: string;
  /** Runs a PromQL instant query; throws on a query Prometheus refuses. */
  query(expr: string): Promise<PromSample[]>;
  stop(): Promise<void>;
  output: () => string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export function assertPrometheusInstalled(): void {
  for (const binary of [PROMETHEUS, PROMTOOL]) if (!existsSync(binary)) throw new Error(`${binary}: ${INSTALL_HINT}`);
}

/**
 * A real Prometheus on a free loopback port, scraping `targets` as job
 * `token-broker` every second, with `ruleFiles` loaded, its data in a
 * temporary directory removed by stop(). Stopped by its PID.
 */
export async function startPrometheus(targets: string[], ruleFiles: string[]): Promise<PrometheusHandle> {
  assertPrometheusInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'tb-prometheus-'));
  const rules = ruleFiles.map((file, index) => {
    const copy = join(dir, `rules-${index}.yml`);
    copyFileSync(file, copy);
    return copy;
  });
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: rules,
    scrape_configs: [
      { job_name: 'token-broker', scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets }] },
    ],
  };
  // JSON is YAML: no YAML writer needed.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const query = async (expr: string): Promise<PromSample[]> => {
    const answer = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
    const body = (await answer.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PromSample[] };
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`Prometheus refused ${expr}: ${body.error ?? answer.status}`);
    return body.data.result;
  };
  try {
    await waitUntilReady(url, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, query, stop, output: () => output };
}

async function waitUntilReady(url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/-/ready`).then(
      (answer) => answer.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Prometheus did not become ready within 20 s:\n${output()}`);
}
