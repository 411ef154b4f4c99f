#!/usr/bin/env node
'use strict';
/**
 * Writes openapi.json at the repository root: the document the broker serves at /docs-json,
 * taken from the compiled app (`npm run build` first; `npm run openapi` does) booted as
 * main.js boots it, on the memory store, without listening. `--check` compares instead of
 * writing and exits 1 when the committed file is out of date.
 */
require('reflect-metadata');
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const OUTPUT = join(__dirname, '..', 'openapi.json');

/** The OpenAPI document as /docs-json serves it, formatted as committed. */
async function servedDocument() {
  const { createApp } = require('../dist/app.factory');
  const { createLogger } = require('../dist/common/logger');
  const { parseConfig } = require('../dist/config/config');
  const config = parseConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });
  const app = await createApp(config, createLogger('silent'));
  try {
    const answer = await app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/docs-json' });
    if (answer.statusCode !== 200) throw new Error(`/docs-json answered ${answer.statusCode}`);
    return `${JSON.stringify(JSON.parse(answer.body), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

async function main() {
  const document = await servedDocument();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(OUTPUT, 'utf8');
    if (committed !== document) {
      process.stderr.write('openapi.json differs from what /docs-json serves: run `npm run openapi` and commit it\n');
      process.exit(1);
    }
    return;
  }
  writeFileSync(OUTPUT, document);
  process.stdout.write(`wrote ${OUTPUT}\n`);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`openapi: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}

module.exports = { servedDocument, OUTPUT };
