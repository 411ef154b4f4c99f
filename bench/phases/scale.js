'use strict';
/**
 * Phase 3, scale: many clients registered (register.js), two compressed
 * refresh cycles (cycles.js), Redis memory per client and the broker's RSS.
 */
const procs = require('../lib/procs');
const { P, TARGETS } = require('../lib/options');
const { redisInfo } = require('../lib/redis');
const { row } = require('../lib/report');
const { log, percentile, round, fmtBusy, mib } = require('../lib/util');
const { registerScaleClients } = require('./register');
const { createTracker, awaitFirstTokens, awaitTwoCycles, summarizeCycles } = require('./cycles');

const auditBytes = async (redis) => Number((await redis.call('MEMORY', 'USAGE', 'tb:audit', 'SAMPLES', '0')) ?? 0);

async function scale(ctx) {
  const { redis, api, broker } = ctx;
  const pid = broker.child.pid;
  const memBefore = Number((await redisInfo(redis, 'memory')).used_memory);
  const auditBefore = await auditBytes(redis);
  const tracker = createTracker(ctx);
  const registration = await registerScaleClients(ctx, tracker);
  const { n } = registration;

  const first = await awaitFirstTokens(tracker, n);
  const memAfter = Number((await redisInfo(redis, 'memory')).used_memory);
  const auditAfter = await auditBytes(redis);
  const rssAfterRegistration = procs.memory(pid);
  const metricsBefore = (await api('GET', '/metrics')).text;
  const holding =
    first.withFirstToken === n ? 'every client has its' : `${first.withFirstToken} of ${n} clients have their`;
  log(`scale: ${holding} first token; waiting for two refresh cycles (tokens of ${P.expiresIn} s)`);
  const cycles = await awaitTwoCycles(ctx, tracker, n, first.firstTimes);
  const metricsAfter = (await api('GET', '/metrics')).text;
  // What the harness (and the fake in it) holds after the cycles: a large heap is slow to collect.
  log(`scale: harness heap used ${mib(process.memoryUsage().heapUsed)} MiB after the cycles`);

  const out = {
    clients: n,
    clientsRequested: registration.requested,
    registrationBudgetSpent: registration.overBudget,
    registration: registrationFigures(registration),
    firstTokens: {
      clients: first.withFirstToken,
      spanSeconds: round(first.firstSpanSeconds, 1),
      doneSecondsAfterRegistration: round((first.firstTokensDoneAt - registration.regEndAt) / 1000, 1),
    },
    tokenLifetimeSeconds: P.expiresIn,
    refreshWindow: refreshWindow(),
    cycles: await summarizeCycles(ctx, tracker, cycles, metricsBefore, metricsAfter),
    redis: {
      usedMemoryBefore: memBefore,
      usedMemoryAfter: memAfter,
      bytesPerClient: Math.round((memAfter - memBefore) / n),
      auditStreamBytesDelta: auditAfter - auditBefore,
      bytesPerClientWithoutAudit: Math.round((memAfter - memBefore - (auditAfter - auditBefore)) / n),
    },
    brokerMemory: {
      afterRegistration: rssAfterRegistration,
      peakRssDuringCycles: cycles.peakRss,
      end: procs.memory(pid),
    },
  };
  for (const b of out.cycles.latenessTimeline) {
    const late = b.refreshes ? `lateness p99 ${b.p99} s, max ${b.max} s, ${b.over1s} over 1 s` : '';
    log(
      `scale: +${b.fromSeconds} s: broker ${b.brokerCores} cores, ${coresBusy(b.cores)}, loop delay max: harness ${b.harnessLoopDelayMaxMs} ms, fake ${b.fakeLoopDelayMaxMs} ms; ${b.firstTokens} first tokens, ${b.refreshes} refreshes ${late}`,
    );
  }
  scaleRows(out, registration);
  return out;
}

/** "cores busy 0: 93% (steal 1%), 1: 60% (steal 4%)": a timeline window's coreShares. */
function coresBusy(cores) {
  if (!cores) return 'cores busy: n/a';
  const each = Object.entries(cores).map(
    ([core, { busy, steal }]) => `${core}: ${Math.round(busy * 100)}% (steal ${Math.round(steal * 100)}%)`,
  );
  return `cores busy ${each.join(', ')}`;
}

function registrationFigures({ n, regSeconds, latencies, regCpuUse, regCoreBusy }) {
  return {
    seconds: round(regSeconds, 1),
    perSecond: Math.round(n / regSeconds),
    route: 'POST /v1/clients/batch',
    batchSize: P.batchSize,
    batchesInFlight: P.batchesInFlight,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    brokerCpuCores: round(regCpuUse.cores, 3),
    brokerCpuUsPerRegistration: round((regCpuUse.cpuSeconds * 1e6) / n, 1),
    coreBusy: regCoreBusy,
  };
}

