'use strict';
/**
 * The cluster phase: a 3-master Redis Cluster (one replica each) and 3 broker
 * replicas on it. Many clients refresh short tokens; over a window, what each
 * master holds and serves (keys, schedule entries, schedule commands, the
 * claims of its shards) and the refreshes each broker replica made. Then the
 * hot path of one cluster replica against bare node:http and against the
 * one-Redis broker, in the same rounds. Everything it starts is stopped at its end.
 */
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('../lib/procs');
const { DIST, P, TARGETS } = require('../lib/options');
const { startClusterDeployment, placeForHotPath, snapshotMasters, callsDelta, spread } = require('../lib/cluster');
const { setupHotClients, watchTokens } = require('../lib/fixtures');
const { LOAD_TOOL, measureLoad } = require('../lib/load');
const { counterDelta } = require('../lib/metrics');
const { row } = require('../lib/report');
const { scheduleKey } = require('../lib/schedule-keys');
const { log, pad, pool, round, round3, expectStatus } = require('../lib/util');
const { warmAndSample, startBare } = require('./hot');

const MASTERS = 3;
const REPLICAS = 3;
const LONG_TOKEN_SECONDS = 3_600;

async function clusterPhase(ctx) {
  log(`cluster: starting ${MASTERS} masters with a replica each and ${REPLICAS} brokers`);
  const deployment = await startClusterDeployment({
    mainJs: path.join(DIST, 'main.js'),
    masters: MASTERS,
    replicas: REPLICAS,
  });
  try {
    const { clients: refreshing, importCommands } = await registerRefreshing(deployment);
    // Half a token life: the first refreshes have begun, and the window sees the steady rhythm.
    await sleep(P.clusterExpiresIn * 500);
    const spreads = await measureWindow(deployment, refreshing);
    // Long tokens from each client's next refresh on: the hot path runs on a quiet cluster, as on one Redis.
    for (const client of refreshing) client.fakeOptions.expiresIn = LONG_TOKEN_SECONDS;
    const replica = { ...deployment.brokers[0] };
    replica.hot = await setupHotClients(replica, 'cluster-');
    await waitForLongTokens(deployment.fake, refreshing);
    placeForHotPath(deployment.brokers);
    const hot = await compareHotPaths(ctx, replica);
    const out = { masters: MASTERS, replicas: REPLICAS, clients: refreshing.length, importCommands, ...spreads, hot };
    clusterRows(out);
    return out;
  } finally {
    log('cluster: stopping the brokers and the cluster');
    await deployment.stop();
  }
}

