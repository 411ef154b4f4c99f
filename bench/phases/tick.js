'use strict';
const { clientKey, overShards, scheduleKey } = require('../lib/schedule-keys');
/**
 * The scheduler's tick cost, measured at ~1k clients and again after the scale
 * phase: broker and redis CPU per tick with nothing due, then with the same
 * number due at both sizes.
 */
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('../lib/procs');
const { P } = require('../lib/options');
const { row } = require('../lib/report');
const { log, round } = require('../lib/util');

/** Broker and Redis CPU over an idle period (no traffic, nothing due): the cost of the scheduler's ticks. */
async function idleTickCost(ctx, label) {
  const { broker, redis, redisServer } = ctx;
  await sleep(1_000);
  const now = Date.now();
  const dueSoon = await overShards(redis, 'ZCOUNT', '-inf', String(now + (P.idleSeconds + 5) * 1000));
  const registered = await overShards(redis, 'ZCARD');
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
  log(
    `idle (${label}): broker ${out.brokerCpuMsPerSecond} ms CPU/s, redis ${out.redisCpuMsPerSecond} ms CPU/s, ${dueSoon} due`,
  );
  out.withDue = await dueTickCost(ctx, label);
  return out;
}

/**
 * A tick with the same number of clients due at every size: each second the
 * harness makes P.duePerTick hot clients due now (ZADD XX on the broker's
 * schedule). Their hour-long tokens are far from their refresh window, so
 * each costs the broker a claim, a lock and read, and a reschedule, and no
 * upstream request (checked in the fake's count of token requests, the only
 * requests the bench's clients make upstream). Measured over P.tickRounds
 * windows of P.idleSeconds ticks, the median window reported: one window
 * swung by a third either way between runs (a major GC of what the phase
 * before left, or other work on the machine, landing in it or not).
 */
async function dueTickCost(ctx, label) {
  const { redis, fake, hot } = ctx;
  const ids = hot.clients.slice(0, P.duePerTick).map((client) => client.id);
  const upstreamBefore = await fake.tokenRequestCount();
  const redisOwnUsPerClient = await redisOwnCost(ctx, ids);
  const windows = [];
  for (let w = 0; w < P.tickRounds; w++) windows.push(await dueTickWindow(ctx, ids));
  const median = (key) => medianOf(windows.map((w) => w[key]));
  const stillDue = await overShards(redis, 'ZCOUNT', '-inf', String(Date.now()));
  const out = {
    duePerTick: ids.length,
    ticks: P.idleSeconds * P.tickRounds,
    brokerCpuMsPerTick: median('brokerCpuMsPerTick'),
    redisCpuMsPerTick: median('redisCpuMsPerTick'),
    redisOwnUsPerClient,
    windows,
    upstreamRequests: (await fake.tokenRequestCount()) - upstreamBefore,
    stillDueAfter: stillDue,
  };
  log(
    `due (${label}): ${ids.length} due per tick: broker ${out.brokerCpuMsPerTick} ms CPU per tick (windows: ${windows.map((w) => w.brokerCpuMsPerTick).join(', ')}), redis ${out.redisCpuMsPerTick} ms, ${out.upstreamRequests} upstream requests; redis's own ${redisOwnUsPerClient} us per client`,
  );
  return out;
}

const OWN_COST_ROUNDS = 5;
const OWN_COST_REPEATS = 50;

const medianOf = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Redis's own cost of like work on the same clients at this size, measured in the same run as the tick: for
 * each due client, commands of the kinds a tick's refresh of it sends, on its own keys: HGETALL of its hash,
 * ZSCORE in its shard, and a lock of the harness's own beside them (SET NX PX, DEL; the broker's entries are
 * left alone). Redis spends more on the same commands of the same keys in a larger keyspace: the baseline the
 * tick's Redis cost is read against. Microseconds of redis-server CPU per client, median of OWN_COST_ROUNDS.
 */
