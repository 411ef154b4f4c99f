/**
 * The fault suite (`npm run test:faults`): real `node dist/main.js` replicas, their own
 * redis-server(s) and the fake upstream, with faults injected. Same swc transform as jest.config.js.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  testMatch: ['<rootDir>/test/faults/**/*.fault-spec.ts'],
  transformIgnorePatterns: base.transformIgnorePatterns,
  transform: base.transform,
  moduleFileExtensions: base.moduleFileExtensions,
  // Each scenario starts its own redis-server: no global setup.
  testTimeout: 150_000,
  maxWorkers: 1,
};
