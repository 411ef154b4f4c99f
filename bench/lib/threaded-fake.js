'use strict';
/**
 * The fake upstream in a worker thread of its own (fake-thread.js), so that
 * it answers the broker whatever this thread does. At a million clients the
 * harness holds every client's token times (hundreds of MiB), and each of its
 * major collections, a few hundred milliseconds, paused the fake when it ran
 * here: the refreshes the broker sent meanwhile were counted late (the
 * lateness timeline put every late 30 s beside a harness pause). A worker
 * has its own heap and collector. The time of each token is taken in the
 * worker, as it is issued; the harness hears of it up to ~20 ms later.
 *
 * The subset of FakePipedream the bench uses; the counts are asynchronous.
 */
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { Worker } = require('node:worker_threads');
const { derivedSecret } = require('./derived-secrets');

class ThreadedFake {
  /**
   * `derived`: the scale clients' token lifetime, and after how many token
   * requests each gets hour-long tokens instead (their secrets: secretOf()).
   */
  static async start(derived) {
    const secretKey = randomBytes(32).toString('base64url');
    const workerData = { secretKey, ...derived };
    const worker = new Worker(path.join(__dirname, 'fake-thread.js'), { workerData });
    const ready = await new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', function first(message) {
        if (message.type === 'ready') resolve(message);
        if (message.type === 'failed') reject(new Error(`fake upstream thread: ${message.error}`));
        if (message.type === 'ready' || message.type === 'failed') worker.off('message', first);
      });
    });
    return new ThreadedFake(worker, ready, secretKey);
  }

  constructor(worker, { baseUrl, tokenUrl }, secretKey) {
    this.worker = worker;
    this.secretKey = secretKey;
    this.baseUrl = baseUrl;
    this.tokenUrl = tokenUrl;
    this.listeners = new Set();
    this.pendingClients = [];
    this.replies = new Map();
    this.nextCall = 0;
    /** [time, ms]: the worker's largest event-loop delay in each 500 ms. */
    this.loopDelaySamples = [];
    worker.on('message', (message) => this.receive(message));
  }

  receive(message) {
    if (message.type === 'issued') {
      const { issued } = message;
      for (let at = 0; at < issued.length; at += 2) {
        for (const listener of this.listeners) listener(issued[at], issued[at + 1]);
      }
    } else if (message.type === 'loop') {
      this.loopDelaySamples.push([message.at, message.ms]);
    } else if (message.type === 'reply') {
      const pending = this.replies.get(message.replyTo);
      this.replies.delete(message.replyTo);
      if (message.error === undefined) pending?.resolve(message.value);
      else pending?.reject(new Error(message.error));
    }
  }

  call(name, args) {
    this.sendClients();
    const replyTo = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.replies.set(replyTo, { resolve, reject });
      this.worker.postMessage({ call: name, args, replyTo });
    });
  }

  /**
   * Sent in batches, before anything else is sent and at the latest on the
   * next turn of this thread's loop: well before the broker, which hears of
   * the client only after this, asks for its token.
   */
  addClient(clientId, secret, options = {}) {
    if (this.pendingClients.length === 0) setImmediate(() => this.sendClients());
    this.pendingClients.push([clientId, secret, options]);
  }

  sendClients() {
    if (this.pendingClients.length === 0) return;
    this.worker.postMessage({ call: 'addClients', args: { clients: this.pendingClients } });
    this.pendingClients = [];
  }

  /** The secret the fake accepts from a scale client (an id with DERIVED_PREFIX), which it was never told. */
  secretOf(clientId) {
    return derivedSecret(this.secretKey, clientId);
  }

  /** As FakePipedream.onIssued, with the time the worker issued each token; returns the unsubscribe. */
  onIssued(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setDelay(ms) {
    return this.call('setDelay', { ms });
  }

  /** Token requests of one client, or of all when none is named. */
  tokenRequestCount(clientId) {
    return this.call('tokenRequestCount', { clientId: clientId ?? null });
  }

  /** Token requests per client id presented, as a Map. */
  tokenRequestCounts() {
    return this.call('tokenRequestCounts');
  }

  /** Resolves once every token issued so far has reached the onIssued listeners. */
  flush() {
    return this.call('flush');
  }

  async stop() {
    await this.call('stop');
    await this.worker.terminate();
  }
}

module.exports = { ThreadedFake };
