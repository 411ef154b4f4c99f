'use strict';
const { scheduleKey } = require('../lib/schedule-keys');
/**
 * Phase 3b, refresh cycles at scale: the fake gives the scale clients short
 * tokens, then hour-long ones from each client's third token, so after two
 * refresh cycles the broker goes idle. Measured: refresh lateness (the time the
 * fake issued a token minus the time the broker had scheduled it), the broker's
 * refresh lag histogram, upstream requests per client per cycle, broker CPU.
 */
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('../lib/procs');
const { P, CYCLES_DEADLINE_MS, RUN_START } = require('../lib/options');
const { histogram, histogramQuantile } = require('../lib/metrics');
const { loopDelayProbe } = require('../lib/loop-delay');
const { log, percentile, round } = require('../lib/util');

/**
 * Follows the tokens the fake issues (its onIssued listener; per client: the
 * times it issued one) and reads, after each of the first two, the due time
 * the broker scheduled. Polls every 500 ms until stop(), sampling the
 * harness's own event-loop delay as it goes.
 */
function createTracker(ctx) {
  const { fake, redis } = ctx;
  // Clients holding at least 1, 2 and 3 tokens (index 0 unused), kept as tokens come:
  // they are read every poll, and counting them there loops over up to a million clients.
  const holdingAtLeast = [0, 0, 0, 0];
  const tracker = {
    // Per fake client id: the times the fake issued it a token.
    issuedAt: new Map(),
    brokerIdOf: new Map(),
    // Per fake client id: the due time the broker scheduled after each of its tokens (index k: after token k).
    dueAfter: new Map(),
    pendingDue: [],
    switched: 0,
    unreadDues: 0,
    /** Clients holding at least `count` tokens, count 1 to 3. */
    holding: (count) => {
      if (!(count >= 1 && count <= 3)) throw new Error(`holding(${count}): counted for 1 to 3 tokens only`);
      return holdingAtLeast[count];
    },
  };
  const { issuedAt, dueAfter, pendingDue, brokerIdOf } = tracker;
  const windowStartMs = (P.expiresIn - Math.min(600, P.expiresIn / 2)) * 1000;
  const windowEndMs = (P.expiresIn - Math.min(600, P.expiresIn / 2) / 2) * 1000;
  // Called as the fake issues each token, inside its request handler: kept short.
  const unsubscribe = fake.onIssued((clientId, at) => {
    const list = issuedAt.get(clientId);
    if (!list) return;
    list.push(at);
    if (list.length <= 3) holdingAtLeast[list.length] += 1;
    // The due time the broker writes after this token: read below, once it has landed.
    if (list.length <= 2) pendingDue.push({ clientId, k: list.length - 1, at, tries: 0 });
    // After the second token (the first refresh) the fake hands out hour-long tokens (its rule for the
    // scale clients, run.js), so the third (the second refresh) ends the cycles and leaves the broker idle.
    if (list.length === 2) tracker.switched++;
  });
  // Scheduled times, from the broker's schedule (a sorted set): after a token lands the
  // broker stores the client's next due time, drawn in [window start, window end] after
  // it was asked for. A claim lease (claim time + 20 s) can sit there for a moment
  // before that write, so a score outside the window is read again on the next poll.
  let polling = false;
  tracker.pollDues = async () => {
    if (polling) return;
    polling = true;
    try {
      const now = Date.now();
      const ready = [];
      for (let i = pendingDue.length - 1; i >= 0; i--) {
        if (now - pendingDue[i].at >= 300) ready.push(pendingDue.splice(i, 1)[0]);
      }
      const scores = await Promise.all(
        ready.map((p) =>
          redis.call('ZSCORE', scheduleKey(brokerIdOf.get(p.clientId) ?? ''), brokerIdOf.get(p.clientId) ?? ''),
        ),
      );
      ready.forEach((p, i) => {
        const score = scores[i] === null ? NaN : Number(scores[i]);
        if (score >= p.at + windowStartMs - 2_000 && score <= p.at + windowEndMs + 1_000) {
          const dues = dueAfter.get(p.clientId) ?? [];
          dues[p.k] = score;
          dueAfter.set(p.clientId, dues);
        } else if (++p.tries < 20) {
          pendingDue.push(p);
        } else {
          tracker.unreadDues++;
        }
      });
    } finally {
      polling = false;
    }
  };
  // The broker's CPU seconds, and each core's ticks (busy, stolen), over time, for the timeline (latenessTimeline).
  tracker.cpuSamples = [];
  tracker.coreSamples = [];
  // The harness's own event-loop delay, its largest per poll ([time, ms]), for the timeline: a pause
  // here (a major GC, say) delays what the harness reads, and held up the fake when it ran in this thread.
  tracker.loopDelaySamples = [];
  const probe = loopDelayProbe();
  const timer = setInterval(() => {
    const now = Date.now();
    if (ctx.broker) tracker.cpuSamples.push([now, procs.cpuSeconds(ctx.broker.child.pid)]);
    tracker.coreSamples.push([now, procs.coreTicks()]);
    tracker.loopDelaySamples.push([now, probe.takeMax()]);
    tracker.pollDues().catch((error) => log(`schedule poll failed: ${error.message}`));
  }, 500);
  tracker.stop = () => {
    clearInterval(timer);
    probe.stop();
    unsubscribe();
  };
  procs.onCleanup(tracker.stop);
  return tracker;
}

