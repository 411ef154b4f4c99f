'use strict';
/** The hot path's load generator: wrk when installed, else autocannon; one measured run with CPU meters. */
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const procs = require('./procs');
const { BENCH_DIR, BROKER_CORE, LOAD_CORE, FORCE_AUTOCANNON, P } = require('./options');
const { round } = require('./util');

/** The first line of `wrk -v`, when wrk is installed and not overridden by --autocannon. */
const wrkVersion = FORCE_AUTOCANNON
  ? null
  : (() => {
      const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
      if (probe.error) return null;
      return `${probe.stdout || ''}${probe.stderr || ''}`.split('\n')[0].trim();
    })();
const wrkPath = wrkVersion === null ? null : 'wrk';
const LOAD_TOOL = wrkPath ? 'wrk' : 'autocannon';

/** Warm-up run (discarded), then the measured run, with the target's CPU over the measured one. */
async function measureLoad(port, targetPid, requestsFile) {
  await runLoadGenerator(port, requestsFile, P.warmupSeconds);
  const meter = procs.cpuMeter(targetPid);
  const cores = procs.coreMeter();
  const result = await runLoadGenerator(port, requestsFile, P.durationSeconds);
  const cpu = meter.stop();
  const coreBusy = cores.stop();
  const seconds = result.durationUs / 1e6;
  const rps = result.requests / seconds;
  return {
    requests: result.requests,
    seconds: round(seconds, 3),
    rps: round(rps, 1),
    p50Ms: round(result.latencyUs.p50 / 1000),
    p90Ms: round(result.latencyUs.p90 / 1000),
    p99Ms: round(result.latencyUs.p99 / 1000),
    p999Ms: round(result.latencyUs.p999 / 1000),
    maxMs: round(result.latencyUs.max / 1000),
    non2xx: result.errors.status,
    socketErrors: result.errors.connect + result.errors.read + result.errors.write + result.errors.timeout,
    cpuCores: round(cpu.cores, 3),
    cpuUsPerRequest: round((cpu.cpuSeconds * 1e6) / result.requests, 1),
    // Busy fraction of each core over the run: on core 0, anything beyond cpuCores is another process.
    coreBusy,
    othersOnServerCore: round(Math.max(0, (coreBusy[String(BROKER_CORE)] ?? 0) - cpu.cores), 3),
    loadAverage: procs.loadAverage(),
  };
}

function runLoadGenerator(port, requestsFile, seconds) {
  const url = `http://127.0.0.1:${port}`;
  const [cmd, args, env] = wrkPath
    ? [
        wrkPath,
        ['-t1', `-c${P.connections}`, `-d${seconds}s`, '-s', path.join(BENCH_DIR, 'wrk-tokens.lua'), url],
        { ...process.env, TB_REQUESTS_FILE: requestsFile },
      ]
    : [
        process.execPath,
        [
          path.join(BENCH_DIR, 'autocannon-worker.js'),
          JSON.stringify({ url, connections: P.connections, durationSeconds: seconds, requestsFile }),
        ],
        process.env,
      ];
  return new Promise((resolve, reject) => {
    const child = procs.spawnPinned(LOAD_CORE, cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = procs.onCleanup(() => procs.stopChild(child, 2_000));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      unregister();
      const line = stdout.split('\n').find((l) => l.startsWith('TBJSON '));
      if (code !== 0 || !line) return reject(new Error(`${cmd} exited with ${code}:\n${stdout}\n${stderr}`));
      resolve(JSON.parse(line.slice('TBJSON '.length)));
    });
  });
}

module.exports = { wrkPath, wrkVersion, LOAD_TOOL, measureLoad };
