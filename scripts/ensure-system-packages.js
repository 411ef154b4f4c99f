#!/usr/bin/env node
'use strict';
/**
 * Makes sure the Debian packages the test suite drives are installed, before
 * `npm test` builds and runs anything (the `pretest` step). Tests never
 * download a browser or a tool of their own: they use Debian's.
 *
 * Run as root, it installs what is missing with apt-get (updating the package
 * lists only when a first install fails). Run as anyone else, it installs
 * nothing and fails with the exact command to run.
 *
 * To add a tool: one line in REQUIRED, the file the tests run and the
 * Debian package that brings it.
 */
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');

const REQUIRED = [
  { path: '/usr/bin/chromium', pkg: 'chromium', usedBy: 'the console e2e (test/console.e2e-spec.ts, playwright-core)' },
  { path: '/usr/bin/redis-cli', pkg: 'redis-tools', usedBy: 'Redis Cluster and Sentinel tests (redis-cli --cluster)' },
  { path: '/usr/bin/script', pkg: 'bsdutils', usedBy: 'the CLI test on a pseudo-terminal (test/cli.e2e-spec.ts)' },
  {
    path: '/usr/bin/promtool',
    pkg: 'prometheus',
    usedBy: 'promtool check/test rules (test/observability/alert-rules.spec.ts)',
  },
  {
    path: '/usr/bin/prometheus',
    pkg: 'prometheus',
    usedBy: 'the real Prometheus of test/observability/prometheus.e2e-spec.ts',
  },
];

/** The packages whose file is missing, each named once. */
function missingPackages(required, exists) {
  return [...new Set(required.filter((entry) => !exists(entry.path)).map((entry) => entry.pkg))];
}

function installCommand(pkgs) {
  return `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
}

function aptGet(args) {
  // Another apt run (a parallel test run, an unattended upgrade) holds the lock for a while: wait for it.
  const result = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

function main() {
  const missing = missingPackages(REQUIRED, existsSync);
  if (missing.length === 0) return 0;
  for (const entry of REQUIRED.filter((item) => missing.includes(item.pkg))) {
    process.stderr.write(
      `ensure-system-packages: ${entry.path} is missing (Debian package ${entry.pkg}, for ${entry.usedBy})\n`,
    );
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    process.stderr.write(
      `ensure-system-packages: not root, nothing installed. Run:\n\n  sudo sh -c '${installCommand(missing)}'\n\n`,
    );
    return 1;
  }
  process.stderr.write(`ensure-system-packages: installing ${missing.join(' ')}\n`);
  const installed =
    aptGet(['install', '-y', ...missing]) || (aptGet(['update']) && aptGet(['install', '-y', ...missing]));
  const stillMissing = missingPackages(REQUIRED, existsSync);
  if (!installed || stillMissing.length > 0) {
    process.stderr.write(
      `ensure-system-packages: the install failed. Run it to read apt's message:\n\n  ${installCommand(missing)}\n\n`,
    );
    return 1;
  }
  return 0;
}

if (require.main === module) process.exit(main());

module.exports = { REQUIRED, missingPackages, installCommand };