/** Waits until each of the n registered clients holds its first token (or the deadline passes). */
async function awaitFirstTokens(tracker, n) {
  const firstDeadline = Math.min(Date.now() + 120_000 + n * 2, RUN_START + CYCLES_DEADLINE_MS);
  while (tracker.holding(1) < n) {
    if (Date.now() > firstDeadline) {
      log(`scale: deadline passed with ${tracker.holding(1)} of ${n} clients holding a first token`);
      break;
    }
    await sleep(200);
  }
  const firstTokensDoneAt = Date.now();
  const firstTimes = [...tracker.issuedAt.values()].filter((l) => l.length > 0).map((l) => l[0]);
  const withFirstToken = firstTimes.length;
  const firstSpanSeconds = (maximum(firstTimes) - minimum(firstTimes)) / 1000;
  return { firstTokensDoneAt, firstTimes, withFirstToken, firstSpanSeconds };
}

/** Two refresh cycles: waits for every client's third token, with the broker's CPU and peak RSS meanwhile. */
async function awaitTwoCycles(ctx, tracker, n, firstTimes) {
  const pid = ctx.broker.child.pid;
  const cycleCpu = procs.cpuMeter(pid);
  const cycleCores = procs.coreMeter();
  const cycleDeadline = Math.min(
    maximum(firstTimes) + 2 * P.expiresIn * 1000 + P.cycleTimeoutSeconds * 1000,
    RUN_START + CYCLES_DEADLINE_MS,
  );
  let peakRss = 0;
  let cutShort = false;
  let progressAt = Date.now();
  while (tracker.holding(3) < n) {
    if (Date.now() > cycleDeadline) {
      cutShort = true;
      log(`scale: cycle deadline passed with ${tracker.holding(3)} of ${n} clients refreshed twice`);
      break;
    }
    await sleep(500);
    peakRss = Math.max(peakRss, procs.memory(pid).rss);
    if (Date.now() - progressAt > 15_000) {
      progressAt = Date.now();
      log(`scale: ${tracker.holding(3)} of ${n} refreshed twice`);
    }
  }
  // Let refreshes in flight land, then stop watching.
  await sleep(1_000);
  await ctx.fake.flush();
  for (let i = 0; i < 10 && tracker.pendingDue.length > 0; i++) {
    await tracker.pollDues();
    await sleep(300);
  }
  tracker.stop();
  const cycleCpuUse = cycleCpu.stop();
  const cycleCoreBusy = cycleCores.stop();
  return { cycleCpuUse, cycleCoreBusy, peakRss, cutShort };
}

// Math.max(...list) overflows the stack past ~100,000 arguments: a million clients need a loop.
const maximum = (list) => list.reduce((most, value) => (value > most ? value : most), -Infinity);
const minimum = (list) => list.reduce((least, value) => (value < least ? value : least), Infinity);

/**
 * The refresh rate the tokens need once every client holds one: the clients
 * over the mean measured time between a client's tokens (each refreshes once
 * in that time). Also the rate each cycle needed: cycle k is every client's
 * k-th refresh (its token k + 1), and its span runs from the 0.5th to the
 * 99.5th percentile of their issue times (a straggler does not stretch it);
 * first fetches spread over a longer span spread the cycles with them, so
 * these fall below the rate held tokens need. And the busiest 10 s of
 * refreshes of both cycles.
 */
