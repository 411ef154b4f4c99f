'use strict';
/** Reading the broker's Prometheus /metrics text: histograms and counters, and deltas between two scrapes. */

/** Parses the buckets of one Prometheus histogram: { counts: Map(le -> cumulative), count, sum }. */
function histogram(metricsText, name) {
  const counts = new Map();
  let count = 0;
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    let match = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`).exec(line);
    if (match) counts.set(match[1], Number(match[2]));
    match = new RegExp(`^${name}_count (\\S+)`).exec(line);
    if (match) count = Number(match[1]);
    match = new RegExp(`^${name}_sum (\\S+)`).exec(line);
    if (match) sum = Number(match[1]);
  }
  return { counts, count, sum };
}

/** Quantile of a histogram delta, as the upper bound of the bucket it falls in. */
function histogramQuantile(before, after, q) {
  const count = after.count - before.count;
  if (count <= 0) return null;
  const rank = q * count;
  for (const [le, cumulative] of after.counts) {
    if (cumulative - (before.counts.get(le) ?? 0) >= rank) return le === '+Inf' ? Infinity : Number(le);
  }
  return Infinity;
}

function counterDelta(before, after, series) {
  const read = (text) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
  return read(after) - read(before);
}

module.exports = { histogram, histogramQuantile, counterDelta };