/** P.clusterClients clients through the batch route, batches sent round robin to the replicas. */
async function registerRefreshing({ fake, brokers, masters }) {
  const items = [];
  const byClientId = new Map();
  for (let i = 0; i < P.clusterClients; i++) {
    const clientId = `cl_${pad(i, 6)}`;
    const clientSecret = `secret_${randomBytes(12).toString('base64url')}`;
    const fakeOptions = { expiresIn: P.clusterExpiresIn };
    fake.addClient(clientId, clientSecret, fakeOptions);
    byClientId.set(clientId, fakeOptions);
    const workspaceId = `ws_cl_${pad(i % 100, 3)}`;
    items.push({ workspaceId, name: `cluster ${i}`, type: 'oauth_client_credentials', clientId, clientSecret });
  }
  const batches = Math.ceil(items.length / P.batchSize);
  const clients = [];
  const firstTokens = watchTokens(
    fake,
    items.map((item) => item.clientId),
  );
  const before = await snapshotMasters(masters);
  const t0 = performance.now();
  await pool(batches, REPLICAS, async (b) => {
    const body = { items: items.slice(b * P.batchSize, (b + 1) * P.batchSize) };
    const response = await brokers[b % brokers.length].api('POST', '/v1/clients/batch', { body, timeoutMs: 120_000 });
    expectStatus(response, 200, `cluster batch ${b}`);
    for (const item of response.json.items) {
      if (item.status !== 201) throw new Error(`cluster batch ${b}, item ${item.index}: ${item.status}`);
      const { id, clientId } = item.client;
      clients.push({ id, clientId, fakeOptions: byClientId.get(clientId) });
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  // Every command each master ran for the import: the one-slot structures an admin write touches (the clients
  // listing, the audit stream) show here if they make one master do more than the others.
  const after = await snapshotMasters(masters);
  const importCommands = summarize(masters.map((_, index) => allCallsDelta(before[index], after[index])));
  log(`cluster: ${clients.length} clients in ${seconds.toFixed(1)} s; waiting for their first tokens`);
  await firstTokens.wait(Math.max(60_000, clients.length * 10));
  return { clients, importCommands };
}

/** Calls of every command between two snapshots of one master. */
function allCallsDelta(before, after) {
  return Object.keys(after.calls).reduce((sum, command) => sum + callsDelta(before, after, command), 0);
}

/** Per master and per replica, what the window of P.clusterWindowSeconds saw. */
async function measureWindow({ fake, brokers, masters }, refreshing) {
  const scrape = () =>
    Promise.all(brokers.map(async ({ api }) => expectStatus(await api('GET', '/metrics'), 200, 'metrics').text));
  log(`cluster: measuring over ${P.clusterWindowSeconds} s`);
  const before = { masters: await snapshotMasters(masters), metrics: await scrape(), issued: fake.issued.length };
  // Each replica's CPU over the window: a replica that got more CPU can take more of the due clients.
  const cpu = brokers.map(({ broker }) => procs.cpuMeter(broker.child.pid));
  await sleep(P.clusterWindowSeconds * 1000);
  const replicaCpuSeconds = cpu.map((meter) => round(meter.stop().cpuSeconds, 2));
  const after = { masters: await snapshotMasters(masters), metrics: await scrape(), issued: fake.issued.length };

  // The claims of each master's shards: every refresh the fake issued in the window was claimed from its client's shard.
  const idOf = new Map(refreshing.map((c) => [c.clientId, c.id]));
  const masterOfKey = new Map(masters.flatMap((m, index) => m.shardKeys.map((key) => [key, index])));
  const claims = masters.map(() => 0);
  for (let at = before.issued; at < after.issued; at++) {
    const id = idOf.get(fake.issued[at].clientId);
    if (id !== undefined) claims[masterOfKey.get(scheduleKey(id))] += 1;
  }
  const tokenRequests = (text) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('tb_upstream_requests_total{') && line.includes('kind="token"'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  const perMaster = (read) => masters.map((_, index) => read(before.masters[index], after.masters[index]));
  return {
    windowSeconds: P.clusterWindowSeconds,
    masterSlots: masters.map((m) => m.slots),
    masterShards: masters.map((m) => m.shardKeys.length),
    keys: summarize(after.masters.map((m) => m.keys)),
    scheduled: summarize(after.masters.map((m) => m.scheduled)),
    claims: summarize(claims),
    scheduleWrites: summarize(perMaster((b, a) => callsDelta(b, a, 'zadd'))),
    scheduleReads: summarize(perMaster((b, a) => callsDelta(b, a, 'zrangebyscore'))),
    scripts: summarize(perMaster((b, a) => callsDelta(b, a, 'evalsha'))),
    refreshes: summarize(brokers.map((_, i) => tokenRequests(after.metrics[i]) - tokenRequests(before.metrics[i]))),
    replicaCpuSeconds,
    scheduledClaims: summarize(
      brokers.map((_, i) => counterDelta(before.metrics[i], after.metrics[i], 'tb_refresh_lag_seconds_count')),
    ),
  };
}

function summarize(values) {
  const s = spread(values);
  return { values, total: s.total, shares: s.shares.map(round3), maxOverMean: round3(s.maxOverMean) };
}

/** Waits (at most two short token lives) until every refreshing client holds a long token. */
async function waitForLongTokens(fake, refreshing) {
  const wanted = new Set(refreshing.map((c) => c.clientId));
  const deadline = Date.now() + P.clusterExpiresIn * 2_000;
  let scanned = 0;
  while (wanted.size > 0 && Date.now() < deadline) {
    for (; scanned < fake.issued.length; scanned++) {
      const { clientId, expiresIn } = fake.issued[scanned];
      if (expiresIn === LONG_TOKEN_SECONDS) wanted.delete(clientId);
    }
    if (wanted.size > 0) await sleep(500);
  }
  if (wanted.size > 0) log(`cluster: ${wanted.size} clients still on short tokens; the hot path runs anyway`);
}

/**
 * Rounds of bare node:http, the one-Redis broker and the cluster replica, back
 * to back, each against the same bare run; the median of each ratio is reported.
 */
async function compareHotPaths(ctx, replica) {
  await warmAndSample(replica);
  const { line, sample } = await warmAndSample(ctx);
  const bare = await startBare(sample, line);
  const rounds = [];
  try {
    for (let n = 1; n <= P.hotRounds; n++) {
      log(`cluster hot path, round ${n} of ${P.hotRounds}: bare, one-Redis broker, cluster replica`);
      const bareRun = await measureLoad(bare.port, bare.pid, ctx.hot.requestsFile);
      const single = await measureLoad(ctx.port, ctx.broker.child.pid, ctx.hot.requestsFile);
      const cluster = await measureLoad(replica.port, replica.broker.child.pid, replica.hot.requestsFile);
      rounds.push({
        bareRps: bareRun.rps,
        singleRps: single.rps,
        clusterRps: cluster.rps,
        singleRatio: round3(single.rps / bareRun.rps),
        clusterRatio: round3(cluster.rps / bareRun.rps),
        bareCpuUs: bareRun.cpuUsPerRequest,
        singleCpuUs: single.cpuUsPerRequest,
        clusterCpuUs: cluster.cpuUsPerRequest,
        singleP99Ms: single.p99Ms,
        clusterP99Ms: cluster.p99Ms,
        non2xx: single.non2xx + cluster.non2xx + single.socketErrors + cluster.socketErrors,
      });
    }
  } finally {
    await bare.stop();
  }
  const median = (key) => [...rounds].map((r) => r[key]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
  return {
    tool: LOAD_TOOL,
    connections: P.connections,
    durationSeconds: P.durationSeconds,
    singleRatio: median('singleRatio'),
    clusterRatio: median('clusterRatio'),
    bareCpuUs: median('bareCpuUs'),
    singleCpuUs: median('singleCpuUs'),
    clusterCpuUs: median('clusterCpuUs'),
    rounds,
  };
}

function clusterRows(out) {
  const spreadRow = (measure, s, target, tool) => {
    const value = `${s.values.join(' / ')} (${s.shares.map((x) => `${round(x * 100, 1)}%`).join(' / ')}): ${s.maxOverMean}x`;
    const verdict = target === null ? '' : `max/mean <= ${target}x ${s.maxOverMean <= target ? 'MET' : 'MISSED'}`;
    row('cluster', measure, value, verdict, tool);
  };
  const masters = TARGETS.clusterMasterSpread;
  row(
    'cluster',
    'slots / schedule shards per master',
    `${out.masterSlots.join(' / ')}; ${out.masterShards.join(' / ')}`,
    '',
    'CLUSTER SLOTS',
  );
  spreadRow('keys per master', out.keys, masters, 'DBSIZE');
  spreadRow('commands per master for the import (batch route)', out.importCommands, null, 'INFO commandstats');
  spreadRow('schedule entries per master', out.scheduled, masters, 'ZCARD');
  spreadRow(
    `claims per master (refreshes in ${out.windowSeconds} s by client's shard)`,
    out.claims,
    masters,
    'fake log',
  );
  spreadRow('schedule ZADDs per master (leases, reschedules)', out.scheduleWrites, masters, 'INFO commandstats');
  spreadRow('schedule ZRANGEBYSCOREs per master (claim reads)', out.scheduleReads, null, 'INFO commandstats');
  spreadRow('EVALSHA per master', out.scripts, null, 'INFO commandstats');
  spreadRow(
    `refreshes per broker replica in ${out.windowSeconds} s`,
    out.refreshes,
    TARGETS.clusterReplicaSpread,
    '/metrics',
  );
  spreadRow('scheduled claims per broker replica', out.scheduledClaims, null, '/metrics');
  const perCpu = out.refreshes.values.map((n, i) => Math.round(n / out.replicaCpuSeconds[i]));
  row(
    'cluster',
    `broker replica CPU in ${out.windowSeconds} s (refreshes per CPU second)`,
    `${out.replicaCpuSeconds.join(' / ')} s (${perCpu.join(' / ')})`,
    '',
    '/proc stat',
  );
  const { hot } = out;
  const tool = `${hot.tool} -c${hot.connections}`;
  const rounds = hot.rounds.length > 1 ? ` (median of ${hot.rounds.length} rounds)` : '';
  row('cluster', `one-Redis broker / bare throughput${rounds}`, `${hot.singleRatio.toFixed(3)}x`, '', tool);
  row(
    'cluster',
    `cluster replica / bare throughput${rounds}`,
    `${hot.clusterRatio.toFixed(3)}x`,
    `>= one Redis ${hot.clusterRatio >= hot.singleRatio ? 'MET' : 'MISSED'}`,
    tool,
  );
  row(
    'cluster',
    'CPU per answer, median: bare / one-Redis broker / cluster replica',
    `${hot.bareCpuUs} / ${hot.singleCpuUs} / ${hot.clusterCpuUs} us`,
    `cluster <= one Redis ${hot.clusterCpuUs <= hot.singleCpuUs ? 'MET' : 'MISSED'}`,
    '/proc stat',
  );
  row(
    'cluster',
    'each round: one Redis / cluster throughput ratio (CPU per answer)',
    hot.rounds
      .map((r) => `${r.singleRatio}x / ${r.clusterRatio}x (${r.singleCpuUs} / ${r.clusterCpuUs} us)`)
      .join(', '),
    '',
    tool,
  );
}

module.exports = { clusterPhase };
