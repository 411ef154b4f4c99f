'use strict';
/*
 * npm run bench [-- --quick] [-- --profile] [-- --only=hot,herd,scale,admin] [-- --dist=<dir>]
 *
 * Starts its own redis-server, the fake upstream (test/support/fake-pipedream.ts)
 * and the compiled broker (node dist/main.js, NODE_ENV=production), registers
 * the clients and service keys it needs, then measures:
 *   1. hot path: token GETs over many clients and service keys, against a bare
 *      node:http server answering the same bytes in the same run;
 *   2. cold herd: concurrent GETs for a client with no token, slow upstream;
 *   3. scale: registering many clients, two compressed refresh cycles, Redis
 *      memory, broker RSS, scheduler tick cost;
 *   4. admin path: registration and cursor listing over every client.
 * Prints a table and writes JSON to bench/results/. Traffic goes to 127.0.0.1 only.
 */
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('./lib/procs');
const { summarize: summarizeProfile, format: formatProfile } = require('./lib/profile-summary');
require('./lib/ts-require').register();
const { FakePipedream } = require('../test/support/fake-pipedream.ts');
const { startRedisServer, freePort } = require('../test/support/redis-server.ts');

const ROOT = path.join(__dirname, '..');
const RESULTS_DIR = path.join(__dirname, 'results');
const BROKER_CORE = 0;
const LOAD_CORE = 1;

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name) => {
  const hit = argv.find((arg) => arg.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : null;
};
if (flag('help')) {
  process.stdout.write('usage: npm run bench [-- --quick] [--profile] [--only=hot,herd,scale,admin] [--dist=<dir with main.js>] [--autocannon]\n');
  process.exit(0);
}
const QUICK = flag('quick');
const PROFILE = flag('profile');
const FORCE_AUTOCANNON = flag('autocannon');
const ONLY = option('only') ? new Set(option('only').split(',')) : null;
const runs = (phase) => ONLY === null || ONLY.has(phase) || (phase === 'admin' && ONLY.has('scale'));
const DIST = path.resolve(ROOT, option('dist') ?? 'dist');

const P = QUICK
  ? {
      hotClients: 100, hotWorkspaces: 20, serviceKeys: 4, connections: 50, warmupSeconds: 1, durationSeconds: 2, hotRounds: 1,
      herd: 200, herdDelayMs: 200,
      scaleClients: 200, registerConcurrency: 32, registerBudgetSeconds: 60, expiresIn: 4, minTokenTtl: 1, cycleTimeoutSeconds: 30,
      idleSeconds: 1, duePerTick: 20, listLimit: 500,
    }
  : {
      hotClients: 1_000, hotWorkspaces: 100, serviceKeys: 10, connections: 50, warmupSeconds: 3, durationSeconds: 10, hotRounds: Number(option('hot-rounds') ?? 3),
      herd: 1_000, herdDelayMs: 200,
      scaleClients: Number(option('scale-clients') ?? 100_000), registerConcurrency: 64, registerBudgetSeconds: Number(option('register-budget') ?? 360), expiresIn: 120, minTokenTtl: 10, cycleTimeoutSeconds: 60,
      idleSeconds: 10, duePerTick: 100, listLimit: 500,
    };
const TARGETS = { hotRatio: 0.65, hotP99Ms: 10, latenessP99Seconds: 1 };
/** The refresh cycles are cut short here (ms after start), leaving time for listing and the idle measure. */
const CYCLES_DEADLINE_MS = Number(option('max-seconds') ?? (QUICK ? 120 : 1080)) * 1000;
const RUN_START = Date.now();

// ---------------------------------------------------------------- small helpers

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const range = (n) => Array.from({ length: n }, (_, i) => i);
const pad = (n, width) => String(n).padStart(width, '0');
const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]);
const round3 = (value) => round(value, 3);
const round = (value, digits = 2) => (value === null || value === undefined || Number.isNaN(value) ? null : Number(value.toFixed(digits)));

function httpRequest(agent, port, method, urlPath, { headers = {}, body, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON: /metrics, errors from elsewhere
          }
          resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, text, json });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Runs fn(i) for i in [0, count) with at most `concurrency` in flight. */
async function pool(count, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(range(Math.min(concurrency, count)).map(worker));
}

function expectStatus(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status}: ${response.text.slice(0, 300)}`);
  return response;
}

/** Minimal RESP client for INFO, MEMORY USAGE and ZRANGEBYSCORE: keeps the harness free of a store library. */
function redisClient(port) {
  const { connect } = require('node:net');
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let buffer = Buffer.alloc(0);
  const waiting = [];
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const parsed = parseResp(buffer, 0);
      if (parsed === null) return;
      buffer = buffer.subarray(parsed.end);
      const { resolve, reject } = waiting.shift();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    }
  });
  const ready = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    async call(...args) {
      await ready;
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) parts.push(`$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(parts.join(''));
      });
    },
    close: () => socket.destroy(),
  };
}

function parseResp(buf, start) {
  if (start >= buf.length) return null;
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[start]);
  const line = buf.toString('utf8', start + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: after };
    case '-':
      return { value: new Error(line), end: after };
    case ':':
      return { value: Number(line), end: after };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: after };
      if (buf.length < after + length + 2) return null;
      return { value: buf.toString('utf8', after, after + length), end: after + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: after };
      const items = [];
      let at = after;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`RESP: unexpected type ${type}`);
  }
}

async function redisInfo(redis, section) {
  const text = await redis.call('INFO', section);
  const out = {};
  for (const line of text.split('\r\n')) {
    const index = line.indexOf(':');
    if (index > 0) out[line.slice(0, index)] = line.slice(index + 1);
  }
  return out;
}

