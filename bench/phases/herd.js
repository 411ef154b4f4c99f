'use strict';
/**
 * Phase 2, cold herd: many concurrent GETs for a client that has no token yet,
 * with a slow upstream; the broker must ask the upstream once and give every
 * caller the same token.
 */
const http = require('node:http');
const procs = require('../lib/procs');
const { P } = require('../lib/options');
const { httpRequest } = require('../lib/http');
const { registerClient } = require('../lib/fixtures');
const { row } = require('../lib/report');
const { log, range, percentile, round } = require('../lib/util');

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

  await fake.setDelay(P.herdDelayMs);
  // Registration does not wait for a token: the first fetch starts in the background and
  // sits in the slow upstream while the herd arrives, so every GET finds no token.
  const client = await registerClient(ctx, workspaceId, `herd_${Date.now()}`);
  const t0 = performance.now();
  const answers = await Promise.all(
    range(n).map(() =>
      httpRequest(herdAgent, ctx.port, 'GET', `/v1/clients/${client.id}/token`, {
        headers: { authorization: `Bearer ${key.key}` },
      }).then(
        (response) => ({
          status: response.status,
          token: response.json?.access_token ?? null,
          ms: performance.now() - t0,
        }),
        (error) => ({ status: null, error: error.message, ms: performance.now() - t0 }),
      ),
    ),
  );
  await fake.setDelay(0);
  herdAgent.destroy();
  const upstream = await fake.tokenRequestCount(client.clientId);
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
  row(
    'herd',
    `upstream requests for ${n} concurrent GETs`,
    upstream,
    '1 ' + (upstream === 1 ? 'MET' : 'MISSED'),
    'fake log',
  );
  row(
    'herd',
    `time until all ${n} answered (upstream ${P.herdDelayMs} ms)`,
    `${out.allAnsweredMs} ms (p50 ${out.p50Ms})`,
    '',
    'node:http',
  );
  row('herd', '200s / distinct tokens', `${ok.length} / ${out.distinctTokens}`, `${n} / 1`, 'node:http');
  log(`herd: ${n} GETs, ${upstream} upstream request(s), all answered in ${out.allAnsweredMs} ms`);
  return out;
}

module.exports = { coldHerd };
