'use strict';
/**
 * Phase 3a, registration at scale: many clients registered through the batch
 * route (POST /v1/clients/batch, P.batchSize per request, P.batchesInFlight at
 * once) on a keep-alive agent, within a time budget (rate, batch latency,
 * broker CPU per registration).
 */
const http = require('node:http');
const procs = require('../lib/procs');
const { P } = require('../lib/options');
const { DERIVED_PREFIX } = require('../lib/derived-secrets');
const { httpRequest } = require('../lib/http');
const { log, pad, pool, expectStatus } = require('../lib/util');

/** Registers P.scaleClients clients (fewer if the budget runs out), each known to the fake and the tracker. */
async function registerScaleClients(ctx, tracker) {
  const { broker } = ctx;
  const { issuedAt, brokerIdOf } = tracker;
  const requested = P.scaleClients;
  const batches = Math.ceil(requested / P.batchSize);
  log(
    `scale: registering ${requested} clients through the batch route (${batches} batches of ${P.batchSize}, ${P.batchesInFlight} in flight)`,
  );
  const regAgent = new http.Agent({ keepAlive: true, maxSockets: P.batchesInFlight });
  const regCpu = procs.cpuMeter(broker.child.pid);
  const regCores = procs.coreMeter();
  const regStart = performance.now();
  const latencies = [];
  let progressAt = Date.now();
  const budgetEnd = Date.now() + P.registerBudgetSeconds * 1000;
  let overBudget = false;
  await pool(batches, P.batchesInFlight, async (b) => {
    // A full run stays within its time: past the budget, the clients registered so far are the scale.
    if (overBudget || Date.now() > budgetEnd) {
      overBudget = true;
      return;
    }
    const items = batchItems(ctx, tracker, b * P.batchSize, Math.min(requested, (b + 1) * P.batchSize));
    const t = performance.now();
    const response = await httpRequest(regAgent, ctx.port, 'POST', '/v1/clients/batch', {
      headers: { authorization: `Bearer ${ctx.adminKey}` },
      body: { items },
      timeoutMs: 120_000,
    });
    latencies.push(performance.now() - t);
    expectStatus(response, 200, `scale batch ${b}`);
    response.json.items.forEach((item, at) => {
      if (item.status !== 201) throw new Error(`scale batch ${b}: item ${at}: ${JSON.stringify(item).slice(0, 300)}`);
      brokerIdOf.set(items[at].clientId, item.client.id);
    });
    if (Date.now() - progressAt > 10_000) {
      progressAt = Date.now();
      log(`scale: ${brokerIdOf.size} registered`);
    }
  });
  const regSeconds = (performance.now() - regStart) / 1000;
  const regEndAt = Date.now();
  const regCpuUse = regCpu.stop();
  const regCoreBusy = regCores.stop();
  const n = brokerIdOf.size;
  for (const clientId of [...issuedAt.keys()]) if (!brokerIdOf.has(clientId)) issuedAt.delete(clientId);
  if (overBudget) {
    log(`scale: registration budget of ${P.registerBudgetSeconds} s spent: going on with ${n} of ${requested} clients`);
  }
  regAgent.destroy();
  latencies.sort((a, b) => a - b);
  log(`scale: registered ${n} in ${regSeconds.toFixed(1)} s (${Math.round(n / regSeconds)}/s)`);
  return { n, requested, overBudget, regSeconds, regEndAt, regCpuUse, regCoreBusy, latencies };
}

/**
 * Clients [from, to): made known to the tracker; their batch items. The fake
 * knows them by their ids (DERIVED_PREFIX): their secrets are derived, and
 * their tokens last P.expiresIn, hour-long from the third (run.js).
 */
function batchItems(ctx, { issuedAt }, from, to) {
  const items = [];
  for (let i = from; i < to; i++) {
    const clientId = `${DERIVED_PREFIX}${pad(i, 7)}`;
    const clientSecret = ctx.fake.secretOf(clientId);
    issuedAt.set(clientId, []);
    const workspaceId = `ws_sc_${pad(i % 1000, 4)}`;
    items.push({ workspaceId, name: `scale ${i}`, type: 'oauth_client_credentials', clientId, clientSecret });
  }
  return items;
}

module.exports = { registerScaleClients };
