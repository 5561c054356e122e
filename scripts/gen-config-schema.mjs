#!/usr/bin/env node
/**
 * Writes config/schema.json from the config schema in src/config/schema.ts (the source of
 * truth), through the compiled dist/ (Node 20 runs no TypeScript): `npm run gen:schema` builds
 * first. test/unit/config-schema-json.test.ts fails when the committed file differs.
 * --check: write nothing, exit 1 when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
// A computed path, so the typecheck (which runs before the build) does not look for dist/.
/** @type {{ configSchemaJson: () => string }} */
const { configSchemaJson } = await import(
  pathToFileURL(resolve(root, 'dist', 'src', 'config', 'schema-json.js')).href
);
const out = resolve(root, 'config', 'schema.json');
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
