'use strict';
/** Small helpers shared by the phases: logging, numbers, a bounded pool, status checks. */
const fs = require('node:fs');

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const range = (n) => Array.from({ length: n }, (_, i) => i);
const pad = (n, width) => String(n).padStart(width, '0');
const percentile = (sorted, p) =>
  sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const round = (value, digits = 2) =>
  value === null || value === undefined || Number.isNaN(value) ? null : Number(value.toFixed(digits));
const round3 = (value) => round(value, 3);

/** Runs fn(i) for i in [0, count) with at most `concurrency` in flight. */
async function pool(count, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(range(Math.min(concurrency, count)).map(worker));
}

function expectStatus(response, status, what) {
  if (response.status !== status)
    throw new Error(`${what}: expected ${status}, got ${response.status}: ${response.text.slice(0, 300)}`);
  return response;
}

/** Per-core busy fractions as `0: 91%, 1: 64%`. */
const fmtBusy = (busy) =>
  Object.entries(busy)
    .map(([core, b]) => `${core}: ${Math.round(b * 100)}%`)
    .join(', ');
/** Bytes as whole MiB. */
const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);

function countLines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return null;
  }
}

module.exports = { log, range, pad, percentile, round, round3, pool, expectStatus, fmtBusy, mib, countLines };
