'use strict';
// Fallback load generator when wrk is missing: autocannon, in its own process
// (pinned to the load core by bench/run.js), picking a random line of the
// requests file ("<path>\t<Authorization header>") for every request.
const fs = require('node:fs');
const autocannon = require('autocannon');

const config = JSON.parse(process.argv[2]);
const lines = fs
  .readFileSync(config.requestsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => line.split('\t'));

autocannon(
  {
    url: config.url,
    connections: config.connections,
    duration: config.durationSeconds,
    requests: [
      {
        setupRequest: (request) => {
          const [path, auth] = lines[Math.floor(Math.random() * lines.length)];
          return { ...request, method: 'GET', path, headers: { ...request.headers, authorization: auth } };
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      process.stderr.write(`autocannon failed: ${error.message}\n`);
      process.exit(1);
    }
    const out = {
      requests: result.requests.total,
      durationUs: Math.round(result.duration * 1e6),
      bytes: result.throughput.total,
      errors: { connect: 0, read: result.errors, write: 0, status: result.non2xx, timeout: result.timeouts },
      latencyUs: {
        mean: result.latency.mean * 1000,
        max: result.latency.max * 1000,
        p50: result.latency.p50 * 1000,
        p90: result.latency.p90 * 1000,
        p99: result.latency.p99 * 1000,
        p999: result.latency.p99_9 * 1000,
      },
    };
    process.stdout.write(`TBJSON ${JSON.stringify(out)}\n`);
  },
);
