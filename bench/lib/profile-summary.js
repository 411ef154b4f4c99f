'use strict';
// Top self-time functions of a V8 .cpuprofile (node --cpu-prof).
// Usage: node bench/lib/profile-summary.js <file.cpuprofile> [top]
const fs = require('node:fs');
const path = require('node:path');

function summarize(file, top = 25) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
  }
  const byFunction = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') idle += us;
    const where = callFrame.url ? `${shorten(callFrame.url)}:${callFrame.lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    byFunction.set(key, { name, where, us: (byFunction.get(key)?.us ?? 0) + us });
  }
  const busy = total - idle;
  const rows = [...byFunction.values()]
    .filter((row) => row.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((row) => ({ ...row, ms: row.us / 1000, percentOfBusy: busy > 0 ? (100 * row.us) / busy : 0 }));
  return { file, totalMs: total / 1000, idleMs: idle / 1000, busyMs: busy / 1000, top: rows };
}

function shorten(url) {
  const text = url.replace(/^file:\/\//, '');
  const nm = text.lastIndexOf('node_modules/');
  if (nm >= 0) return text.slice(nm + 'node_modules/'.length);
  const dist = text.lastIndexOf('/dist/');
  if (dist >= 0) return text.slice(dist + 1);
  return path.basename(text) === text ? text : text.split('/').slice(-2).join('/');
}

function format(summary) {
  const lines = [`${summary.file}: busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms sampled`];
  lines.push('| self ms | % of busy | function | where |', '|---:|---:|---|---|');
  for (const row of summary.top)
    lines.push(`| ${row.ms.toFixed(1)} | ${row.percentOfBusy.toFixed(1)} | \`${row.name}\` | ${row.where} |`);
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/lib/profile-summary.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${format(summarize(file, Number(process.argv[3] ?? 25)))}\n`);
}

module.exports = { summarize, format };
