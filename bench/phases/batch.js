'use strict';
const { scheduleKey } = require('../lib/schedule-keys');
/**
 * Phase 5, batch import: many clients registered through POST /v1/clients/batch
 * (a few batches in flight) while clients registered before keep refreshing
 * short tokens. Measured: clients/s, broker CPU per client, and the lateness of
 * the earlier clients' refreshes during the import (the fake's issue time
 * minus the due time the broker had scheduled, as in cycles.js).
 */
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('../lib/procs');
const { P, TARGETS } = require('../lib/options');
const { watchTokens } = require('../lib/fixtures');
const { row } = require('../lib/report');
const { log, pad, percentile, pool, range, round, fmtBusy, expectStatus } = require('../lib/util');

/** Lifetime of the earlier clients' tokens: refreshed about every half of it. */
const REFRESHING_EXPIRES_IN = P.batchRefreshingExpiresIn;

async function batchImport(ctx) {
  const clientIds = range(P.batchRefreshingClients).map((i) => `bref_${pad(i, 5)}`);
  // Watched from before registration: the broker fetches their first tokens as it stores them.
  const watch = watchRefreshes(ctx, clientIds);
  const refreshing = await registerRefreshing(ctx, clientIds);
  watch.start(refreshing);
  // One full token life first, so that every earlier client is in its refresh rhythm.
  await sleep(REFRESHING_EXPIRES_IN * 1000);
  // Also over the imported clients' first tokens, which may land after the import: their cost is the import's too.
  const cpuWithFirstTokens = procs.cpuMeter(ctx.broker.child.pid);
  const imported = await importClients(ctx);
  const tail = await awaitFirstTokens(imported);
  const withFirstTokens = cpuWithFirstTokens.stop();
  await sleep(1_000);
  watch.stop();
  await watch.drain();
  const during = watch.lateness(imported.startAt, imported.endAt);
  const out = {
    clients: imported.stored,
    batchSize: P.batchSize,
    batchesInFlight: P.batchesInFlight,
    seconds: round(imported.seconds, 2),
    perSecond: Math.round(imported.stored / imported.seconds),
    batchP50Ms: round(percentile(imported.latencies, 50)),
    batchP99Ms: round(percentile(imported.latencies, 99)),
    brokerCpuCores: round(imported.cpu.cores, 3),
    brokerCpuUsPerClient: round((imported.cpu.cpuSeconds * 1e6) / imported.stored, 1),
    brokerCpuUsPerClientWithFirstToken: round((withFirstTokens.cpuSeconds * 1e6) / imported.stored, 1),
    coreBusy: imported.coreBusy,
    loadAverage: imported.loadAverage,
    firstTokens: tail,
    refreshing: { clients: refreshing.length, tokenSeconds: REFRESHING_EXPIRES_IN, duringImport: during },
  };
  batchRows(out);
  return out;
}

/** The earlier clients, registered through the batch route too, with short tokens at the fake. */
async function registerRefreshing(ctx, clientIds) {
  const items = [];
  for (const [i, clientId] of clientIds.entries()) {
    const clientSecret = `secret_${randomBytes(12).toString('base64url')}`;
    ctx.fake.addClient(clientId, clientSecret, { expiresIn: REFRESHING_EXPIRES_IN });
    const workspaceId = `ws_bref_${pad(i % 10, 2)}`;
    items.push({ workspaceId, name: `refreshing ${i}`, type: 'oauth_client_credentials', clientId, clientSecret });
  }
  const clients = [];
  for (let start = 0; start < items.length; start += P.batchSize) {
    const body = { items: items.slice(start, start + P.batchSize) };
    const response = expectStatus(await ctx.api('POST', '/v1/clients/batch', { body }), 200, 'refreshing batch');
    for (const item of response.json.items) {
      if (item.status !== 201) throw new Error(`refreshing client ${item.index}: ${item.status}`);
      clients.push({ id: item.client.id, clientId: item.client.clientId });
    }
  }
  log(`batch: ${clients.length} clients refreshing ${REFRESHING_EXPIRES_IN} s tokens; one token life to settle`);
  return clients;
}