async function redisOwnCost(ctx, ids) {
  const { redis, redisServer } = ctx;
  const rounds = [];
  for (let round = 0; round < OWN_COST_ROUNDS; round++) {
    const meter = procs.cpuMeterPrecise(redisServer.process.pid);
    for (let repeat = 0; repeat < OWN_COST_REPEATS; repeat++) {
      await Promise.all(
        ids.map(async (id) => {
          const lock = `${clientKey(id)}:bench-lock`;
          await redis.call('SET', lock, '1', 'PX', '60000', 'NX');
          await Promise.all([redis.call('HGETALL', clientKey(id)), redis.call('ZSCORE', scheduleKey(id), id)]);
          await redis.call('DEL', lock);
        }),
      );
    }
    rounds.push((meter.stop().cpuSeconds * 1e6) / (ids.length * OWN_COST_REPEATS));
  }
  return round(medianOf(rounds), 2);
}

/** One window of P.idleSeconds ticks with `ids` made due each second: CPU per tick of the broker and redis. */
async function dueTickWindow(ctx, ids) {
  const { broker, redis, redisServer } = ctx;
  const brokerMeter = procs.cpuMeterPrecise(broker.child.pid);
  const redisMeter = procs.cpuMeterPrecise(redisServer.process.pid);
  for (let second = 0; second < P.idleSeconds; second++) {
    const now = String(Date.now());
    await Promise.all(ids.map((id) => redis.call('ZADD', scheduleKey(id), 'XX', now, id)));
    await sleep(1_000);
  }
  const b = brokerMeter.stop();
  const r = redisMeter.stop();
  return {
    brokerCpuMsPerTick: round((b.cpuSeconds * 1000) / P.idleSeconds, 2),
    redisCpuMsPerTick: round((r.cpuSeconds * 1000) / P.idleSeconds, 2),
  };
}

/** The larger size's broker and redis CPU per tick at most `factor` times the smaller's. */
function flatWithin(small, large, factor) {
  return (
    large.brokerCpuMsPerTick <= small.brokerCpuMsPerTick * factor &&
    large.redisCpuMsPerTick <= small.redisCpuMsPerTick * factor
  );
}

function tickSummary(small, large) {
  if (!small || !large) return null;
  const due = (m) =>
    `broker ${m.withDue.brokerCpuMsPerTick} ms, redis ${m.withDue.redisCpuMsPerTick} ms (${m.withDue.upstreamRequests} upstream requests)`;
  row(
    'scale',
    `tick CPU with ${small.withDue.duePerTick} due, at ${small.scheduled} clients`,
    due(small),
    '',
    '/proc stat',
  );
  row(
    'scale',
    `tick CPU with ${large.withDue.duePerTick} due, at ${large.scheduled} clients`,
    due(large),
    `same as above (within 20%) ${flatWithin(small.withDue, large.withDue, 1.2) ? 'MET' : 'MISSED'}`,
    '/proc stat',
  );
  const ratio = (key) => round(large.withDue[key] / small.withDue[key], 2);
  row(
    'scale',
    `redis's own CPU for like commands on the same ${small.withDue.duePerTick} clients (baseline of the row above)`,
    `${small.withDue.redisOwnUsPerClient} us per client at ${small.scheduled} clients, ${large.withDue.redisOwnUsPerClient} at ${large.scheduled} (${ratio('redisOwnUsPerClient')}x; the tick's redis ${ratio('redisCpuMsPerTick')}x)`,
    '',
    'HGETALL, ZSCORE, SET NX, DEL; /proc schedstat',
  );
  row(
    'scale',
    `idle CPU per 1 s tick at ${small.scheduled} clients (${small.dueDuringWindow} due)`,
    `broker ${small.brokerCpuMsPerTick} ms, redis ${small.redisCpuMsPerSecond} ms`,
    '',
    '/proc stat',
  );
  if (large.dueDuringWindow > 0) {
    // Refreshes were still running (the cycles were cut short): that is not an idle tick.
    row(
      'scale',
      `idle CPU per 1 s tick at ${large.scheduled} clients`,
      `not measured: ${large.dueDuringWindow} still due (refreshes running)`,
      'flat',
      '/proc stat',
    );
  } else {
    row(
      'scale',
      `idle CPU per 1 s tick at ${large.scheduled} clients (${large.dueDuringWindow} due)`,
      `broker ${large.brokerCpuMsPerTick} ms, redis ${large.redisCpuMsPerSecond} ms`,
      'flat',
      '/proc stat',
    );
  }
  return { small, large };
}

module.exports = { idleTickCost, tickSummary };
