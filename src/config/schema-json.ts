import { configSchema } from './schema.js';

/**
 * The schema as the text of config/schema.json and of `ferry config schema`. One function, so the
 * generator (scripts/gen-config-schema.mjs), the CLI and the test that compares the committed file
 * all produce the same bytes.
 */
export function configSchemaJson(): string {
  return JSON.stringify(configSchema, null, 2) + '\n';
}
