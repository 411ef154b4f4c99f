'use strict';
/** The command line of `npm run bench`, the parameters of the run, and where things go. */
const path = require('node:path');

const BENCH_DIR = path.join(__dirname, '..');
const ROOT = path.join(BENCH_DIR, '..');
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const BROKER_CORE = 0;
const LOAD_CORE = 1;
/**
 * `--only` takes these; `scale` implies `admin`, whose listing covers the clients the scale phase registered.
 * `batch` (the batch import) runs last: its clients would change what the others count.
 * `cluster` (3-master Redis Cluster, 3 broker replicas) runs in the full run, or when named.
 */
const PHASES = ['hot', 'cluster', 'herd', 'scale', 'admin', 'batch'];

const USAGE = `usage: npm run bench [-- --quick] [--profile] [--only hot,cluster,herd,scale,admin,batch] [--rounds N]
                 [--dist <dir with main.js>] [--scale-clients N] [--batch-clients N] [--cluster-clients N]
                 [--cluster-token-seconds S] [--register-budget S] [--max-seconds S] [--upstream-concurrency N]
                 [--autocannon]
Options take their value after a space or an equals sign (--only hot or --only=hot). See bench/README.md.
`;

const argv = process.argv.slice(2);
/** A mistyped command line: say so, and how to call, without a stack trace. */
const usageError = (message) => {
  process.stderr.write(`bench: ${message}\n${USAGE}`);
  process.exit(2);
};
const flag = (name) => argv.includes(`--${name}`);
/** The value of `--name=value` or `--name value`, or null. */
const option = (name) => {
  const joined = argv.find((arg) => arg.startsWith(`--${name}=`));
  if (joined) return joined.slice(name.length + 3);
  const at = argv.indexOf(`--${name}`);
  if (at < 0) return null;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) usageError(`--${name} needs a value`);
  return value;
};
const numberOption = (name, fallback) => {
  const raw = option(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) usageError(`--${name}: expected a positive number, got ${raw}`);
  return value;
};

if (flag('help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const QUICK = flag('quick');
const PROFILE = flag('profile');
const FORCE_AUTOCANNON = flag('autocannon');
const ONLY = option('only') === null ? null : new Set(option('only').split(',').filter(Boolean));
for (const phase of ONLY ?? []) {
  if (!PHASES.includes(phase)) usageError(`--only: unknown phase ${phase} (phases: ${PHASES.join(', ')})`);
}
const runs = (phase) =>
  ONLY === null ? !(QUICK && phase === 'cluster') : ONLY.has(phase) || (phase === 'admin' && ONLY.has('scale'));
const DIST = path.resolve(ROOT, option('dist') ?? 'dist');
/** Rounds of bare then broker on the hot path; the median round is reported. */
const hotRounds = Math.round(numberOption('rounds', numberOption('hot-rounds', QUICK ? 1 : 5)));

/**
 * The scale phase's token lifetime: short enough that a full cycle needs at
 * least TARGETS.refreshesPerSecond. The broker refreshes a token at a uniform
 * point of [L - w, L - w/2] after it was issued (w = min(600 s, L / 2)), so a
 * client refreshes every 0.625 L on average (L <= 1,200 s) and n clients need
 * n / (0.625 L) refreshes/s: L = n / 833 asks for 1,333/s. 120 s at 100,000
 * clients (as before), 1,200 s at 1,000,000; never below 120 s.
 */
function scaleTokenLifetime(clients) {
  return Math.min(1_200, Math.max(120, Math.round(clients / 833 / 10) * 10));
}
const SCALE_CLIENTS = numberOption('scale-clients', 100_000);
/**
 * UPSTREAM_CONCURRENCY of the brokers under test; unset, the broker's default (16). Every client of the bench
 * has the same token host, so past a few hundred thousand clients first fetches queue on it.
 */
const UPSTREAM_CONCURRENCY = numberOption('upstream-concurrency', null);

const P = QUICK
  ? {
      hotClients: 100,
      hotWorkspaces: 20,
      serviceKeys: 4,
      connections: 50,
      warmupSeconds: 1,
      durationSeconds: 2,
      hotRounds,
      herd: 200,
      herdDelayMs: 200,
      scaleClients: 200,
      registerBudgetSeconds: 60,
      expiresIn: 4,
      minTokenTtl: 1,
      cycleTimeoutSeconds: 30,
      idleSeconds: 1,
      tickRounds: 1,
      duePerTick: 20,
      listLimit: 500,
      batchClients: 5_000,
      batchSize: 1_000,
      batchesInFlight: 2,
      batchRefreshingClients: 200,
      batchRefreshingExpiresIn: 4,
      clusterClients: numberOption('cluster-clients', 2_000),
      clusterExpiresIn: numberOption('cluster-token-seconds', 8),
      clusterWindowSeconds: 8,
    }
  : {
      hotClients: 1_000,
      hotWorkspaces: 100,
      serviceKeys: 10,
      connections: 50,
      warmupSeconds: 3,
      durationSeconds: 10,
      hotRounds,
      herd: 1_000,
      herdDelayMs: 200,
      scaleClients: SCALE_CLIENTS,
      registerBudgetSeconds: numberOption('register-budget', Math.max(360, Math.ceil(SCALE_CLIENTS / 500))),
      expiresIn: scaleTokenLifetime(SCALE_CLIENTS),
      minTokenTtl: 10,
      cycleTimeoutSeconds: 60,
      idleSeconds: 10,
      tickRounds: 3,
      duePerTick: 100,
      listLimit: 500,
      batchClients: numberOption('batch-clients', 100_000),
      batchSize: 1_000,
      batchesInFlight: 4,
      batchRefreshingClients: 2_000,
      batchRefreshingExpiresIn: 30,
      clusterClients: numberOption('cluster-clients', 20_000),
      clusterExpiresIn: numberOption('cluster-token-seconds', 60),
      clusterWindowSeconds: 30,
    };
const TARGETS = {
  hotRatio: 0.65,
  hotP99Ms: 10,
  latenessP99Seconds: 1,
  batchPerSecond: 5_000,
  /** The refresh rate a full cycle of the scale phase must need (issue 15). */
  refreshesPerSecond: 1_000,
  /** The broker's RSS at its peak in the scale phase (issue 15: 1,000,000 clients in 1 GB). */
  brokerRssBytes: 2 ** 30,
  /** Cluster: the largest master's share of keys and claims over the mean share; the same over the replicas' refreshes. */
  clusterMasterSpread: 1.25,
  clusterReplicaSpread: 1.3,
};
/**
 * The refresh cycles are cut short here (s after start), leaving time for listing and the idle measure:
 * registration's budget, then two token lives and some slack (1,080 s up to 100,000 clients, as before).
 */
const CYCLES_DEADLINE_MS =
  numberOption('max-seconds', QUICK ? 120 : Math.max(1_080, P.registerBudgetSeconds + 2 * P.expiresIn + 360)) * 1000;
const RUN_START = Date.now();

module.exports = {
  UPSTREAM_CONCURRENCY,
  argv,
  BENCH_DIR,
  ROOT,
  RESULTS_DIR,
  BROKER_CORE,
  LOAD_CORE,
  QUICK,
  PROFILE,
  FORCE_AUTOCANNON,
  DIST,
  P,
  TARGETS,
  CYCLES_DEADLINE_MS,
  RUN_START,
  runs,
};
