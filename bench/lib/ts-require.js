'use strict';
// Loads the TypeScript test helpers (test/support/*.ts: the fake upstream and
// the private redis-server) from plain Node, by transpiling them with @swc/core,
// which the project already has as a devDependency. No type checking here:
// `npm run typecheck` and the test suite do that.
const fs = require('node:fs');

let swc;
function register() {
  if (require.extensions['.ts']) return;
  swc = require('@swc/core');
  require.extensions['.ts'] = (module, filename) => {
    const source = fs.readFileSync(filename, 'utf8');
    const { code } = swc.transformSync(source, {
      filename,
      sourceMaps: false,
      module: { type: 'commonjs' },
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    });
    module._compile(code, filename);
  };
}

module.exports = { register };
