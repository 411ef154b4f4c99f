'use strict';
/**
 * The worker side of ThreadedFake (threaded-fake.js): runs the fake upstream
 * (test/support/fake-pipedream.ts, light log) in this thread, takes its
 * orders from the harness and sends it the tokens issued, in batches.
 */
const { parentPort, workerData } = require('node:worker_threads');
require('./ts-require').register();
const { loopDelayProbe } = require('./loop-delay');
const { DERIVED_PREFIX, derivedSecret } = require('./derived-secrets');
const { FakePipedream } = require('../../test/support/fake-pipedream.ts');

/** Issued tokens are sent at least this often (and at once past ISSUED_BATCH). */
const ISSUED_FLUSH_MS = 20;
const ISSUED_BATCH = 2_000;
const LOOP_SAMPLE_MS = 500;

async function main() {
  const { secretKey, expiresIn, hourLongAfter } = workerData;
  const fake = await FakePipedream.start({
    lightLog: true,
    // The scale clients: tokens of `expiresIn` for their first `hourLongAfter` requests, then hour-long ones,
    // so that after two refresh cycles the broker goes idle (cycles.js).
    derivedClients: {
      secretOf: (clientId) => (clientId.startsWith(DERIVED_PREFIX) ? derivedSecret(secretKey, clientId) : null),
      expiresInOf: (_clientId, requests) => (requests > hourLongAfter ? 3_600 : expiresIn),
    },
  });
  // Flat [clientId, at, clientId, at, ...]: one message per batch, not per token.
  let issued = [];
  const flush = () => {
    if (issued.length === 0) return;
    parentPort.postMessage({ type: 'issued', issued });
    issued = [];
  };
  fake.onIssued((clientId, at) => {
    issued.push(clientId, at);
    if (issued.length >= ISSUED_BATCH * 2) flush();
  });
  const timer = setInterval(flush, ISSUED_FLUSH_MS);
  // This thread's own pauses, for the bench's lateness timeline.
  const probe = loopDelayProbe();
  const loopTimer = setInterval(
    () => parentPort.postMessage({ type: 'loop', at: Date.now(), ms: probe.takeMax() }),
    LOOP_SAMPLE_MS,
  );

  const answers = {
    addClients: ({ clients }) => {
      for (const [clientId, secret, options] of clients) fake.addClient(clientId, secret, options);
    },
    setDelay: ({ ms }) => fake.setDelay(ms),
    tokenRequestCount: ({ clientId }) => fake.tokenRequestCount(clientId ?? undefined),
    tokenRequestCounts: () => fake.tokenRequestCounts(),
    // Answered after the tokens issued so far are sent: the harness then has them all.
    flush: () => flush(),
    stop: async () => {
      clearInterval(timer);
      clearInterval(loopTimer);
      probe.stop();
      flush();
      await fake.stop();
    },
  };
  parentPort.on('message', async ({ call, args, replyTo }) => {
    let reply;
    try {
      reply = { replyTo, value: await answers[call](args ?? {}) };
    } catch (error) {
      reply = { replyTo, error: error.message };
    }
    if (replyTo !== undefined) parentPort.postMessage({ type: 'reply', ...reply });
  });
  parentPort.postMessage({ type: 'ready', baseUrl: fake.baseUrl, tokenUrl: fake.tokenUrl });
}

main().catch((error) => {
  parentPort.postMessage({ type: 'failed', error: error.stack ?? String(error) });
});
