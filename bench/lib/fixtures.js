'use strict';
/** Fixtures: registering clients, and the hot-path clients and service keys the phases share. */
const fs = require('node:fs');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');
const procs = require('./procs');
const { RESULTS_DIR, P } = require('./options');
const { stamp } = require('./report');
const { log, range, pad, pool, expectStatus } = require('./util');

async function registerClient(ctx, workspaceId, clientId, options = {}) {
  const secret = `secret_${randomBytes(12).toString('base64url')}`;
  ctx.fake.addClient(clientId, secret, options.fake ?? {});
  const response = await ctx.api('POST', '/v1/clients', {
    body: { workspaceId, name: `bench ${clientId}`, type: 'oauth_client_credentials', clientId, clientSecret: secret },
  });
  expectStatus(response, 201, `register ${clientId}`);
  return { id: response.json.id, workspaceId, clientId, secret };
}

/** The hot-path clients and service keys on ctx's broker; `label` tells apart the request files of two setups. */
async function setupHotClients(ctx, label = '') {
  const t0 = Date.now();
  const workspaces = range(P.hotWorkspaces).map((w) => `ws_hot_${pad(w, 3)}`);
  // Each service key may fetch for two of ten workspace shares, so every client is reachable by two keys.
  const keys = [];
  for (const k of range(P.serviceKeys)) {
    const share = workspaces.filter((_, w) => w % P.serviceKeys === k || w % P.serviceKeys === (k + 1) % P.serviceKeys);
    const response = expectStatus(
      await ctx.api('POST', '/v1/service-keys', { body: { name: `bench-${k}`, workspaces: share } }),
      201,
      'service key',
    );
    keys.push({ key: response.json.key, workspaces: new Set(share) });
  }
  const clients = new Array(P.hotClients);
  const clientIds = range(P.hotClients).map((i) => `hot_${pad(i, 5)}`);
  const firstTokens = watchTokens(ctx.fake, clientIds);
  await pool(P.hotClients, 32, async (i) => {
    clients[i] = await registerClient(ctx, workspaces[i % workspaces.length], clientIds[i]);
  });
  await firstTokens.wait(60_000);
  const lines = [];
  for (const client of clients) {
    for (const { key, workspaces: share } of keys) {
      if (share.has(client.workspaceId)) lines.push(`/v1/clients/${client.id}/token\tBearer ${key}`);
    }
  }
  const requestsFile = path.join(RESULTS_DIR, `requests-${label}${stamp}.tsv`);
  fs.writeFileSync(requestsFile, `${lines.join('\n')}\n`);
  procs.onCleanup(() => fs.rmSync(requestsFile, { force: true }));
  log(
    `registered ${clients.length} hot clients in ${workspaces.length} workspaces and ${keys.length} service keys (${lines.length} client/key pairs) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { clients, keys, workspaces, requestsFile, pairs: lines.length };
}

/**
 * Watches, from now, for a token the fake issues to each of these client ids. Start it before
 * registering them: the broker fetches first tokens as it stores clients, and the bench's fake keeps
 * no log to read them back from (its light log: see run.js). missing(): clients with no token yet;
 * wait(timeoutMs): resolves once each has one, throws past the timeout; stop(): ends the watch (wait does).
 */
function watchTokens(fake, clientIds) {
  const wanted = new Set(clientIds);
  const stop = fake.onIssued((clientId) => wanted.delete(clientId));
  return {
    missing: () => wanted.size,
    stop,
    async wait(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      try {
        while (wanted.size > 0) {
          if (Date.now() > deadline) throw new Error(`${wanted.size} clients got no token within ${timeoutMs} ms`);
          await sleep(50);
        }
      } finally {
        stop();
      }
    },
  };
}

module.exports = { registerClient, setupHotClients, watchTokens };
