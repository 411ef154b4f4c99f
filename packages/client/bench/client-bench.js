'use strict';
/*
 * npm run bench:client [-- --quick]
 *
 * Measures the built package (dist/cjs; `npm run bench:client` builds it and the broker first):
 *   1. a cached getToken: ns per call, calls per second, bytes allocated per call in steady state;
 *   2. broker requests per process per token lifetime with 1,000 concurrent callers, against
 *      the compiled broker (memory store) and the fake upstream, with short-lived tokens.
 * Run with --expose-gc (the npm script does) for the allocation figure. Traffic stays on 127.0.0.1.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
require('../../../bench/lib/ts-require').register();
const { FakePipedream } = require('../../../test/support/fake-pipedream.ts');
const { freePort } = require('../../../test/support/redis-server.ts');
const { TokenBrokerClient } = require('../dist/cjs/index.js');

const QUICK = process.argv.includes('--quick');
const ROOT = path.join(__dirname, '..', '..', '..');
const ADMIN_KEY = 'adm_client_bench_admin_key_0123456789';

async function cachedGetToken() {
  const answer = () =>
    Response.json({ access_token: 'bench_token', token_type: 'Bearer', expires_in: 3_600, expires_at: null });
  const client = new TokenBrokerClient({ baseUrl: 'http://127.0.0.1:9', serviceKey: 'k', fetch: async () => answer() });
  await client.getToken('c1');
  const calls = QUICK ? 2_000_000 : 20_000_000;
  for (let i = 0; i < calls / 10; i += 1) client.getToken('c1');
  const rounds = [];
  for (let round = 0; round < 3; round += 1) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) client.getToken('c1');
    rounds.push(Number(process.hrtime.bigint() - started) / calls);
  }
  const nsPerCall = rounds.sort((a, b) => a - b)[1];
  // Heap growth over many calls, less that of a loop calling Date.now() alone (the measurement's own noise).
  const allocationCalls = QUICK ? 5_000_000 : 20_000_000;
  const getTokenBytes = allocationPerCall(() => client.getToken('c1'), allocationCalls);
  const baselineBytes = allocationPerCall(() => Date.now(), allocationCalls);
  const bytesPerCall = getTokenBytes === null ? null : Math.max(0, getTokenBytes - baselineBytes);
  const awaited = await awaitedCost(client);
  client.close();
  return { nsPerCall, opsPerSecond: 1e9 / nsPerCall, bytesPerCall, awaitedNsPerCall: awaited };
}

/** Heap growth per call over `calls` calls after a GC: about 0 when the call allocates nothing. */
function allocationPerCall(call, calls) {
  if (typeof global.gc !== 'function') return null;
  global.gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i += 1) call();
  const grown = process.memoryUsage().heapUsed - before;
  global.gc();
  return Math.max(0, grown) / calls;
}

/** The same call awaited, as callers write it: the await's own microtask included. */
async function awaitedCost(client) {
  const calls = QUICK ? 200_000 : 2_000_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i += 1) await client.getToken('c1');
  return Number(process.hrtime.bigint() - started) / calls;
}

async function requestsPerLifetime() {
  const expiresIn = 20;
  const lifetimes = QUICK ? 2 : 3;
  const upstream = await FakePipedream.start();
  const port = await freePort();
  const broker = spawn(process.execPath, [path.join(ROOT, 'dist', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
      MIN_TOKEN_TTL_SECONDS: '2',
      REFRESH_BEFORE_SECONDS: '14',
      SCHEDULER_TICK_MS: '100',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilUp(url);
    const admin = (method, route, body) =>
      fetch(`${url}${route}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((response) => response.json());
    upstream.addClient('bench-client', 'bench-secret-0123456789', { expiresIn });
    const { id } = await admin('POST', '/v1/clients', {
      workspaceId: 'o_bench',
      name: 'bench',
      type: 'oauth_client_credentials',
      clientId: 'bench-client',
      clientSecret: 'bench-secret-0123456789',
    });
    const { key } = await admin('POST', '/v1/service-keys', { name: 'bench', workspaces: ['o_bench'] });
    const client = new TokenBrokerClient({ baseUrl: url, serviceKey: key, minTtlSeconds: 2 });
    const tokens = new Set();
    let calls = 0;
    const until = Date.now() + lifetimes * expiresIn * 1_000;
    const caller = async () => {
      while (Date.now() < until) {
        tokens.add(await client.getToken(id));
        calls += 1;
        await sleep(5);
      }
    };
    await Promise.all(Array.from({ length: 1_000 }, caller));
    const requests = client.stats().brokerRequests;
    client.close();
    return {
      callers: 1_000,
      seconds: lifetimes * expiresIn,
      tokenLifetimeSeconds: expiresIn,
      calls,
      tokens: tokens.size,
      brokerRequests: requests,
      requestsPerToken: requests / tokens.size,
    };
  } finally {
    broker.kill('SIGKILL');
    await upstream.stop();
  }
}

async function waitUntilUp(url) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health/live`)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error('the broker did not start');
    await sleep(50);
  }
}

async function main() {
  const cached = await cachedGetToken();
  process.stdout.write(
    `cached getToken: ${cached.nsPerCall.toFixed(1)} ns/call (${(cached.opsPerSecond / 1e6).toFixed(1)} M ops/s), ` +
      `${cached.bytesPerCall === null ? 'allocation not measured (run with --expose-gc)' : `${cached.bytesPerCall.toFixed(3)} bytes/call`}; ` +
      `awaited: ${cached.awaitedNsPerCall.toFixed(1)} ns/call\n`,
  );
  const lifetime = await requestsPerLifetime();
  process.stdout.write(
    `broker requests: ${lifetime.brokerRequests} for ${lifetime.tokens} tokens (${lifetime.requestsPerToken.toFixed(2)} per token lifetime), ` +
      `${lifetime.callers} concurrent callers, ${lifetime.calls} calls in ${lifetime.seconds} s of ${lifetime.tokenLifetimeSeconds}-s tokens\n`,
  );
  process.stdout.write(`${JSON.stringify({ cached, lifetime })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
