'use strict';
/*
 * npm run bench [-- --quick] [--profile] [--only hot,cluster,herd,scale,admin,batch] [--rounds N] [--dist <dir>]
 *
 * Starts its own redis-server, the fake upstream (test/support/fake-pipedream.ts)
 * and the compiled broker (node dist/main.js, NODE_ENV=production), registers
 * the clients and service keys it needs, then runs the phases under phases/:
 *   1. hot.js: token GETs over many clients and service keys, against a bare
 *      node:http server answering the same bytes in the same run;
 *   1b. cluster.js (full run, or --only cluster): a 3-master Redis Cluster and 3 broker
 *      replicas of their own: keys, claims and refreshes spread, and the hot path against one Redis;
 *   2. herd.js: concurrent GETs for a client with no token, slow upstream;
 *   3. scale.js: registering many clients (register.js), two compressed refresh
 *      cycles (cycles.js), Redis memory, broker RSS, scheduler tick cost (tick.js);
 *   4. list.js: admin path, cursor listing over every client;
 *   5. batch.js: clients imported through the batch route while earlier ones refresh.
 * Prints a table and writes JSON to bench/results/. Traffic goes to 127.0.0.1 only.
 * The flags are parsed in lib/options.js; bench/README.md lists them.
 */
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const procs = require('./lib/procs');
require('./lib/ts-require').register();
const { startRedisServer, freePort } = require('../test/support/redis-server.ts');
const { ROOT, RESULTS_DIR, LOAD_CORE, QUICK, PROFILE, DIST, P, UPSTREAM_CONCURRENCY, runs } = require('./lib/options');
const { startBroker, brokerEnv, summarizeProfiles } = require('./lib/broker');
const { ThreadedFake } = require('./lib/threaded-fake');
const { setupHotClients } = require('./lib/fixtures');
const { httpRequest } = require('./lib/http');
const { wrkPath } = require('./lib/load');
const { redisClient } = require('./lib/redis');
const { stamp, results, rows, row, printTable } = require('./lib/report');
const { log, round, countLines } = require('./lib/util');
const { hotPath } = require('./phases/hot');
const { clusterPhase } = require('./phases/cluster');
const { coldHerd } = require('./phases/herd');
const { scale } = require('./phases/scale');
const { idleTickCost, tickSummary } = require('./phases/tick');
const { adminListing } = require('./phases/list');
const { batchImport } = require('./phases/batch');

async function main() {
  procs.installSignalHandlers();
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const mainJs = path.join(DIST, 'main.js');
  if (!fs.existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` (npm run bench does)`);
  checkLoadTool();
  procs.pinPid(process.pid, LOAD_CORE);
  const ctx = await startServices(mainJs);

  // Hot-path clients and keys; also the fixture of the herd and the 1k idle measure.
  ctx.hot = await setupHotClients(ctx);

  if (runs('scale')) {
    results.phases.idleAt1k = await idleTickCost(ctx, 'registered ~1k');
  }
  if (runs('hot')) results.phases.hot = await hotPath(ctx);
  if (runs('cluster')) results.phases.cluster = await clusterPhase(ctx);
  if (runs('herd')) results.phases.herd = await coldHerd(ctx);
  if (runs('scale')) {
    results.phases.scale = await scale(ctx);
    results.phases.idleAtScale = await idleTickCost(ctx, `registered ~${P.scaleClients}`);
    results.phases.scale.tick = tickSummary(results.phases.idleAt1k, results.phases.idleAtScale);
  }
  if (runs('admin')) results.phases.admin = await adminListing(ctx);
  if (runs('batch')) results.phases.batch = await batchImport(ctx);

  const { broker } = ctx;
  results.broker = { finalMemory: procs.memory(broker.child.pid), warnLines: countLines(ctx.brokerLog) };
  log('stopping the broker');
  const exit = await broker.stop();
  results.broker.exit = exit;
  if (PROFILE) results.profile = summarizeProfiles(broker.profileDir);
}

function checkLoadTool() {
  if (wrkPath) return;
  log(
    'wrk not found: falling back to autocannon for the hot path (install wrk for figures comparable to BENCHMARKS.md: apt-get install -y wrk)',
  );
  try {
    require.resolve('autocannon');
  } catch {
    throw new Error('neither wrk nor autocannon is available: apt-get install -y wrk, or npm install');
  }
}

/** redis-server, the fake upstream and the broker, each stopped by the cleanups; the context the phases share. */
async function startServices(mainJs) {
  const redisServer = await startRedisServer();
  procs.onCleanup(() => redisServer.stop());
  procs.pinPid(redisServer.process.pid, LOAD_CORE);
  const redis = redisClient(redisServer.port);
  procs.onCleanup(() => redis.close());

  // In a thread of its own, with the light log (counts and onIssued listeners, no object per request or
  // token): at a million clients a full log, or this thread's collections, paused the fake (threaded-fake.js).
  const fake = await ThreadedFake.start({ expiresIn: P.expiresIn, hourLongAfter: 2 });
  procs.onCleanup(() => fake.stop());

  const adminKey = `adm_bench_${randomBytes(18).toString('base64url')}`;
  const port = await freePort();
  const brokerLog = path.join(RESULTS_DIR, `broker-${stamp}.log`);
  const broker = await startBroker({
    mainJs,
    port,
    logFile: brokerLog,
    env: brokerEnv({
      store: { REDIS_URL: redisServer.url },
      port,
      adminKey,
      encryptionKeys: `k1:${randomBytes(32).toString('base64')}`,
      fake,
    }),
  });
  results.brokerEnv = {
    MIN_TOKEN_TTL_SECONDS: String(P.minTokenTtl),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    ...(UPSTREAM_CONCURRENCY === null ? {} : { UPSTREAM_CONCURRENCY: String(UPSTREAM_CONCURRENCY) }),
  };
  results.brokerLog = path.relative(ROOT, brokerLog);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  procs.onCleanup(() => agent.destroy());
  const api = (method, urlPath, options = {}) =>
    httpRequest(agent, port, method, urlPath, {
      ...options,
      headers: { authorization: `Bearer ${options.key ?? adminKey}`, ...(options.headers ?? {}) },
    });

  return { fake, redis, redisServer, broker, port, api, adminKey, agent, brokerLog };
}

const started = performance.now();
main()
  .then(async () => {
    await procs.runCleanups();
    results.totalSeconds = round((performance.now() - started) / 1000, 1);
    row('run', 'total time', `${results.totalSeconds} s`, QUICK ? '< 60 s' : '< 10 min', '');
    const file = path.join(RESULTS_DIR, `bench-${results.mode}-${stamp}.json`);
    results.table = rows;
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    printTable();
    process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
    process.exit(0);
  })
  .catch(async (error) => {
    // After Ctrl-C the signal handler stops everything and exits 130; what failed meanwhile is its echo.
    if (procs.interrupted) return;
    process.stderr.write(`bench failed: ${error && error.stack ? error.stack : error}\n`);
    await procs.runCleanups();
    if (rows.length) printTable();
    process.exit(1);
  });
