#!/usr/bin/env node
/**
 * Writes config/schema.json from the config schema in src/config/schema.ts (the source of
 * truth), through the compiled dist/ (Node 20 runs no TypeScript): `npm run gen:schema` builds
 * first. test/unit/config-schema-json.test.ts fails when the committed file differs.
 * --check: write nothing, exit 1 when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configSchemaJson } from '../dist/src/config/schema-json.js';

const out = resolve(import.meta.dirname, '..', 'config', 'schema.json');
const text = configSchemaJson();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(out, 'utf8');
  } catch {}
  if (committed !== text) {
    process.stderr.write('config/schema.json is stale: run npm run gen:schema\n');
    process.exit(1);
  }
} else {
  writeFileSync(out, text);
}