/** Where the broker draws a refresh in a token's life: from half the lifetime (at most 600 s) before expiry. */
function refreshWindow() {
  const w = Math.min(600, P.expiresIn / 2);
  return {
    fromSecondsAfterIssue: P.expiresIn - w,
    toSecondsAfterIssue: P.expiresIn - w / 2,
    minTokenTtlSeconds: P.minTokenTtl,
  };
}

function scaleRows(out, { n, requested, overBudget }) {
  const c = out.cycles;
  const cutShort = c.cutShortByRunDeadline;
  const latenessMet = c.latenessSeconds.p99 !== null && c.latenessSeconds.p99 <= TARGETS.latenessP99Seconds;
  const fetched = out.firstTokens.clients;
  const afterRegistration = out.firstTokens.doneSecondsAfterRegistration;
  row(
    'scale',
    `register ${n} clients${overBudget ? ` (budget spent; ${requested} asked)` : ''}`,
    `${out.registration.perSecond}/s (${out.registration.seconds} s, batch p99 ${out.registration.p99Ms} ms)`,
    '',
    `batch route, ${P.batchSize} x ${P.batchesInFlight}`,
  );
  row(
    'scale',
    `first tokens: ${fetched} of ${n} fetched`,
    `${afterRegistration} s after the last registration`,
    `${n}`,
    'fake log',
  );
  row(
    'scale',
    `clients refreshed twice (${P.expiresIn} s tokens)`,
    `${c.clientsRefreshedTwice} / ${n}${cutShort ? ' (cut short: run time limit)' : ''}`,
    `${n}`,
    'fake log',
  );
  const rate = c.refreshRate;
  const rateMet = rate.allHeldPerSecond !== null && rate.allHeldPerSecond >= TARGETS.refreshesPerSecond;
  row(
    'scale',
    'refreshes/s the tokens need once all are held (cycle 1 / cycle 2; busiest 10 s)',
    `${rate.allHeldPerSecond}/s, every ${c.intervalSeconds.mean} s (${rate.cycles.map((cycle) => cycle.perSecond).join(' / ')} over ${rate.cycles.map((cycle) => cycle.spanSeconds).join(' / ')} s; ${rate.busiestTenSecondsPerSecond}/s)`,
    `>= ${TARGETS.refreshesPerSecond}/s ${rateMet ? 'MET' : 'MISSED'}`,
    'fake log',
  );
  row(
    'scale',
    'refresh lateness p50 / p99 / max',
    `${c.latenessSeconds.p50} / ${c.latenessSeconds.p99} / ${c.latenessSeconds.max} s`,
    `p99 <= ${TARGETS.latenessP99Seconds} s ${latenessMet ? 'MET' : 'MISSED'}`,
    'fake log - schedule',
  );
  row(
    'scale',
    'refresh lag (broker histogram) p50 / p99',
    `<= ${c.refreshLagHistogram.p50AtMostSeconds} / <= ${c.refreshLagHistogram.p99AtMostSeconds} s`,
    '',
    '/metrics',
  );
  row(
    'scale',
    'upstream requests per client per cycle',
    `${c.upstreamRequestsPerCycle} (${c.clientsWithMoreRequestsThanCycles} clients with more requests than tokens)`,
    `1 (0) ${c.upstreamRequestsPerCycle === 1 && c.clientsWithMoreRequestsThanCycles === 0 ? 'MET' : 'MISSED'}`,
    'fake log',
  );
  const reg = out.registration;
  row(
    'scale',
    'broker CPU during registration / per client',
    `${reg.brokerCpuCores} cores / ${reg.brokerCpuUsPerRegistration} us (cores busy: ${fmtBusy(reg.coreBusy)})`,
    '',
    '/proc stat',
  );
  row(
    'scale',
    'broker CPU during cycles / per refresh',
    `${c.brokerCpuCores} cores / ${c.brokerCpuUsPerRefresh} us (cores busy: ${fmtBusy(c.coreBusy)})`,
    '',
    '/proc stat',
  );
  row(
    'scale',
    'Redis memory per client',
    `${out.redis.bytesPerClient} B (${out.redis.bytesPerClientWithoutAudit} B without the audit stream)`,
    '',
    'INFO memory',
  );
  const rss = out.brokerMemory;
  const peak = Math.max(rss.afterRegistration.hwm, rss.peakRssDuringCycles, rss.end.hwm);
  row(
    'scale',
    'broker RSS after registration / peak in cycles / high-water mark',
    `${mib(rss.afterRegistration.rss)} / ${mib(rss.peakRssDuringCycles)} / ${mib(peak)} MiB (${Math.round(peak / n)} B per client)`,
    `<= ${mib(TARGETS.brokerRssBytes)} MiB ${peak <= TARGETS.brokerRssBytes ? 'MET' : 'MISSED'}`,
    '/proc status',
  );
}

module.exports = { scale };
