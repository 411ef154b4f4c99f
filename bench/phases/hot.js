'use strict';
/**
 * Phase 1, hot path: token GETs over many clients and service keys, against a
 * bare node:http server answering the same bytes on the same core, in rounds
 * of bare then broker; the median round is reported.
 */
const fs = require('node:fs');
const path = require('node:path');
const procs = require('../lib/procs');
require('../lib/ts-require').register();
const { freePort } = require('../../test/support/redis-server.ts');
const { BENCH_DIR, BROKER_CORE, P, TARGETS } = require('../lib/options');
const { httpRequest } = require('../lib/http');
const { LOAD_TOOL, measureLoad } = require('../lib/load');
const { counterDelta } = require('../lib/metrics');
const { row } = require('../lib/report');
const { log, pool, expectStatus, round, round3 } = require('../lib/util');

async function hotPath(ctx) {
  const { api, hot } = ctx;
  const { line, sample } = await warmAndSample(ctx);
  const bodyBytes = Buffer.byteLength(sample.text);
  const bare = await startBare(sample, line);

  // Rounds of bare then broker, back to back: the machine's mood drifts over minutes (bare node:http
  // itself has served from 59 to 68 µs per answer here), and the median round is the figure reported.
  const metricsBefore = (await api('GET', '/metrics')).text;
  const rounds = [];
  for (let n = 1; n <= P.hotRounds; n++) {
    log(
      `hot path, round ${n} of ${P.hotRounds}: bare node:http (${LOAD_TOOL} -c${P.connections}, ${P.warmupSeconds} s warm-up + ${P.durationSeconds} s)`,
    );
    const bareRun = await measureLoad(bare.port, bare.pid, hot.requestsFile);
    log(
      `hot path, round ${n} of ${P.hotRounds}: broker GET /v1/clients/:id/token (${hot.clients.length} clients, ${hot.keys.length} service keys)`,
    );
    const brokerRun = await measureLoad(ctx.port, ctx.broker.child.pid, hot.requestsFile);
    rounds.push({
      bare: bareRun,
      broker: brokerRun,
      ratio: round3(brokerRun.rps / bareRun.rps),
      cpuRatio: round3(bareRun.cpuUsPerRequest / brokerRun.cpuUsPerRequest),
    });
  }
  await bare.stop();
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
    bareAnswersSameBytes: bare.sameBytes,
    bare: bareRun,
    broker: brokerRun,
    ratio: round(ratio, 3),
    cpuPerRequestRatio: round(cpuRatio, 3),
    rounds: rounds.map(({ ratio: r, cpuRatio: c, bare: b, broker: k }) => ({
      ratio: r,
      cpuPerRequestRatio: c,
      bareRps: b.rps,
      brokerRps: k.rps,
      bareCpuUs: b.cpuUsPerRequest,
      brokerCpuUs: k.cpuUsPerRequest,
      brokerP99Ms: k.p99Ms,
    })),
    cacheHits,
    cacheMisses,
    targets: TARGETS,
  };
  const tool = `${LOAD_TOOL} -c${P.connections}`;
  row('hot', 'bare node:http req/s', Math.round(bareRun.rps), '', tool);
  row('hot', 'broker req/s', Math.round(brokerRun.rps), '', tool);
  row(
    'hot',
    `broker / bare throughput${rounds.length > 1 ? ` (median of ${rounds.length} rounds)` : ''}`,
    `${ratio.toFixed(3)}x`,
    `>= ${TARGETS.hotRatio}x ${ratio >= TARGETS.hotRatio ? 'MET' : 'MISSED'}`,
    tool,
  );
  if (rounds.length > 1)
    row(
      'hot',
      'each round: throughput ratio (broker / bare CPU per answer)',
      rounds.map((r) => `${r.ratio}x (${r.broker.cpuUsPerRequest} / ${r.bare.cpuUsPerRequest} us)`).join(', '),
      '',
      tool,
    );
  row('hot', 'bare / broker CPU per request', `${cpuRatio.toFixed(3)}x`, '', '/proc stat');
  row(
    'hot',
    'broker p50 / p99 latency',
    `${brokerRun.p50Ms} / ${brokerRun.p99Ms} ms`,
    `p99 <= ${TARGETS.hotP99Ms} ms ${brokerRun.p99Ms <= TARGETS.hotP99Ms ? 'MET' : 'MISSED'}`,
    tool,
  );
  row('hot', 'bare p50 / p99 latency', `${bareRun.p50Ms} / ${bareRun.p99Ms} ms`, '', tool);
  row(
    'hot',
    'broker CPU (cores) / per request',
    `${brokerRun.cpuCores} / ${brokerRun.cpuUsPerRequest} us`,
    '',
    '/proc stat',
  );
  row('hot', 'bare CPU (cores) / per request', `${bareRun.cpuCores} / ${bareRun.cpuUsPerRequest} us`, '', '/proc stat');
  row('hot', 'non-2xx / socket errors (broker)', `${brokerRun.non2xx} / ${brokerRun.socketErrors}`, '0 / 0', tool);
  row(
    'hot',
    'other processes on the server core (bare / broker run)',
    `${bareRun.othersOnServerCore} / ${brokerRun.othersOnServerCore} cores`,
    '~0',
    '/proc/stat',
  );
  row('hot', 'token cache hits / misses', `${cacheHits} / ${cacheMisses}`, '', '/metrics');
  return out;
}

/**
 * Fills the replica's token cache (one GET per client, as the warm-up would) and
 * takes one real answer of the route under test: the bytes the bare server sends.
 */
async function warmAndSample(ctx) {
  const { api, hot } = ctx;
  await pool(hot.clients.length, 32, async (i) => {
    expectStatus(await api('GET', `/v1/clients/${hot.clients[i].id}/token`), 200, 'token');
  });
  const line = fs.readFileSync(hot.requestsFile, 'utf8').split('\n')[0].split('\t');
  const sample = expectStatus(
    await httpRequest(ctx.agent, ctx.port, 'GET', line[0], { headers: { authorization: line[1] } }),
    200,
    'sample token',
  );
  if (sample.headers['cache-control'] !== 'no-store')
    throw new Error(`token answer without Cache-Control: no-store: ${JSON.stringify(sample.headers)}`);
  return { line, sample };
}

/** A bare node:http server on the broker's core answering the sample's status, headers and body bytes. */
async function startBare(sample, line) {
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  const headers = [];
  for (let i = 0; i < sample.rawHeaders.length; i += 2) {
    if (!skip.has(sample.rawHeaders[i].toLowerCase())) headers.push([sample.rawHeaders[i], sample.rawHeaders[i + 1]]);
  }
  const port = await freePort();
  const bare = procs.spawnPinned(BROKER_CORE, process.execPath, [path.join(BENCH_DIR, 'bare-server.js')], {
    env: { ...process.env, TB_BARE_CONFIG: JSON.stringify({ port, headers, body: sample.text }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stopBare = () => procs.stopChild(bare, 3_000);
  const unregister = procs.onCleanup(stopBare);
  await new Promise((resolve, reject) => {
    bare.stdout.once('data', resolve);
    bare.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  const check = await httpRequest(undefined, port, 'GET', line[0], { headers: { authorization: line[1] } });
  const sameBytes =
    Buffer.byteLength(check.text) === Buffer.byteLength(sample.text) && check.headers['cache-control'] === 'no-store';
  return {
    port,
    pid: bare.pid,
    sameBytes,
    stop: async () => {
      unregister();
      await stopBare();
    },
  };
}

module.exports = { hotPath, warmAndSample, startBare };
