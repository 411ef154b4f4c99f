#!/usr/bin/env node
'use strict';
/**
 * Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with type declarations, with plain tsc.
 * Sources import siblings as './x.ts'; tsc rewrites that to './x.js' in JavaScript, and this
 * script does the same in the declarations, so consumers need no TypeScript option to read them.
 */
const { execFileSync } = require('node:child_process');
const { readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc');
const builds = [
  { dir: 'esm', type: 'module', args: ['--module', 'ES2022', '--moduleResolution', 'Bundler'] },
  { dir: 'cjs', type: 'commonjs', args: ['--module', 'CommonJS', '--moduleResolution', 'Node10'] },
];

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const build of builds) {
  const outDir = join(root, 'dist', build.dir);
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir, ...build.args], {
    stdio: 'inherit',
  });
  for (const file of walk(outDir)) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/(from\s+['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2'));
  }
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ type: build.type }, null, 2)}\n`);
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}
