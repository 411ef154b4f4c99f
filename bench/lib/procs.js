'use strict';
// Process helpers for the benchmark: CPU pinning with taskset, CPU time and
// memory from /proc, and one cleanup list run on exit, error and Ctrl-C.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');

const cleanups = [];
let cleaning = null;

/** Registers work to undo on exit; the newest runs first. Returns a function that unregisters it. */
function onCleanup(fn) {
  cleanups.push(fn);
  return () => {
    const index = cleanups.indexOf(fn);
    if (index >= 0) cleanups.splice(index, 1);
  };
}

function runCleanups() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (error) {
        process.stderr.write(`bench: cleanup failed: ${error && error.message}\n`);
      }
    }
  })();
  return cleaning;
}

function installSignalHandlers() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      module.exports.interrupted = true;
      process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`);
      // A second Ctrl-C during cleanup kills at once.
      process.once(signal, () => process.exit(130));
      void runCleanups().finally(() => process.exit(130));
    });
  }
}

const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
const cpuCount = os.cpus().length;
/** Pinning needs taskset and two cores: broker (and bare server) on core 0, everything else on core 1. */
const pinning = hasTaskset && cpuCount >= 2;

const CLK_TCK = (() => {
  const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number((probe.stdout || '').trim());
  return Number.isFinite(value) && value > 0 ? value : 100;
})();

/** Spawns cmd pinned to `core` (taskset execs, so the pid is the program's own). */
function spawnPinned(core, cmd, args, options = {}) {
  if (pinning && core !== null) return spawn('taskset', ['-c', String(core), cmd, ...args], options);
  return spawn(cmd, args, options);
}

/** Pins a running process and all its threads. */
function pinPid(pid, core) {
  if (!pinning) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat (utime + stime). */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** { rss, hwm } in bytes, from /proc/<pid>/status. */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status) || [0, 0])[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Starts a CPU-time meter on a pid: stop() gives { cpuSeconds, wallSeconds, cores }. */
function cpuMeter(pid) {
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  return {
    stop() {
      const cpu = cpuSeconds(pid) - cpu0;
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      return { cpuSeconds: cpu, wallSeconds: wall, cores: wall > 0 ? cpu / wall : 0 };
    },
  };
}

/** CPU seconds of all a process's threads with nanosecond resolution (/proc/<pid>/task/<tid>/schedstat). */
function cpuSecondsPrecise(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}

/** Like cpuMeter, from schedstat: for small amounts (an idle scheduler), where 10 ms clock ticks are too coarse. */
function cpuMeterPrecise(pid) {
  const cpu0 = cpuSecondsPrecise(pid);
  const t0 = process.hrtime.bigint();
  return {
    stop() {
      const cpu = cpuSecondsPrecise(pid) - cpu0;
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      return { cpuSeconds: cpu, wallSeconds: wall, cores: wall > 0 ? cpu / wall : 0 };
    },
  };
}

/**
 * Each core's clock ticks so far (/proc/stat): all, idle (with I/O wait), and stolen by the hypervisor
 * (time the core's work waited for a real CPU: on a shared virtual machine, what other guests took).
 */
function coreTicks() {
  const out = {};
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const v = match[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[match[1]] = { total, idle: v[3] + v[4], steal: v[7] };
  }
  return out;
}

/** Busy fraction of each core over a period (/proc/stat): shows what else ran on the benchmark's cores. */
function coreMeter() {
  const before = coreTicks();
  return {
    stop() {
      const after = coreTicks();
      const busy = {};
      for (const core of Object.keys(after)) {
        const total = after[core].total - (before[core]?.total ?? 0);
        const idle = after[core].idle - (before[core]?.idle ?? 0);
        busy[core] = total > 0 ? Number((1 - idle / total).toFixed(3)) : 0;
      }
      return busy;
    },
  };
}

function loadAverage() {
  return os.loadavg().map((v) => Number(v.toFixed(2)));
}

/** Stops a child: SIGTERM, then SIGKILL after graceMs. Resolves with its exit code or signal. */
function stopChild(child, graceMs = 12_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
    child.kill('SIGTERM');
  });
}

function cpuModel() {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    return (/^model name\s*:\s*(.+)$/m.exec(info) || [null, os.cpus()[0]?.model ?? 'unknown'])[1].trim();
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

module.exports = {
  cpuSecondsPrecise,
  cpuMeterPrecise,
  coreMeter,
  coreTicks,
  loadAverage,
  onCleanup,
  runCleanups,
  installSignalHandlers,
  spawnPinned,
  pinPid,
  pinning,
  hasTaskset,
  cpuCount,
  cpuSeconds,
  memory,
  cpuMeter,
  stopChild,
  cpuModel,
};