/**
 * Follows the tokens the fake issues to the refreshing clients (its onIssued
 * listener, from before they are registered) and, once each has landed and
 * start() has told the broker's ids, reads the due time the broker scheduled
 * after it (a score outside the token's refresh window is a claim lease: read
 * again later).
 */
function watchRefreshes(ctx, clientIds) {
  const { fake, redis } = ctx;
  const brokerIdOf = new Map();
  const issued = new Map(clientIds.map((clientId) => [clientId, []]));
  const dueAfter = new Map(clientIds.map((clientId) => [clientId, []]));
  const pending = [];
  let unread = 0;
  const lifeMs = REFRESHING_EXPIRES_IN * 1000;
  const unsubscribe = fake.onIssued((clientId, at) => {
    const list = issued.get(clientId);
    if (!list) return;
    list.push(at);
    pending.push({ clientId, k: list.length - 1, at, tries: 0 });
  });
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const now = Date.now();
      const ready = [];
      for (let i = pending.length - 1; i >= 0; i--) {
        if (now - pending[i].at >= 300) ready.push(pending.splice(i, 1)[0]);
      }
      const scores = await Promise.all(
        ready.map((p) => redis.call('ZSCORE', scheduleKey(brokerIdOf.get(p.clientId)), brokerIdOf.get(p.clientId))),
      );
      ready.forEach((p, i) => {
        const score = scores[i] === null ? NaN : Number(scores[i]);
        if (score >= p.at + lifeMs * 0.3 && score <= p.at + lifeMs * 0.8) dueAfter.get(p.clientId)[p.k] = score;
        else if (++p.tries < 20) pending.push(p);
        else unread++;
      });
    } finally {
      polling = false;
    }
  };
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    unsubscribe();
  };
  procs.onCleanup(stop);
  return {
    /** The refreshing clients as registered: reading their due times begins. */
    start(refreshing) {
      for (const c of refreshing) brokerIdOf.set(c.clientId, c.id);
      timer = setInterval(() => poll().catch((error) => log(`batch: schedule poll failed: ${error.message}`)), 250);
    },
    stop,
    drain: async () => {
      for (let i = 0; i < 10 && pending.length > 0; i++) {
        await poll();
        await sleep(300);
      }
    },
    /** Lateness of the refreshes issued between `from` and `to` (epoch ms). */
    lateness(from, to) {
      const late = [];
      let unmatched = 0;
      for (const [clientId, times] of issued) {
        const dues = dueAfter.get(clientId);
        for (let k = 1; k < times.length; k++) {
          if (times[k] < from || times[k] > to) continue;
          if (dues[k - 1] === undefined) unmatched++;
          else late.push((times[k] - dues[k - 1]) / 1000);
        }
      }
      late.sort((a, b) => a - b);
      return {
        refreshes: late.length,
        unmatched,
        unreadDues: unread,
        p50: round(percentile(late, 50), 3),
        p99: round(percentile(late, 99), 3),
        max: round(late.at(-1), 3),
        over1s: late.filter((l) => l > 1).length,
      };
    },
  };
}