/** Parses the buckets of one Prometheus histogram: { counts: Map(le -> cumulative), count, sum }. */
function histogram(metricsText, name) {
  const counts = new Map();
  let count = 0;
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    let match = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`).exec(line);
    if (match) counts.set(match[1], Number(match[2]));
    match = new RegExp(`^${name}_count (\\S+)`).exec(line);
    if (match) count = Number(match[1]);
    match = new RegExp(`^${name}_sum (\\S+)`).exec(line);
    if (match) sum = Number(match[1]);
  }
  return { counts, count, sum };
}

/** Quantile of a histogram delta, as the upper bound of the bucket it falls in. */
function histogramQuantile(before, after, q) {
  const count = after.count - before.count;
  if (count <= 0) return null;
  const rank = q * count;
  for (const [le, cumulative] of after.counts) {
    if (cumulative - (before.counts.get(le) ?? 0) >= rank) return le === '+Inf' ? Infinity : Number(le);
  }
  return Infinity;
}

// ---------------------------------------------------------------- the run

const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
const results = {
  startedAt: startedAt.toISOString(),
  command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  mode: QUICK ? 'quick' : 'full',
  profiled: PROFILE,
  machine: {
    nproc: procs.cpuCount,
    cpuModel: procs.cpuModel(),
    node: process.version,
    kernel: os.release(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    pinning: procs.pinning ? `taskset: broker and bare server on core ${BROKER_CORE}; load generator, redis-server, fake upstream and harness on core ${LOAD_CORE}` : 'none (taskset missing or fewer than 2 cores)',
    redis: (spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout || '').trim(),
    loadAverageAtStart: procs.loadAverage(),
  },
  params: P,
  phases: {},
};
const rows = [];
const row = (phase, measure, value, target = '', tool = '') => rows.push({ phase, measure, value: String(value), target, tool });

const wrkPath = FORCE_AUTOCANNON ? null : (() => {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (probe.error) return null;
  results.machine.wrk = `${probe.stdout || ''}${probe.stderr || ''}`.split('\n')[0].trim();
  return 'wrk';
})();
const LOAD_TOOL = wrkPath ? 'wrk' : 'autocannon';

async function main() {
  procs.installSignalHandlers();
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const mainJs = path.join(DIST, 'main.js');
  if (!fs.existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` (npm run bench does)`);
  if (!wrkPath) {
    log('wrk not found: falling back to autocannon for the hot path (install wrk for figures comparable to BENCHMARKS.md: apt-get install -y wrk)');
    try {
      require.resolve('autocannon');
    } catch {
      throw new Error('neither wrk nor autocannon is available: apt-get install -y wrk, or npm install');
    }
  }
  procs.pinPid(process.pid, LOAD_CORE);

  const redisServer = await startRedisServer();
  procs.onCleanup(() => redisServer.stop());
  procs.pinPid(redisServer.process.pid, LOAD_CORE);
  const redis = redisClient(redisServer.port);
  procs.onCleanup(() => redis.close());

  const fake = await FakePipedream.start();
  procs.onCleanup(() => fake.stop());

  const adminKey = `adm_bench_${randomBytes(18).toString('base64url')}`;
  const port = await freePort();
  const brokerLog = path.join(RESULTS_DIR, `broker-${stamp}.log`);
  const broker = await startBroker({
    mainJs,
    port,
    logFile: brokerLog,
    env: {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisServer.url,
      BROKER_ADMIN_KEYS: adminKey,
      BROKER_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: fake.tokenUrl,
      PIPEDREAM_API_BASE: fake.baseUrl,
      LOG_LEVEL: 'warn',
      // TOKEN_REQUESTS_PER_SECOND_PER_KEY keeps its default (10,000/s per key per replica): the
      // benchmark's callers are legitimate ones, and the limit must not slow them.
      // Compressed token lifetimes (scale phase) need a floor below their refresh window.
      MIN_TOKEN_TTL_SECONDS: String(P.minTokenTtl),
    },
  });
  results.brokerEnv = { MIN_TOKEN_TTL_SECONDS: String(P.minTokenTtl), LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  results.brokerLog = path.relative(ROOT, brokerLog);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  procs.onCleanup(() => agent.destroy());
  const api = (method, urlPath, options = {}) =>
    httpRequest(agent, port, method, urlPath, { ...options, headers: { authorization: `Bearer ${options.key ?? adminKey}`, ...(options.headers ?? {}) } });

  const ctx = { fake, redis, redisServer, broker, port, api, adminKey, agent };

  // Hot-path clients and keys; also the fixture of the herd and the 1k idle measure.
  const hot = await setupHotClients(ctx);
  ctx.hot = hot;

  if (runs('scale')) {
    results.phases.idleAt1k = await idleTickCost(ctx, 'registered ~1k');
  }
  if (runs('hot')) results.phases.hot = await hotPath(ctx);
  if (runs('herd')) results.phases.herd = await coldHerd(ctx);
  if (runs('scale')) {
    results.phases.scale = await scale(ctx);
    results.phases.idleAtScale = await idleTickCost(ctx, `registered ~${P.scaleClients}`);
    results.phases.scale.tick = tickSummary(results.phases.idleAt1k, results.phases.idleAtScale);
  }
  if (runs('admin')) results.phases.admin = await adminListing(ctx);

  results.broker = { finalMemory: procs.memory(broker.child.pid), warnLines: countLines(brokerLog) };
  log('stopping the broker');
  const exit = await broker.stop();
  results.broker.exit = exit;
  if (PROFILE) results.profile = summarizeProfiles(broker.profileDir);
}

// ---------------------------------------------------------------- broker

async function startBroker({ mainJs, port, env, logFile }) {
  const out = fs.openSync(logFile, 'w');
  const profileDir = path.join(RESULTS_DIR, `profile-${stamp}`);
  const nodeArgs = [];
  if (PROFILE) {
    fs.mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const child = procs.spawnPinned(BROKER_CORE, process.execPath, [...nodeArgs, mainJs], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const stop = () => procs.stopChild(child);
  const unregister = procs.onCleanup(stop);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the broker exited with ${child.exitCode} at start:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      const ready = await httpRequest(undefined, port, 'GET', '/health/ready', { timeoutMs: 1_000 });
      if (ready.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the broker was not ready within 20 s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    await sleep(100);
  }
  log(`broker ready on 127.0.0.1:${port} (pid ${child.pid}${procs.pinning ? `, core ${BROKER_CORE}` : ''}${PROFILE ? ', --cpu-prof' : ''})`);
  return {
    child,
    profileDir,
    stop: async () => {
      unregister();
      return stop();
    },
  };
}

function countLines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- fixtures

async function registerClient(ctx, workspaceId, clientId, options = {}) {
  const secret = `secret_${randomBytes(12).toString('base64url')}`;
  ctx.fake.addClient(clientId, secret, options.fake ?? {});
  const response = await ctx.api('POST', '/v1/clients', {
    body: { workspaceId, name: `bench ${clientId}`, type: 'oauth_client_credentials', clientId, clientSecret: secret },
  });
  expectStatus(response, 201, `register ${clientId}`);
  return { id: response.json.id, workspaceId, clientId, secret };
}

async function setupHotClients(ctx) {
  const t0 = Date.now();
  const workspaces = range(P.hotWorkspaces).map((w) => `ws_hot_${pad(w, 3)}`);
  // Each service key may fetch for two of ten workspace shares, so every client is reachable by two keys.
  const keys = [];
  for (const k of range(P.serviceKeys)) {
    const share = workspaces.filter((_, w) => w % P.serviceKeys === k || w % P.serviceKeys === (k + 1) % P.serviceKeys);
    const response = expectStatus(await ctx.api('POST', '/v1/service-keys', { body: { name: `bench-${k}`, workspaces: share } }), 201, 'service key');
    keys.push({ key: response.json.key, workspaces: new Set(share) });
  }
  const clients = new Array(P.hotClients);
  await pool(P.hotClients, 32, async (i) => {
    clients[i] = await registerClient(ctx, workspaces[i % workspaces.length], `hot_${pad(i, 5)}`);
  });
  await waitForTokens(ctx, clients.map((c) => c.clientId), 60_000);
  const lines = [];
  for (const client of clients) {
    for (const { key, workspaces: share } of keys) {
      if (share.has(client.workspaceId)) lines.push(`/v1/clients/${client.id}/token\tBearer ${key}`);
    }
  }
  const requestsFile = path.join(RESULTS_DIR, `requests-${stamp}.tsv`);
  fs.writeFileSync(requestsFile, `${lines.join('\n')}\n`);
  procs.onCleanup(() => fs.rmSync(requestsFile, { force: true }));
  log(`registered ${clients.length} hot clients in ${workspaces.length} workspaces and ${keys.length} service keys (${lines.length} client/key pairs) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { clients, keys, workspaces, requestsFile, pairs: lines.length };
}

