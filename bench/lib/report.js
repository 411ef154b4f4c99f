'use strict';
/** What a run reports: the results written as JSON, and the rows of the table printed on stdout. */
const os = require('node:os');
const { spawnSync } = require('node:child_process');
const procs = require('./procs');
const { argv, BROKER_CORE, LOAD_CORE, QUICK, PROFILE, P } = require('./options');
const { LOAD_TOOL, wrkVersion } = require('./load');
const { round } = require('./util');

const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
const results = {
  startedAt: startedAt.toISOString(),
  command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  mode: QUICK ? 'quick' : 'full',
  profiled: PROFILE,
  machine: {
    nproc: procs.cpuCount,
    cpuModel: procs.cpuModel(),
    node: process.version,
    kernel: os.release(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    pinning: procs.pinning
      ? `taskset: broker and bare server on core ${BROKER_CORE}; load generator, redis-server, fake upstream and harness on core ${LOAD_CORE}`
      : 'none (taskset missing or fewer than 2 cores)',
    redis: (spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout || '').trim(),
    loadAverageAtStart: procs.loadAverage(),
    ...(wrkVersion === null ? {} : { wrk: wrkVersion }),
  },
  params: P,
  phases: {},
};
const rows = [];
const row = (phase, measure, value, target = '', tool = '') =>
  rows.push({ phase, measure, value: String(value), target, tool });

function printTable() {
  const headers = { phase: 'phase', measure: 'measure', value: 'value', target: 'target', tool: 'measured with' };
  const all = [headers, ...rows];
  const width = (key) => Math.max(...all.map((r) => r[key].length));
  const keys = Object.keys(headers);
  const widths = Object.fromEntries(keys.map((k) => [k, width(k)]));
  const line = (r) => `| ${keys.map((k) => r[k].padEnd(widths[k])).join(' | ')} |`;
  const out = [
    '',
    `token-broker bench (${results.mode}${PROFILE ? ', broker under --cpu-prof: slower than normal' : ''}) ${results.startedAt}`,
    `machine: ${results.machine.nproc} cores, ${results.machine.cpuModel}, node ${results.machine.node}; ${results.machine.pinning}`,
    `load average at start ${results.machine.loadAverageAtStart.join(' ')}${results.machine.loadAverageAtStart[0] > 0.5 ? ' (other work on this machine: figures are perturbed)' : ''}; at end ${procs.loadAverage().join(' ')}`,
    `load generator: ${LOAD_TOOL}${results.machine.wrk ? ` (${results.machine.wrk})` : ''}`,
    '',
    line(headers),
    `|${keys.map((k) => '-'.repeat(widths[k] + 2)).join('|')}|`,
    ...rows.map(line),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

module.exports = { stamp, results, rows, row, printTable };
