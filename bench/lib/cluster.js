'use strict';
/**
 * The cluster phase's deployment: a Redis Cluster (test/support/redis-topologies.ts),
 * its own fake upstream, and broker replicas on REDIS_CLUSTER_NODES; and what is
 * read from the masters (keys, schedule entries, command counts) between two snapshots.
 */
const http = require('node:http');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const procs = require('./procs');
require('./ts-require').register();
const { FakePipedream } = require('../../test/support/fake-pipedream.ts');
const { freePort } = require('../../test/support/redis-server.ts');
const { startRedisCluster, topologyEnv } = require('../../test/support/redis-topologies.ts');
const { BROKER_CORE, LOAD_CORE, RESULTS_DIR } = require('./options');
const { startBroker, brokerEnv } = require('./broker');
const { httpRequest } = require('./http');
const { redisClient, redisInfo } = require('./redis');
const { scheduleShards } = require('./schedule-keys');
const { stamp } = require('./report');

/**
 * `masters` masters with one replica each, and `replicas` brokers on them.
 * The brokers start on both cores alike, so that none is favoured while they
 * share the refreshes; placeForHotPath() pins them for the hot path.
 */
async function startClusterDeployment({ mainJs, masters, replicas }) {
  // Stopped at the end of the phase (stop()), or by the run's cleanups on a failure or Ctrl-C.
  const undo = [];
  const later = (fn) => {
    const unregister = procs.onCleanup(fn);
    undo.push(async () => {
      unregister();
      await fn();
    });
  };
  const stop = async () => {
    while (undo.length > 0) await undo.pop()();
  };
  const cluster = await startRedisCluster({ masters, replicas: 1 });
  later(() => cluster.stop());
  for (const node of cluster.nodes) procs.pinPid(node.process.pid, LOAD_CORE);
  const fake = await FakePipedream.start();
  later(() => fake.stop());

  const adminKey = `adm_bench_${randomBytes(18).toString('base64url')}`;
  const encryptionKeys = `k1:${randomBytes(32).toString('base64')}`;
  // One after another: three processes starting at once on a busy machine can miss the 20 s readiness bound.
  const brokers = [];
  for (let index = 0; index < replicas; index++) {
    const port = await freePort();
    const broker = await startBroker({
      mainJs,
      port,
      core: procs.pinning ? `${BROKER_CORE},${LOAD_CORE}` : null,
      logFile: path.join(RESULTS_DIR, `broker-cluster-${index + 1}-${stamp}.log`),
      env: brokerEnv({ store: topologyEnv(cluster), port, adminKey, encryptionKeys, fake }),
    });
    undo.push(() => broker.stop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
    later(() => agent.destroy());
    const api = (method, urlPath, options = {}) =>
      httpRequest(agent, port, method, urlPath, {
        ...options,
        headers: { authorization: `Bearer ${options.key ?? adminKey}`, ...(options.headers ?? {}) },
      });
    brokers.push({ broker, port, agent, api, adminKey, fake });
  }
  const masterNodes = await clusterMasters(cluster.nodes[0].port, later);
  return { cluster, fake, brokers, masters: masterNodes, stop };
}

/**
 * The first broker alone on the broker core, as the one-Redis broker of the hot
 * phase; the others with Redis, the harness and the load generator.
 */
function placeForHotPath(brokers) {
  brokers.forEach(({ broker }, index) => procs.pinPid(broker.child.pid, index === 0 ? BROKER_CORE : LOAD_CORE));
}

/** The masters now: port, slot ranges and a RESP connection each (closed by the cleanups). */
async function clusterMasters(seedPort, later) {
  const seed = redisClient(seedPort);
  const slots = await seed.call('CLUSTER', 'SLOTS');
  const shardSlots = await Promise.all(scheduleShards.map((key) => seed.call('CLUSTER', 'KEYSLOT', key)));
  seed.close();
  const byPort = new Map();
  for (const [start, end, [, port]] of slots) {
    if (!byPort.has(port)) byPort.set(port, { port, ranges: [], slots: 0 });
    const master = byPort.get(port);
    master.ranges.push([start, end]);
    master.slots += end - start + 1;
  }
  const masters = [...byPort.values()].sort((a, b) => a.ranges[0][0] - b.ranges[0][0]);
  for (const master of masters) {
    const owns = (slot) => master.ranges.some(([start, end]) => slot >= start && slot <= end);
    master.shardKeys = scheduleShards.filter((_, shard) => owns(shardSlots[shard]));
    master.owns = owns;
    master.redis = redisClient(master.port);
    later(() => master.redis.close());
  }
  return masters;
}

/** Per master: keys (DBSIZE), schedule entries (ZCARD of its shards), and calls per command (INFO commandstats). */
async function snapshotMasters(masters) {
  return Promise.all(
    masters.map(async ({ redis, shardKeys }) => {
      const cards = await Promise.all(shardKeys.map((key) => redis.call('ZCARD', key)));
      const stats = await redisInfo(redis, 'commandstats');
      const calls = {};
      for (const [name, value] of Object.entries(stats)) {
        const match = /^cmdstat_(.+)$/.exec(name);
        if (match) calls[match[1]] = Number(/calls=(\d+)/.exec(value)[1]);
      }
      return {
        keys: Number(await redis.call('DBSIZE')),
        scheduled: cards.reduce((sum, n) => sum + Number(n), 0),
        calls,
      };
    }),
  );
}

/** Calls of `command` between two snapshots of one master. */
const callsDelta = (before, after, command) => (after.calls[command] ?? 0) - (before.calls[command] ?? 0);

/** Each value's share of the total, and the largest share over the mean share (1 is perfectly even). */
function spread(values) {
  const total = values.reduce((sum, v) => sum + v, 0);
  const shares = values.map((v) => (total > 0 ? v / total : 0));
  const mean = 1 / values.length;
  return { values, total, shares, maxOverMean: total > 0 ? Math.max(...shares) / mean : null };
}

module.exports = { startClusterDeployment, placeForHotPath, snapshotMasters, callsDelta, spread };