/** Waits until the fake has issued a token to each of these client ids. */
async function waitForTokens(ctx, clientIds, timeoutMs) {
  const wanted = new Set(clientIds);
  let scanned = 0;
  const deadline = Date.now() + timeoutMs;
  while (wanted.size > 0) {
    const issued = ctx.fake.issued;
    for (; scanned < issued.length; scanned++) wanted.delete(issued[scanned].clientId);
    if (wanted.size === 0) break;
    if (Date.now() > deadline) throw new Error(`${wanted.size} clients got no token within ${timeoutMs} ms`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- 1. hot path

async function hotPath(ctx) {
  const { api, hot } = ctx;
  // Fill this replica's token cache: one GET per client, as the warm-up would.
  await pool(hot.clients.length, 32, async (i) => {
    expectStatus(await api('GET', `/v1/clients/${hot.clients[i].id}/token`), 200, 'token');
  });
  // One real answer of the route under test: the bare server sends exactly these bytes.
  const line = fs.readFileSync(hot.requestsFile, 'utf8').split('\n')[0].split('\t');
  const sample = expectStatus(await httpRequest(ctx.agent, ctx.port, 'GET', line[0], { headers: { authorization: line[1] } }), 200, 'sample token');
  if (sample.headers['cache-control'] !== 'no-store') throw new Error(`token answer without Cache-Control: no-store: ${JSON.stringify(sample.headers)}`);
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  const headers = [];
  for (let i = 0; i < sample.rawHeaders.length; i += 2) {
    if (!skip.has(sample.rawHeaders[i].toLowerCase())) headers.push([sample.rawHeaders[i], sample.rawHeaders[i + 1]]);
  }
  const bodyBytes = Buffer.byteLength(sample.text);

  const barePort = await freePort();
  const bare = procs.spawnPinned(BROKER_CORE, process.execPath, [path.join(__dirname, 'bare-server.js')], {
    env: { ...process.env, TB_BARE_CONFIG: JSON.stringify({ port: barePort, headers, body: sample.text }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stopBare = () => procs.stopChild(bare, 3_000);
  const unregister = procs.onCleanup(stopBare);
  await new Promise((resolve, reject) => {
    bare.stdout.once('data', resolve);
    bare.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  const bareCheck = await httpRequest(undefined, barePort, 'GET', line[0], { headers: { authorization: line[1] } });
  const sameBytes = Buffer.byteLength(bareCheck.text) === bodyBytes && bareCheck.headers['cache-control'] === 'no-store';

  // Rounds of bare then broker, back to back: the machine's mood drifts over minutes (bare node:http
  // itself has served from 59 to 68 µs per answer here), and the median round is the figure reported.
  const metricsBefore = (await api('GET', '/metrics')).text;
  const rounds = [];
  for (let n = 1; n <= P.hotRounds; n++) {
    log(`hot path, round ${n} of ${P.hotRounds}: bare node:http (${LOAD_TOOL} -c${P.connections}, ${P.warmupSeconds} s warm-up + ${P.durationSeconds} s)`);
    const bareRun = await measureLoad(barePort, bare.pid, hot.requestsFile);
    log(`hot path, round ${n} of ${P.hotRounds}: broker GET /v1/clients/:id/token (${hot.clients.length} clients, ${hot.keys.length} service keys)`);
    const brokerRun = await measureLoad(ctx.port, ctx.broker.child.pid, hot.requestsFile);
    rounds.push({ bare: bareRun, broker: brokerRun, ratio: round3(brokerRun.rps / bareRun.rps), cpuRatio: round3(bareRun.cpuUsPerRequest / brokerRun.cpuUsPerRequest) });
  }
  unregister();
  await stopBare();
  const metricsAfter = (await api('GET', '/metrics')).text;
  const cacheHits = counterDelta(metricsBefore, metricsAfter, 'tb_token_cache_total{result="hit"}');
  const cacheMisses = counterDelta(metricsBefore, metricsAfter, 'tb_token_cache_total{result="miss"}');

  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
  const { bare: bareRun, broker: brokerRun, ratio } = median;
  // CPU per request is what a shared machine disturbs least: the ratio of the two.
  const cpuRatio = median.cpuRatio;
  const out = {
    tool: LOAD_TOOL,
    connections: P.connections,
    durationSeconds: P.durationSeconds,
    warmupSeconds: P.warmupSeconds,
    clients: hot.clients.length,
    serviceKeys: hot.keys.length,
    clientKeyPairs: hot.pairs,
    responseBodyBytes: bodyBytes,
    bareAnswersSameBytes: sameBytes,
    bare: bareRun,
    broker: brokerRun,
    ratio: round(ratio, 3),
    cpuPerRequestRatio: round(cpuRatio, 3),
    rounds: rounds.map(({ ratio: r, cpuRatio: c, bare: b, broker: k }) => ({ ratio: r, cpuPerRequestRatio: c, bareRps: b.rps, brokerRps: k.rps, bareCpuUs: b.cpuUsPerRequest, brokerCpuUs: k.cpuUsPerRequest, brokerP99Ms: k.p99Ms })),
    cacheHits,
    cacheMisses,
    targets: TARGETS,
  };
  const tool = `${LOAD_TOOL} -c${P.connections}`;
  row('hot', 'bare node:http req/s', Math.round(bareRun.rps), '', tool);
  row('hot', 'broker req/s', Math.round(brokerRun.rps), '', tool);
  row('hot', `broker / bare throughput${rounds.length > 1 ? ` (median of ${rounds.length} rounds)` : ''}`, `${ratio.toFixed(3)}x`, `>= ${TARGETS.hotRatio}x ${ratio >= TARGETS.hotRatio ? 'MET' : 'MISSED'}`, tool);
  if (rounds.length > 1) row('hot', 'each round: throughput ratio (broker / bare CPU per answer)', rounds.map((r) => `${r.ratio}x (${r.broker.cpuUsPerRequest} / ${r.bare.cpuUsPerRequest} us)`).join(', '), '', tool);
  row('hot', 'bare / broker CPU per request', `${cpuRatio.toFixed(3)}x`, '', '/proc stat');
  row('hot', 'broker p50 / p99 latency', `${brokerRun.p50Ms} / ${brokerRun.p99Ms} ms`, `p99 <= ${TARGETS.hotP99Ms} ms ${brokerRun.p99Ms <= TARGETS.hotP99Ms ? 'MET' : 'MISSED'}`, tool);
  row('hot', 'bare p50 / p99 latency', `${bareRun.p50Ms} / ${bareRun.p99Ms} ms`, '', tool);
  row('hot', 'broker CPU (cores) / per request', `${brokerRun.cpuCores} / ${brokerRun.cpuUsPerRequest} us`, '', '/proc stat');
  row('hot', 'bare CPU (cores) / per request', `${bareRun.cpuCores} / ${bareRun.cpuUsPerRequest} us`, '', '/proc stat');
  row('hot', 'non-2xx / socket errors (broker)', `${brokerRun.non2xx} / ${brokerRun.socketErrors}`, '0 / 0', tool);
  row('hot', 'other processes on the server core (bare / broker run)', `${bareRun.othersOnServerCore} / ${brokerRun.othersOnServerCore} cores`, '~0', '/proc/stat');
  row('hot', 'token cache hits / misses', `${cacheHits} / ${cacheMisses}`, '', '/metrics');
  return out;
}

function counterDelta(before, after, series) {
  const read = (text) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
  return read(after) - read(before);
}

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
    ? [wrkPath, ['-t1', `-c${P.connections}`, `-d${seconds}s`, '-s', path.join(__dirname, 'wrk-tokens.lua'), url], { ...process.env, TB_REQUESTS_FILE: requestsFile }]
    : [process.execPath, [path.join(__dirname, 'autocannon-worker.js'), JSON.stringify({ url, connections: P.connections, durationSeconds: seconds, requestsFile })], process.env];
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

// ---------------------------------------------------------------- 2. cold herd

async function coldHerd(ctx) {
  const { fake, hot } = ctx;
  const n = P.herd;
  const key = hot.keys[0];
  const workspaceId = [...key.workspaces][0];
  const herdAgent = new http.Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n, keepAliveMsecs: 60_000 });
  procs.onCleanup(() => herdAgent.destroy());
  // Open every connection first, so that the figure is the broker's, not TCP set-up.
  await Promise.all(range(n).map(() => httpRequest(herdAgent, ctx.port, 'GET', '/health/live')));
  const sockets = Object.values(herdAgent.freeSockets).reduce((sum, list) => sum + list.length, 0);

  fake.setDelay(P.herdDelayMs);
  // Registration does not wait for a token: the first fetch starts in the background and
  // sits in the slow upstream while the herd arrives, so every GET finds no token.
  const client = await registerClient(ctx, workspaceId, `herd_${Date.now()}`);
  const t0 = performance.now();
  const answers = await Promise.all(
    range(n).map(() =>
      httpRequest(herdAgent, ctx.port, 'GET', `/v1/clients/${client.id}/token`, { headers: { authorization: `Bearer ${key.key}` } }).then(
        (response) => ({ status: response.status, token: response.json?.access_token ?? null, ms: performance.now() - t0 }),
        (error) => ({ status: null, error: error.message, ms: performance.now() - t0 }),
      ),
    ),
  );
  fake.setDelay(0);
  herdAgent.destroy();
  const upstream = fake.requests.filter((r) => r.path === '/v1/oauth/token' && r.clientId === client.clientId).length;
  const ok = answers.filter((a) => a.status === 200);
  const statuses = {};
  for (const a of answers) statuses[a.status ?? 'error'] = (statuses[a.status ?? 'error'] ?? 0) + 1;
  const times = answers.map((a) => a.ms).sort((a, b) => a - b);
  const out = {
    concurrent: n,
    preopenedSockets: sockets,
    upstreamDelayMs: P.herdDelayMs,
    upstreamRequests: upstream,
    ok: ok.length,
    statuses,
    distinctTokens: new Set(ok.map((a) => a.token)).size,
    allAnsweredMs: round(times.at(-1), 1),
    p50Ms: round(percentile(times, 50), 1),
    firstMs: round(times[0], 1),
  };
  row('herd', `upstream requests for ${n} concurrent GETs`, upstream, '1 ' + (upstream === 1 ? 'MET' : 'MISSED'), 'fake log');
  row('herd', `time until all ${n} answered (upstream ${P.herdDelayMs} ms)`, `${out.allAnsweredMs} ms (p50 ${out.p50Ms})`, '', 'node:http');
  row('herd', '200s / distinct tokens', `${ok.length} / ${out.distinctTokens}`, `${n} / 1`, 'node:http');
  log(`herd: ${n} GETs, ${upstream} upstream request(s), all answered in ${out.allAnsweredMs} ms`);
  return out;
}

// ---------------------------------------------------------------- 3. scale

async function scale(ctx) {
  const { fake, redis, api, broker } = ctx;
  let n = P.scaleClients;
  const pid = broker.child.pid;
  const memBefore = Number((await redisInfo(redis, 'memory')).used_memory);
  const auditBefore = Number((await redis.call('MEMORY', 'USAGE', 'tb:audit', 'SAMPLES', '0')) ?? 0);

  // Per fake client id: the times the fake issued it a token.
  const issuedAt = new Map();
  const brokerIdOf = new Map();
  const secrets = new Map();
  // Per fake client id: the due time the broker scheduled after each of its tokens (index k: after token k).
  const dueAfter = new Map();
  let scanned = fake.issued.length;
  let switched = 0;
  const pendingDue = [];
  const windowStartMs = (P.expiresIn - Math.min(600, P.expiresIn / 2)) * 1000;
  const windowEndMs = (P.expiresIn - Math.min(600, P.expiresIn / 2) / 2) * 1000;
  const track = () => {
    const issued = fake.issued;
    for (; scanned < issued.length; scanned++) {
      const { clientId, at } = issued[scanned];
      const list = issuedAt.get(clientId);
      if (!list) continue;
      list.push(at);
      // The due time the broker writes after this token: read below, once it has landed.
      if (list.length <= 2) pendingDue.push({ clientId, k: list.length - 1, at, tries: 0 });
      // After the second token (the first refresh) the fake hands out hour-long tokens,
      // so the third (the second refresh) ends the cycles and leaves the broker idle.
      if (list.length === 2) {
        fake.addClient(clientId, secrets.get(clientId), { expiresIn: 3_600 });
        switched++;
      }
    }
  };
  // Scheduled times, from the broker's schedule (a sorted set): after a token lands the
  // broker stores the client's next due time, drawn in [window start, window end] after
  // it was asked for. A claim lease (claim time + 20 s) can sit there for a moment
  // before that write, so a score outside the window is read again on the next poll.
  let polling = false;
  let unreadDues = 0;
  const pollDues = async () => {
    if (polling) return;
    polling = true;
    try {
      const now = Date.now();
      const ready = [];
      for (let i = pendingDue.length - 1; i >= 0; i--) {
        if (now - pendingDue[i].at >= 300) ready.push(pendingDue.splice(i, 1)[0]);
      }
      const scores = await Promise.all(ready.map((p) => redis.call('ZSCORE', 'tb:schedule', brokerIdOf.get(p.clientId) ?? '')));
      ready.forEach((p, i) => {
        const score = scores[i] === null ? NaN : Number(scores[i]);
        if (score >= p.at + windowStartMs - 2_000 && score <= p.at + windowEndMs + 1_000) {
          const dues = dueAfter.get(p.clientId) ?? [];
          dues[p.k] = score;
          dueAfter.set(p.clientId, dues);
        } else if (++p.tries < 20) {
          pendingDue.push(p);
        } else {
          unreadDues++;
        }
      });
    } finally {
      polling = false;
    }
  };
  const tracker = setInterval(() => {
    track();
    pollDues().catch((error) => log(`schedule poll failed: ${error.message}`));
  }, 500);
  procs.onCleanup(() => clearInterval(tracker));

  // Register.
  log(`scale: registering ${n} clients (${P.registerConcurrency} concurrent POSTs, keep-alive)`);
  const regAgent = new http.Agent({ keepAlive: true, maxSockets: P.registerConcurrency });
  const regCpu = procs.cpuMeter(pid);
  const regCores = procs.coreMeter();
  const regStart = performance.now();
  const latencies = [];
  let progressAt = Date.now();
  const budgetEnd = Date.now() + P.registerBudgetSeconds * 1000;
  let overBudget = false;
  await pool(n, P.registerConcurrency, async (i) => {
    // A full run stays within its time: past the budget, the clients registered so far are the scale.
    if (overBudget || Date.now() > budgetEnd) {
      overBudget = true;
      return;
    }
    const clientId = `sc_${pad(i, 6)}`;
    const secret = `secret_${randomBytes(12).toString('base64url')}`;
    secrets.set(clientId, secret);
    issuedAt.set(clientId, []);
    fake.addClient(clientId, secret, { expiresIn: P.expiresIn });
    const t = performance.now();
    const response = await httpRequest(regAgent, ctx.port, 'POST', '/v1/clients', {
      headers: { authorization: `Bearer ${ctx.adminKey}` },
      body: { workspaceId: `ws_sc_${pad(i % 1000, 4)}`, name: `scale ${i}`, type: 'oauth_client_credentials', clientId, clientSecret: secret },
    });
    latencies.push(performance.now() - t);
    expectStatus(response, 201, `register ${clientId}`);
    brokerIdOf.set(clientId, response.json.id);
    if (Date.now() - progressAt > 10_000) {
      progressAt = Date.now();
      log(`scale: ${brokerIdOf.size} registered`);
    }
  });
  const regSeconds = (performance.now() - regStart) / 1000;
  const regEndAt = Date.now();
  const regCpuUse = regCpu.stop();
  const regCoreBusy = regCores.stop();
  const requested = n;
  n = brokerIdOf.size;
  for (const clientId of [...issuedAt.keys()]) if (!brokerIdOf.has(clientId)) issuedAt.delete(clientId);
  if (overBudget) log(`scale: registration budget of ${P.registerBudgetSeconds} s spent: going on with ${n} of ${requested} clients`);
  regAgent.destroy();
  latencies.sort((a, b) => a - b);
  log(`scale: registered ${n} in ${regSeconds.toFixed(1)} s (${Math.round(n / regSeconds)}/s)`);

  // First tokens.
  const firstDeadline = Math.min(Date.now() + 120_000 + n * 2, RUN_START + CYCLES_DEADLINE_MS);
  const haveFirst = () => [...issuedAt.values()].filter((l) => l.length >= 1).length;
  while (haveFirst() < n) {
    if (Date.now() > firstDeadline) {
      log(`scale: deadline passed with ${haveFirst()} of ${n} clients holding a first token`);
      break;
    }
    await sleep(200);
    track();
  }
  const firstTokensDoneAt = Date.now();
  const firstTimes = [...issuedAt.values()].filter((l) => l.length > 0).map((l) => l[0]);
  const withFirstToken = firstTimes.length;
  const firstSpanSeconds = (Math.max(...firstTimes) - Math.min(...firstTimes)) / 1000;
  const memAfter = Number((await redisInfo(redis, 'memory')).used_memory);
  const auditAfter = Number((await redis.call('MEMORY', 'USAGE', 'tb:audit', 'SAMPLES', '0')) ?? 0);
  const rssAfterRegistration = procs.memory(pid);
  const metricsBefore = (await api('GET', '/metrics')).text;
  log(`scale: every client has its first token; waiting for two refresh cycles (tokens of ${P.expiresIn} s)`);

  // Two refresh cycles: every client's third token.
  const cycleCpu = procs.cpuMeter(pid);
  const cycleCores = procs.coreMeter();
  const cycleDeadline = Math.min(Math.max(...firstTimes) + 2 * P.expiresIn * 1000 + P.cycleTimeoutSeconds * 1000, RUN_START + CYCLES_DEADLINE_MS);
  const haveThird = () => [...issuedAt.values()].filter((l) => l.length >= 3).length;
  let peakRss = 0;
  let cutShort = false;
  progressAt = Date.now();
  while (haveThird() < n) {
    if (Date.now() > cycleDeadline) {
      cutShort = true;
      log(`scale: cycle deadline passed with ${haveThird()} of ${n} clients refreshed twice`);
      break;
    }
    await sleep(500);
    track();
    peakRss = Math.max(peakRss, procs.memory(pid).rss);
    if (Date.now() - progressAt > 15_000) {
      progressAt = Date.now();
      log(`scale: ${haveThird()} of ${n} refreshed twice`);
    }
  }
  // Let refreshes in flight land, then stop watching.
  await sleep(1_000);
  track();
  for (let i = 0; i < 10 && pendingDue.length > 0; i++) {
    await pollDues();
    await sleep(300);
  }
  clearInterval(tracker);
  const cycleCpuUse = cycleCpu.stop();
  const cycleCoreBusy = cycleCores.stop();
  const metricsAfter = (await api('GET', '/metrics')).text;

  // Lateness: each refresh's issue time at the fake minus its scheduled time in the broker.
  const lateness = [];
  const intervals = [];
  let unmatched = 0;
  let early = 0;
  for (const [clientId, times] of issuedAt) {
    const dues = dueAfter.get(clientId) ?? [];
    for (let k = 1; k < times.length && k <= 2; k++) {
      intervals.push((times[k] - times[k - 1]) / 1000);
      const due = dues[k - 1];
      if (due === undefined) {
        unmatched++;
        continue;
      }
      const late = (times[k] - due) / 1000;
      if (late < -0.05) early++;
      lateness.push(late);
    }
  }
  lateness.sort((a, b) => a - b);
  intervals.sort((a, b) => a - b);
  const counts = [...issuedAt.values()].map((l) => l.length);
  const requestsPerClient = new Map();
  for (const r of fake.requests) {
    if (r.path === '/v1/oauth/token' && issuedAt.has(r.clientId)) requestsPerClient.set(r.clientId, (requestsPerClient.get(r.clientId) ?? 0) + 1);
  }
  const reqCounts = [...issuedAt.keys()].map((id) => requestsPerClient.get(id) ?? 0);
  const lagBefore = histogram(metricsBefore, 'tb_refresh_lag_seconds');
  const lagAfter = histogram(metricsAfter, 'tb_refresh_lag_seconds');
  const refreshes = counts.reduce((sum, c) => sum + Math.max(0, Math.min(c, 3) - 1), 0);
  const w = Math.min(600, P.expiresIn / 2);

  const out = {
    clients: n,
    clientsRequested: requested,
    registrationBudgetSpent: overBudget,
    registration: {
      seconds: round(regSeconds, 1),
      perSecond: Math.round(n / regSeconds),
      concurrency: P.registerConcurrency,
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      brokerCpuCores: round(regCpuUse.cores, 3),
      brokerCpuUsPerRegistration: round((regCpuUse.cpuSeconds * 1e6) / n, 1),
      coreBusy: regCoreBusy,
    },
    firstTokens: { clients: withFirstToken, spanSeconds: round(firstSpanSeconds, 1), doneSecondsAfterRegistration: round((firstTokensDoneAt - regEndAt) / 1000, 1) },
    tokenLifetimeSeconds: P.expiresIn,
    refreshWindow: { fromSecondsAfterIssue: P.expiresIn - w, toSecondsAfterIssue: P.expiresIn - w / 2, minTokenTtlSeconds: P.minTokenTtl },
    cycles: {
      clientsRefreshedTwice: haveThird(),
      cutShortByRunDeadline: cutShort,
      switchedToHourTokens: switched,
      tokensPerClient: { min: Math.min(...counts), max: Math.max(...counts) },
      upstreamRequestsPerClient: { min: Math.min(...reqCounts), max: Math.max(...reqCounts), total: reqCounts.reduce((a, b) => a + b, 0) },
      // Every upstream request should have produced the token of one cycle: requests / tokens issued = 1.
      upstreamRequestsPerCycle: round(reqCounts.reduce((a, b) => a + b, 0) / counts.reduce((a, b) => a + b, 0), 4),
      clientsWithMoreRequestsThanCycles: [...issuedAt.keys()].filter((id, i) => reqCounts[i] > issuedAt.get(id).length).length,
      latenessSeconds: {
        matched: lateness.length,
        unmatched,
        unreadDues,
        early,
        p50: round(percentile(lateness, 50), 3),
        p99: round(percentile(lateness, 99), 3),
        max: round(lateness.at(-1), 3),
        over1s: lateness.filter((l) => l > 1).length,
      },
      intervalSeconds: { min: round(intervals[0], 2), p50: round(percentile(intervals, 50), 2), max: round(intervals.at(-1), 2) },
      refreshLagHistogram: {
        observations: lagAfter.count - lagBefore.count,
        p50AtMostSeconds: histogramQuantile(lagBefore, lagAfter, 0.5),
        p99AtMostSeconds: histogramQuantile(lagBefore, lagAfter, 0.99),
        meanSeconds: lagAfter.count > lagBefore.count ? round((lagAfter.sum - lagBefore.sum) / (lagAfter.count - lagBefore.count), 3) : null,
      },
      brokerCpuCores: round(cycleCpuUse.cores, 3),
      brokerCpuUsPerRefresh: refreshes > 0 ? round((cycleCpuUse.cpuSeconds * 1e6) / refreshes, 1) : null,
      wallSeconds: round(cycleCpuUse.wallSeconds, 1),
      coreBusy: cycleCoreBusy,
    },
    redis: {
      usedMemoryBefore: memBefore,
      usedMemoryAfter: memAfter,
      bytesPerClient: Math.round((memAfter - memBefore) / n),
      auditStreamBytesDelta: auditAfter - auditBefore,
      bytesPerClientWithoutAudit: Math.round((memAfter - memBefore - (auditAfter - auditBefore)) / n),
    },
    brokerMemory: { afterRegistration: rssAfterRegistration, peakRssDuringCycles: peakRss, end: procs.memory(pid) },
  };
  const c = out.cycles;
  row('scale', `register ${n} clients${overBudget ? ` (budget spent; ${requested} asked)` : ''}`, `${out.registration.perSecond}/s (${out.registration.seconds} s, p99 ${out.registration.p99Ms} ms)`, '', `node:http x${P.registerConcurrency}`);
  row('scale', `first tokens: ${withFirstToken} of ${n} fetched`, `${out.firstTokens.doneSecondsAfterRegistration} s after the last registration`, `${n}`, 'fake log');
  row('scale', `clients refreshed twice (${P.expiresIn} s tokens)`, `${c.clientsRefreshedTwice} / ${n}${cutShort ? ' (cut short: run time limit)' : ''}`, `${n}`, 'fake log');
  row('scale', 'refresh lateness p50 / p99 / max', `${c.latenessSeconds.p50} / ${c.latenessSeconds.p99} / ${c.latenessSeconds.max} s`, `p99 <= ${TARGETS.latenessP99Seconds} s ${c.latenessSeconds.p99 !== null && c.latenessSeconds.p99 <= TARGETS.latenessP99Seconds ? 'MET' : 'MISSED'}`, 'fake log - schedule');
  row('scale', 'refresh lag (broker histogram) p50 / p99', `<= ${c.refreshLagHistogram.p50AtMostSeconds} / <= ${c.refreshLagHistogram.p99AtMostSeconds} s`, '', '/metrics');
  row('scale', 'upstream requests per client per cycle', `${c.upstreamRequestsPerCycle} (${c.clientsWithMoreRequestsThanCycles} clients with more requests than tokens)`, '1 (0)', 'fake log');
  row('scale', 'broker CPU during registration / per client', `${out.registration.brokerCpuCores} cores / ${out.registration.brokerCpuUsPerRegistration} us (cores busy: ${fmtBusy(regCoreBusy)})`, '', '/proc stat');
  row('scale', 'broker CPU during cycles / per refresh', `${c.brokerCpuCores} cores / ${c.brokerCpuUsPerRefresh} us (cores busy: ${fmtBusy(cycleCoreBusy)})`, '', '/proc stat');
  row('scale', 'Redis memory per client', `${out.redis.bytesPerClient} B (${out.redis.bytesPerClientWithoutAudit} B without the audit stream)`, '', 'INFO memory');
  row('scale', 'broker RSS after registration / peak in cycles', `${mib(rssAfterRegistration.rss)} / ${mib(peakRss)} MiB`, '', '/proc status');
  return out;
}

const fmtBusy = (busy) => Object.entries(busy).map(([core, b]) => `${core}: ${Math.round(b * 100)}%`).join(', ');
const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);

/** Broker and Redis CPU over an idle period (no traffic, nothing due): the cost of the scheduler's ticks. */
async function idleTickCost(ctx, label) {
  const { broker, redis, redisServer } = ctx;
  await sleep(1_000);
  const now = Date.now();
  const dueSoon = await redis.call('ZCOUNT', 'tb:schedule', '-inf', String(now + (P.idleSeconds + 5) * 1000));
  const registered = await redis.call('ZCARD', 'tb:schedule');
  const brokerMeter = procs.cpuMeterPrecise(broker.child.pid);
  const redisMeter = procs.cpuMeterPrecise(redisServer.process.pid);
  await sleep(P.idleSeconds * 1000);
  const b = brokerMeter.stop();
  const r = redisMeter.stop();
  const ticks = b.wallSeconds; // SCHEDULER_TICK_MS default 1000
  const out = {
    label,
    scheduled: registered,
    dueDuringWindow: dueSoon,
    seconds: round(b.wallSeconds, 2),
    brokerCpuMsPerSecond: round((b.cpuSeconds * 1000) / b.wallSeconds, 2),
    brokerCpuMsPerTick: round((b.cpuSeconds * 1000) / ticks, 2),
    redisCpuMsPerSecond: round((r.cpuSeconds * 1000) / r.wallSeconds, 2),
    loadAverage: procs.loadAverage(),
  };
  log(`idle (${label}): broker ${out.brokerCpuMsPerSecond} ms CPU/s, redis ${out.redisCpuMsPerSecond} ms CPU/s, ${dueSoon} due`);
  out.withDue = await dueTickCost(ctx, label);
  return out;
}

/**
 * A tick with the same number of clients due at every size: each second the
 * harness makes P.duePerTick hot clients due now (ZADD XX on the broker's
 * schedule). Their hour-long tokens are far from their refresh window, so
 * each costs the broker a claim, a lock and read, and a reschedule, and no
 * upstream request (checked in the fake's log).
 */
async function dueTickCost(ctx, label) {
  const { broker, redis, redisServer, fake, hot } = ctx;
  const ids = hot.clients.slice(0, P.duePerTick).map((client) => client.id);
  const upstreamBefore = fake.requests.length;
  const brokerMeter = procs.cpuMeterPrecise(broker.child.pid);
  const redisMeter = procs.cpuMeterPrecise(redisServer.process.pid);
  for (let second = 0; second < P.idleSeconds; second++) {
    const now = String(Date.now());
    await redis.call('ZADD', 'tb:schedule', 'XX', ...ids.flatMap((id) => [now, id]));
    await sleep(1_000);
  }
  const b = brokerMeter.stop();
  const r = redisMeter.stop();
  const stillDue = await redis.call('ZCOUNT', 'tb:schedule', '-inf', String(Date.now()));
  const out = {
    duePerTick: ids.length,
    ticks: P.idleSeconds,
    brokerCpuMsPerTick: round((b.cpuSeconds * 1000) / P.idleSeconds, 2),
    redisCpuMsPerTick: round((r.cpuSeconds * 1000) / P.idleSeconds, 2),
    upstreamRequests: fake.requests.length - upstreamBefore,
    stillDueAfter: stillDue,
  };
  log(`due (${label}): ${ids.length} due per tick: broker ${out.brokerCpuMsPerTick} ms CPU per tick, redis ${out.redisCpuMsPerTick} ms, ${out.upstreamRequests} upstream requests`);
  return out;
}

function tickSummary(small, large) {
  if (!small || !large) return null;
  const due = (m) => `broker ${m.withDue.brokerCpuMsPerTick} ms, redis ${m.withDue.redisCpuMsPerTick} ms (${m.withDue.upstreamRequests} upstream requests)`;
  row('scale', `tick CPU with ${small.withDue.duePerTick} due, at ${small.scheduled} clients`, due(small), '', '/proc stat');
  row('scale', `tick CPU with ${large.withDue.duePerTick} due, at ${large.scheduled} clients`, due(large), 'same as above', '/proc stat');
  row('scale', `idle CPU per 1 s tick at ${small.scheduled} clients (${small.dueDuringWindow} due)`, `broker ${small.brokerCpuMsPerTick} ms, redis ${small.redisCpuMsPerSecond} ms`, '', '/proc stat');
  if (large.dueDuringWindow > 0) {
    // Refreshes were still running (the cycles were cut short): that is not an idle tick.
    row('scale', `idle CPU per 1 s tick at ${large.scheduled} clients`, `not measured: ${large.dueDuringWindow} still due (refreshes running)`, 'flat', '/proc stat');
  } else {
    row('scale', `idle CPU per 1 s tick at ${large.scheduled} clients (${large.dueDuringWindow} due)`, `broker ${large.brokerCpuMsPerTick} ms, redis ${large.redisCpuMsPerSecond} ms`, 'flat', '/proc stat');
  }
  return { small, large };
}

// ---------------------------------------------------------------- 4. admin path

async function adminListing(ctx) {
  const { api, redis } = ctx;
  const total = await redis.call('ZCARD', 'tb:clients');
  const seen = new Set();
  const pageMs = [];
  let cursor = null;
  let pages = 0;
  const cpu = procs.cpuMeter(ctx.broker.child.pid);
  const t0 = performance.now();
  do {
    const query = `limit=${P.listLimit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const t = performance.now();
    const response = expectStatus(await api('GET', `/v1/clients?${query}`), 200, 'list');
    pageMs.push(performance.now() - t);
    for (const item of response.json.items) seen.add(item.id);
    cursor = response.json.nextCursor;
    pages++;
  } while (cursor);
  const seconds = (performance.now() - t0) / 1000;
  const use = cpu.stop();
  pageMs.sort((a, b) => a - b);
  const out = {
    registered: total,
    listed: seen.size,
    pages,
    limit: P.listLimit,
    seconds: round(seconds, 2),
    clientsPerSecond: Math.round(seen.size / seconds),
    pagesPerSecond: round(pages / seconds, 1),
    pageP50Ms: round(percentile(pageMs, 50)),
    pageP99Ms: round(percentile(pageMs, 99)),
    brokerCpuCores: round(use.cores, 3),
  };
  row('admin', `list ${total} clients, pages of ${P.listLimit}`, `${out.clientsPerSecond} clients/s (${pages} pages in ${out.seconds} s)`, `all ${total} once`, 'node:http x1');
  row('admin', 'listed exactly once', `${seen.size} / ${total}`, `${total}`, '');
  row('admin', 'page latency p50 / p99', `${out.pageP50Ms} / ${out.pageP99Ms} ms`, '', 'node:http x1');
  if (results.phases.scale) {
    const r = results.phases.scale.registration;
    row('admin', 'registration (from scale)', `${r.perSecond}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`, '', `node:http x${r.concurrency}`);
  }
  return out;
}

// ---------------------------------------------------------------- profile and output

function summarizeProfiles(dir) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  return files.map((file) => {
    const summary = summarizeProfile(path.join(dir, file), 20);
    process.stdout.write(`\n${formatProfile({ ...summary, file: path.relative(ROOT, summary.file) })}\n`);
    return { ...summary, file: path.relative(ROOT, summary.file) };
  });
}

function printTable() {
  const headers = { phase: 'phase', measure: 'measure', value: 'value', target: 'target', tool: 'measured with' };
  const all = [headers, ...rows];
  const width = (key) => Math.max(...all.map((r) => r[key].length));
  const keys = Object.keys(headers);
  const widths = Object.fromEntries(keys.map((k) => [k, width(k)]));
  const line = (r) => `| ${keys.map((k) => r[k].padEnd(widths[k])).join(' | ')} |`;
  const out = [
    '',
    `token-broker bench (${results.mode}${PROFILE ? ', broker under --cpu-prof: slower than normal' : ''}) ${results.startedAt}`,
    `machine: ${results.machine.nproc} cores, ${results.machine.cpuModel}, node ${results.machine.node}; ${results.machine.pinning}`,
    `load average at start ${results.machine.loadAverageAtStart.join(' ')}${results.machine.loadAverageAtStart[0] > 0.5 ? ' (other work on this machine: figures are perturbed)' : ''}; at end ${procs.loadAverage().join(' ')}`,
    `load generator: ${LOAD_TOOL}${results.machine.wrk ? ` (${results.machine.wrk})` : ''}`,
    '',
    line(headers),
    `|${keys.map((k) => '-'.repeat(widths[k] + 2)).join('|')}|`,
    ...rows.map(line),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
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