function refreshRates(tracker, meanIntervalSeconds) {
  const cycles = [1, 2].map((k) => {
    const times = [];
    for (const list of tracker.issuedAt.values()) if (list.length > k) times.push(list[k]);
    times.sort((a, b) => a - b);
    const spanSeconds = (percentile(times, 99.5) - percentile(times, 0.5)) / 1000;
    return {
      refreshes: times.length,
      spanSeconds: round(spanSeconds, 1),
      perSecond: spanSeconds > 0 ? Math.round((times.length * 0.99) / spanSeconds) : null,
    };
  });
  const perTenSeconds = new Map();
  for (const list of tracker.issuedAt.values()) {
    for (const at of list.slice(1, 3)) {
      const bucket = Math.floor(at / 10_000);
      perTenSeconds.set(bucket, (perTenSeconds.get(bucket) ?? 0) + 1);
    }
  }
  const busiest = maximum([...perTenSeconds.values(), 0]);
  const rates = cycles.map((cycle) => cycle.perSecond).filter((rate) => rate !== null);
  return {
    allHeldPerSecond: meanIntervalSeconds > 0 ? Math.round(tracker.issuedAt.size / meanIntervalSeconds) : null,
    cycles,
    busiestTenSecondsPerSecond: busiest / 10,
    leastCyclePerSecond: rates.length ? Math.min(...rates) : null,
  };
}

/** Lateness: each refresh's issue time at the fake minus its scheduled time in the broker. */
function lateness(tracker) {
  const late = [];
  const intervals = [];
  let unmatched = 0;
  let early = 0;
  for (const [clientId, times] of tracker.issuedAt) {
    const dues = tracker.dueAfter.get(clientId) ?? [];
    for (let k = 1; k < times.length && k <= 2; k++) {
      intervals.push((times[k] - times[k - 1]) / 1000);
      const due = dues[k - 1];
      if (due === undefined) {
        unmatched++;
        continue;
      }
      const seconds = (times[k] - due) / 1000;
      if (seconds < -0.05) early++;
      late.push(seconds);
    }
  }
  late.sort((a, b) => a - b);
  intervals.sort((a, b) => a - b);
  return { late, intervals, unmatched, early };
}

/**
 * Lateness over time, to tell when refreshes fell behind: per 30 s of issue
 * time (from the first first token), the first tokens and refreshes the fake
 * issued in it, the lateness of those refreshes (p99, max, over 1 s), the
 * broker's CPU, and the largest event-loop delays of the harness and of the
 * fake's thread (pauses of the bench, not the broker).
 */
function latenessTimeline(ctx, tracker, bucketMs = 30_000) {
  const buckets = new Map();
  const bucketOf = (at) => {
    const key = Math.floor(at / bucketMs);
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = { firstTokens: 0, late: [] }));
    return bucket;
  };
  for (const [clientId, times] of tracker.issuedAt) {
    if (times.length > 0) bucketOf(times[0]).firstTokens++;
    const dues = tracker.dueAfter.get(clientId) ?? [];
    for (let k = 1; k < times.length && k <= 2; k++) {
      if (dues[k - 1] !== undefined) bucketOf(times[k]).late.push((times[k] - dues[k - 1]) / 1000);
    }
  }
  const keys = [...buckets.keys()].sort((a, b) => a - b);
  const samples = tracker.cpuSamples;
  const brokerCores = (from, to) => {
    const start = samples.find(([at]) => at >= from);
    const end = samples.findLast(([at]) => at <= to);
    return start && end && end[0] > start[0] ? round((end[1] - start[1]) / ((end[0] - start[0]) / 1000), 2) : null;
  };
  // Per core, the share of its ticks busy and stolen by the hypervisor (a steal is CPU the bench's own work lost).
  const coreShares = (from, to) => {
    const start = tracker.coreSamples.find(([at]) => at >= from);
    const end = tracker.coreSamples.findLast(([at]) => at <= to);
    if (!start || !end || end[0] <= start[0]) return null;
    const shares = {};
    for (const core of Object.keys(end[1])) {
      const total = end[1][core].total - start[1][core].total;
      const share = (ticks) => (total > 0 ? round(ticks / total, 2) : 0);
      shares[core] = {
        busy: share(total - (end[1][core].idle - start[1][core].idle)),
        steal: share(end[1][core].steal - start[1][core].steal),
      };
    }
    return shares;
  };
  // Each sample is the largest delay of the 500 ms before its time: the harness's, and the fake's thread's.
  const loopDelayMax = (samples, from, to) => {
    const delays = samples.filter(([at]) => at >= from && at < to).map(([, ms]) => ms);
    return delays.length ? round(maximum(delays), 1) : null;
  };
  const fakeSamples = ctx.fake.loopDelaySamples ?? [];
  return keys.map((key) => {
    const { firstTokens, late } = buckets.get(key);
    late.sort((a, b) => a - b);
    return {
      fromSeconds: (key - keys[0]) * (bucketMs / 1000),
      brokerCores: brokerCores(key * bucketMs, (key + 1) * bucketMs),
      cores: coreShares(key * bucketMs, (key + 1) * bucketMs),
      firstTokens,
      refreshes: late.length,
      p99: late.length ? round(percentile(late, 99), 3) : null,
      max: late.length ? round(late.at(-1), 3) : null,
      over1s: late.filter((l) => l > 1).length,
      harnessLoopDelayMaxMs: loopDelayMax(tracker.loopDelaySamples, key * bucketMs, (key + 1) * bucketMs),
      fakeLoopDelayMaxMs: loopDelayMax(fakeSamples, key * bucketMs, (key + 1) * bucketMs),
    };
  });
}

