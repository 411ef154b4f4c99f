'use strict';
/**
 * The scale clients' secrets, derived from their ids with a key the run
 * makes, so that neither the harness nor the fake upstream keeps a million
 * of them (FakePipedream's derivedClients).
 */
const { createHmac } = require('node:crypto');

/** Ids of the clients whose secrets are derived (register.js names the scale clients so). */
const DERIVED_PREFIX = 'sc_';

function derivedSecret(key, clientId) {
  return `secret_${createHmac('sha256', key).update(clientId).digest('base64url').slice(0, 22)}`;
}

module.exports = { DERIVED_PREFIX, derivedSecret };
