'use strict';
/**
 * Phase 3a, registration at scale: many clients registered with concurrent
 * POSTs on a keep-alive agent, within a time budget (rate, latency, broker CPU
 * per registration).
 */
const http = require('node:http');
const { randomBytes } = require('node:crypto');
const procs = require('../lib/procs');
const { P } = require('../lib/options');
const { httpRequest } = require('../lib/http');
const { log, pad, pool, expectStatus } = require('../lib/util');

/** Registers P.scaleClients clients (fewer if the budget runs out), each known to the fake and the tracker. */
async function registerScaleClients(ctx, tracker) {
  const { fake, broker } = ctx;
  const { issuedAt, brokerIdOf, secrets } = tracker;
  let n = P.scaleClients;
  const pid = broker.child.pid;
  log(`scale: registering ${n} clients (${P.registerConcurrency} concurrent POSTs, keep-alive)`);
  const regAgent = new http.Agent({ keepAlive: true, maxSockets: P.registerConcurrency });
  const regCpu = procs.cpuMeter(pid);
  const regCores = procs.coreMeter();
  const regStart = performance.now();
  const latencies = [];
  let progressAt = Date.now();
  const budgetEnd = Date.now() + P.registerBudgetSeconds * 1000;
  let overBudget = false;
  await pool(n, P.registerConcurrency, async (i) => {
    // A full run stays within its time: past the budget, the clients registered so far are the scale.
    if (overBudget || Date.now() > budgetEnd) {
      overBudget = true;
      return;
    }
    const clientId = `sc_${pad(i, 6)}`;
    const secret = `secret_${randomBytes(12).toString('base64url')}`;
    secrets.set(clientId, secret);
    issuedAt.set(clientId, []);
    fake.addClient(clientId, secret, { expiresIn: P.expiresIn });
    const t = performance.now();
    const response = await httpRequest(regAgent, ctx.port, 'POST', '/v1/clients', {
      headers: { authorization: `Bearer ${ctx.adminKey}` },
      body: {
        workspaceId: `ws_sc_${pad(i % 1000, 4)}`,
        name: `scale ${i}`,
        type: 'oauth_client_credentials',
        clientId,
        clientSecret: secret,
      },
    });
    latencies.push(performance.now() - t);
    expectStatus(response, 201, `register ${clientId}`);
    brokerIdOf.set(clientId, response.json.id);
    if (Date.now() - progressAt > 10_000) {
      progressAt = Date.now();
      log(`scale: ${brokerIdOf.size} registered`);
    }
  });
  const regSeconds = (performance.now() - regStart) / 1000;
  const regEndAt = Date.now();
  const regCpuUse = regCpu.stop();
  const regCoreBusy = regCores.stop();
  const requested = n;
  n = brokerIdOf.size;
  for (const clientId of [...issuedAt.keys()]) if (!brokerIdOf.has(clientId)) issuedAt.delete(clientId);
  if (overBudget) {
    log(`scale: registration budget of ${P.registerBudgetSeconds} s spent: going on with ${n} of ${requested} clients`);
  }
  regAgent.destroy();
  latencies.sort((a, b) => a - b);
  log(`scale: registered ${n} in ${regSeconds.toFixed(1)} s (${Math.round(n / regSeconds)}/s)`);
  return { n, requested, overBudget, regSeconds, regEndAt, regCpuUse, regCoreBusy, latencies };
}

module.exports = { registerScaleClients };