/** The cycles' figures: tokens and upstream requests per client, lateness, lag histogram, CPU. */
async function summarizeCycles(ctx, tracker, cycles, metricsBefore, metricsAfter) {
  const { issuedAt } = tracker;
  const { late, intervals, unmatched, early } = lateness(tracker);
  const counts = [...issuedAt.values()].map((l) => l.length);
  // The fake's count of token requests per client (its light log keeps no request log).
  const requestsOf = await ctx.fake.tokenRequestCounts();
  const reqCounts = [...issuedAt.keys()].map((id) => requestsOf.get(id) ?? 0);
  const lagBefore = histogram(metricsBefore, 'tb_refresh_lag_seconds');
  const lagAfter = histogram(metricsAfter, 'tb_refresh_lag_seconds');
  const refreshes = counts.reduce((sum, c) => sum + Math.max(0, Math.min(c, 3) - 1), 0);
  const { cycleCpuUse } = cycles;
  const meanInterval = intervals.length ? intervals.reduce((sum, seconds) => sum + seconds, 0) / intervals.length : 0;
  return {
    clientsRefreshedTwice: tracker.holding(3),
    cutShortByRunDeadline: cycles.cutShort,
    switchedToHourTokens: tracker.switched,
    tokensPerClient: { min: minimum(counts), max: maximum(counts) },
    upstreamRequestsPerClient: {
      min: minimum(reqCounts),
      max: maximum(reqCounts),
      total: reqCounts.reduce((a, b) => a + b, 0),
    },
    // Every upstream request should have produced the token of one cycle: requests / tokens issued = 1.
    upstreamRequestsPerCycle: round(reqCounts.reduce((a, b) => a + b, 0) / counts.reduce((a, b) => a + b, 0), 4),
    clientsWithMoreRequestsThanCycles: [...issuedAt.keys()].filter((id, i) => reqCounts[i] > issuedAt.get(id).length)
      .length,
    latenessSeconds: {
      matched: late.length,
      unmatched,
      unreadDues: tracker.unreadDues,
      early,
      p50: round(percentile(late, 50), 3),
      p99: round(percentile(late, 99), 3),
      max: round(late.at(-1), 3),
      over1s: late.filter((l) => l > 1).length,
    },
    latenessTimeline: latenessTimeline(ctx, tracker),
    intervalSeconds: {
      min: round(intervals[0], 2),
      p50: round(percentile(intervals, 50), 2),
      mean: round(meanInterval, 2),
      max: round(intervals.at(-1), 2),
    },
    refreshLagHistogram: {
      observations: lagAfter.count - lagBefore.count,
      p50AtMostSeconds: histogramQuantile(lagBefore, lagAfter, 0.5),
      p99AtMostSeconds: histogramQuantile(lagBefore, lagAfter, 0.99),
      meanSeconds:
        lagAfter.count > lagBefore.count
          ? round((lagAfter.sum - lagBefore.sum) / (lagAfter.count - lagBefore.count), 3)
          : null,
    },
    refreshRate: refreshRates(tracker, meanInterval),
    brokerCpuCores: round(cycleCpuUse.cores, 3),
    brokerCpuUsPerRefresh: refreshes > 0 ? round((cycleCpuUse.cpuSeconds * 1e6) / refreshes, 1) : null,
    wallSeconds: round(cycleCpuUse.wallSeconds, 1),
    coreBusy: cycles.cycleCoreBusy,
  };
}

module.exports = { createTracker, awaitFirstTokens, awaitTwoCycles, summarizeCycles };