/** P.batchClients new clients, P.batchSize per request, P.batchesInFlight requests at once. */
async function importClients(ctx) {
  const { fake, broker } = ctx;
  const batches = Math.ceil(P.batchClients / P.batchSize);
  log(`batch: importing ${P.batchClients} clients, ${batches} batches of ${P.batchSize}, ${P.batchesInFlight} at once`);
  const bodies = [];
  const clientIds = [];
  for (let b = 0; b < batches; b++) {
    const items = [];
    for (let i = b * P.batchSize; i < Math.min(P.batchClients, (b + 1) * P.batchSize); i++) {
      const clientId = `bimp_${pad(i, 6)}`;
      const clientSecret = `secret_${randomBytes(12).toString('base64url')}`;
      fake.addClient(clientId, clientSecret, { expiresIn: 3_600 });
      clientIds.push(clientId);
      const workspaceId = `ws_bimp_${pad(i % 1000, 4)}`;
      items.push({ workspaceId, name: `import ${i}`, type: 'oauth_client_credentials', clientId, clientSecret });
    }
    bodies.push({ items });
  }
  const tokens = watchTokens(fake, clientIds);
  const cpu = procs.cpuMeter(broker.child.pid);
  const cores = procs.coreMeter();
  const latencies = [];
  let stored = 0;
  const startAt = Date.now();
  const t0 = performance.now();
  await pool(batches, P.batchesInFlight, async (b) => {
    const t = performance.now();
    const response = await ctx.api('POST', '/v1/clients/batch', { body: bodies[b], timeoutMs: 120_000 });
    latencies.push(performance.now() - t);
    expectStatus(response, 200, `batch ${b}`);
    const failed = response.json.items.filter((item) => item.status !== 201);
    if (failed.length > 0) {
      throw new Error(`batch ${b}: ${failed.length} items not stored, first: ${JSON.stringify(failed[0])}`);
    }
    stored += response.json.items.length;
  });
  const seconds = (performance.now() - t0) / 1000;
  const endAt = Date.now();
  latencies.sort((a, b) => a - b);
  const out = { stored, seconds, startAt, endAt, latencies, cpu: cpu.stop(), coreBusy: cores.stop(), clientIds };
  // Watching the imported clients' first tokens since before the import: awaitFirstTokens waits on it.
  out.tokens = tokens;
  out.loadAverage = os.loadavg().map((l) => round(l, 2));
  log(`batch: ${stored} clients in ${seconds.toFixed(1)} s (${Math.round(stored / seconds)}/s)`);
  return out;
}

/** How long after the import every imported client held its first token (bounded wait). */
async function awaitFirstTokens(imported) {
  const { tokens } = imported;
  const of = imported.clientIds.length;
  // First fetches go at the rate the upstream slots allow (about 1,500/s here): 2 ms per client leaves room.
  const deadline = Date.now() + Math.max(30_000, imported.seconds * 3_000, of * 2);
  while (tokens.missing() > 0 && Date.now() < deadline) await sleep(200);
  tokens.stop();
  return { clients: of - tokens.missing(), of, secondsAfterImport: round((Date.now() - imported.endAt) / 1000, 1) };
}

function batchRows(out) {
  const during = out.refreshing.duringImport;
  const met = during.p99 !== null && during.p99 <= TARGETS.latenessP99Seconds;
  row(
    'batch',
    `import ${out.clients} clients (${out.batchSize} per batch, ${out.batchesInFlight} in flight)`,
    `${out.perSecond}/s (${out.seconds} s, batch p50 ${out.batchP50Ms} / p99 ${out.batchP99Ms} ms)`,
    `>= ${TARGETS.batchPerSecond}/s ${out.perSecond >= TARGETS.batchPerSecond ? 'MET' : 'MISSED'}`,
    'POST /v1/clients/batch',
  );
  const withFirst = `${out.brokerCpuUsPerClientWithFirstToken} us with its first token`;
  const cpu = `${out.brokerCpuCores} cores / ${out.brokerCpuUsPerClient} us (${withFirst})`;
  const busy = `cores busy: ${fmtBusy(out.coreBusy)}; load ${out.loadAverage.join(' ')}`;
  row('batch', 'broker CPU during import / per client', `${cpu}; ${busy}`, '', '/proc stat');
  row(
    'batch',
    `refresh lateness of ${out.refreshing.clients} earlier clients during import p50 / p99 / max`,
    `${during.p50} / ${during.p99} / ${during.max} s (${during.refreshes} refreshes, ${during.unmatched} unmatched)`,
    `p99 <= ${TARGETS.latenessP99Seconds} s ${met ? 'MET' : 'MISSED'}`,
    'fake log - schedule',
  );
  const first = out.firstTokens;
  const firstTokens = `first tokens of imported clients: ${first.clients} of ${first.of}`;
  row('batch', firstTokens, `${first.secondsAfterImport} s after the import`, `${first.of}`, 'fake log');
}

module.exports = { batchImport };
