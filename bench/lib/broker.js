'use strict';
/** The compiled broker under test: started pinned, waited for until ready, and its CPU profiles summarized. */
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('./procs');
const { summarize: summarizeProfile, format: formatProfile } = require('./profile-summary');
const { ROOT, RESULTS_DIR, BROKER_CORE, PROFILE, P, UPSTREAM_CONCURRENCY } = require('./options');
const { httpRequest } = require('./http');
const { stamp } = require('./report');
const { log } = require('./util');

/** Starts a broker pinned to `core` (default: the broker core) and waits until it is ready. */
async function startBroker({ mainJs, port, env, logFile, core = BROKER_CORE }) {
  const out = fs.openSync(logFile, 'w');
  const profileDir = path.join(RESULTS_DIR, `profile-${stamp}`);
  const nodeArgs = [];
  if (PROFILE) {
    fs.mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const child = procs.spawnPinned(core, process.execPath, [...nodeArgs, mainJs], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const stop = () => procs.stopChild(child);
  const unregister = procs.onCleanup(stop);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `the broker exited with ${child.exitCode} at start:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`,
      );
    try {
      const ready = await httpRequest(undefined, port, 'GET', '/health/ready', { timeoutMs: 1_000 });
      if (ready.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the broker was not ready within 20 s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    await sleep(100);
  }
  log(
    `broker ready on 127.0.0.1:${port} (pid ${child.pid}${procs.pinning ? `, core ${core}` : ''}${PROFILE ? ', --cpu-prof' : ''})`,
  );
  return {
    child,
    profileDir,
    stop: async () => {
      unregister();
      return stop();
    },
  };
}

/**
 * The environment of a benchmarked broker: `store` holds the store variables
 * (REDIS_URL or REDIS_CLUSTER_NODES); replicas of one deployment share the admin
 * and encryption keys.
 */
function brokerEnv({ store, port, adminKey, encryptionKeys, fake }) {
  return {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...store,
    BROKER_ADMIN_KEYS: adminKey,
    BROKER_ENCRYPTION_KEYS: encryptionKeys,
    TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
    DEFAULT_TOKEN_URL: fake.tokenUrl,
    PIPEDREAM_API_BASE: fake.baseUrl,
    LOG_LEVEL: 'warn',
    // TOKEN_REQUESTS_PER_SECOND_PER_KEY keeps its default (10,000/s per key per replica): the
    // benchmark's callers are legitimate ones, and the limit must not slow them.
    // Compressed token lifetimes (scale phase) need a floor below their refresh window.
    MIN_TOKEN_TTL_SECONDS: String(P.minTokenTtl),
    ...(UPSTREAM_CONCURRENCY === null ? {} : { UPSTREAM_CONCURRENCY: String(UPSTREAM_CONCURRENCY) }),
  };
}

function summarizeProfiles(dir) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  return files.map((file) => {
    const summary = summarizeProfile(path.join(dir, file), 20);
    process.stdout.write(`\n${formatProfile({ ...summary, file: path.relative(ROOT, summary.file) })}\n`);
    return { ...summary, file: path.relative(ROOT, summary.file) };
  });
}

module.exports = { startBroker, brokerEnv, summarizeProfiles };
