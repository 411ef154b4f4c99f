'use strict';
/**
 * Redis bytes per client, without the broker or the upstream: N clients shaped
 * like the scale phase's (1,000 workspaces, an OAuth client with a sealed
 * secret, inserted pending, then ready with a sealed token) are written
 * through the compiled RedisStore (`dist/`) into a private redis-server, and
 * the used_memory delta per client is printed with a per-key breakdown of
 * one client. Usage: node bench/redis-bytes.js [clients, default 20000] [--dist <dir>]
 */
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { redisClient } = require('./lib/redis');
require('./lib/ts-require').register();
const { startRedisServer } = require('../test/support/redis-server.ts');

const args = process.argv.slice(2);
const distAt = args.indexOf('--dist');
const DIST = path.resolve(__dirname, '..', distAt >= 0 ? args[distAt + 1] : 'dist');
const N = Number(args.find((arg, index) => /^\d+$/.test(arg) && args[index - 1] !== '--dist') ?? 20_000);
const BATCH = 500;
const WRITES_IN_FLIGHT = 50;

const b64 = (bytes) => randomBytes(bytes).toString('base64url');
/** A SecretBox value's shape: version, key id, IV, tag, ciphertext. */
const sealed = (bytes) => `v1.k1.${b64(12)}.${b64(16)}.${b64(bytes)}`;
const iso = (ms) => new Date(ms).toISOString();
const pad = (n, width) => String(n).padStart(width, '0');

function status(state, now) {
  const ready = state === 'ready';
  return {
    state,
    tokenExpiresAt: ready ? iso(now + 120_000) : null,
    lastRefreshAt: ready ? iso(now) : null,
    lastError: null,
    failingSince: null,
    consecutiveFailures: 0,
    nextAttemptAt: null,
    lastForcedRefreshAt: null,
  };
}

/** What POST /v1/clients stores for the scale phase's i-th client. */
function registered(i) {
  const now = Date.now();
  return {
    client: {
      id: `cl_${randomBytes(12).toString('hex')}`,
      workspaceId: `ws_sc_${pad(i % 1000, 4)}`,
      name: `scale ${i}`,
      type: 'oauth_client_credentials',
      clientId: `sc_${pad(i, 6)}`,
      tokenUrl: 'http://127.0.0.1:42057/v1/oauth/token',
      scope: null,
      tokenRequestFormat: 'json',
      tokenEndpointAuthMethod: 'client_secret_post',
      extraParams: {},
      secretHint: 'VQKK',
      keyId: null,
      signingAlg: null,
      certificateExpiresAt: null,
      sealedSecret: sealed(23),
      sealedPrivateKey: null,
      sealedCertificate: null,
      generation: 1,
      createdAt: iso(now),
      updatedAt: iso(now),
    },
    status: status('pending', now),
    token: null,
  };
}

async function writeClients(store) {
  const ids = [];
  for (let from = 0; from < N; from += BATCH) {
    const batch = [];
    for (let i = from; i < Math.min(N, from + BATCH); i++) batch.push(registered(i));
    await store.insertClients(batch, Date.now() + 3_600_000);
    for (let at = 0; at < batch.length; at += WRITES_IN_FLIGHT) {
      const writes = batch.slice(at, at + WRITES_IN_FLIGHT).map(({ client }) => {
        const now = Date.now();
        ids.push(client.id);
        // The fake's tokens seal to about the scale phase's length.
        const token = { sealedAccessToken: sealed(40), expiresAt: now + 120_000, obtainedAt: now, generation: 1 };
        return store.updateClient(client.id, 1, { status: status('ready', now), token });
      });
      await Promise.all(writes);
    }
  }
  return ids;
}

async function breakdown(redis, id, workspaceId) {
  const shards = (await redis.call('KEYS', 'tb:*schedule')).sort();
  const counted = (await redis.call('KEYS', 'tb:*:counted')).sort();
  const keys = [
    `tb:{c:${id}}`,
    'tb:clients',
    `tb:{ws:${workspaceId}}:clients`,
    `tb:{ws:${workspaceId}}:client-ids`,
    counted[0],
    shards[0],
  ];
  for (const key of keys) {
    const type = await redis.call('TYPE', key);
    const count =
      type === 'hash' ? await redis.call('HLEN', key) : type === 'zset' ? await redis.call('ZCARD', key) : 1;
    const bytes = await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const encoding = await redis.call('OBJECT', 'ENCODING', key);
    const perEntry = Math.round(bytes / count);
    console.log(
      `${key.padEnd(46)} ${type.padEnd(5)} ${encoding.padEnd(9)} ${String(count).padStart(7)} entries ${String(bytes).padStart(9)} B ${String(perEntry).padStart(5)} B/entry`,
    );
  }
}

async function main() {
  const { RedisStore } = require(path.join(DIST, 'store', 'redis.store.js'));
  const server = await startRedisServer();
  const redis = redisClient(server.port);
  let store;
  try {
    store = await RedisStore.connect({ url: server.url, keyPrefix: 'tb:' });
    await store.tokenStats(0);
    const used = async () => Number(/used_memory:(\d+)/.exec(await redis.call('INFO', 'memory'))[1]);
    const before = await used();
    const ids = await writeClients(store);
    const delta = (await used()) - before;
    console.log(`${N} clients (${DIST}): used_memory +${delta} B, ${Math.round(delta / N)} B per client`);
    const sample = ids[Math.floor(ids.length / 2)];
    await breakdown(redis, sample, (await store.getClient(sample)).client.workspaceId);
  } finally {
    await store?.close();
    redis.close();
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
