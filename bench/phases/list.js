'use strict';
/** Phase 4, admin path: every client listed through cursor pages (each seen exactly once). */
const procs = require('../lib/procs');
const { P } = require('../lib/options');
const { results, row } = require('../lib/report');
const { expectStatus, percentile, round } = require('../lib/util');

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
  row(
    'admin',
    `list ${total} clients, pages of ${P.listLimit}`,
    `${out.clientsPerSecond} clients/s (${pages} pages in ${out.seconds} s)`,
    `all ${total} once`,
    'node:http x1',
  );
  row('admin', 'listed exactly once', `${seen.size} / ${total}`, `${total}`, '');
  row('admin', 'page latency p50 / p99', `${out.pageP50Ms} / ${out.pageP99Ms} ms`, '', 'node:http x1');
  if (results.phases.scale) {
    const r = results.phases.scale.registration;
    row(
      'admin',
      'registration (from scale)',
      `${r.perSecond}/s, batch p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
      '',
      `batch route, ${r.batchSize} x ${r.batchesInFlight}`,
    );
  }
  return out;
}

module.exports = { adminListing };
