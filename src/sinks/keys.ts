import type { EncodedBatch } from '../pipeline/batch.js';
import { fileExtension } from '../codecs/index.js';

/** Variables a key template may use. All dates are UTC, from the batch's creation time. */
export const KEY_VARIABLES = ['date', 'hour', 'year', 'month', 'day', 'host', 'batch_id', 'ext', 'sink'] as const;

/** Throws naming the unknown variable; keys must contain {batch_id} to be unique per batch. */
export function validateKeyTemplate(template: string): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(KEY_VARIABLES as readonly string[]).includes(m[1])) {
      throw new Error(`unknown variable {${m[1]}} in key template (known: ${KEY_VARIABLES.map((v) => `{${v}}`).join(' ')})`);
    }
  }
  if (!template.includes('{batch_id}')) throw new Error('key template must contain {batch_id} so each batch has its own key');
  if (template.startsWith('/') || template.split('/').includes('..')) throw new Error('key template must be a relative path without ".."');
}

/** The object key of a batch: the same batch always renders to the same key, so a retry overwrites. */
export function renderKey(template: string, batch: EncodedBatch, host: string, sink: string): string {
  const d = new Date(batch.createdAt);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const vars: Record<string, string> = {
    year: String(d.getUTCFullYear()),
    month: p2(d.getUTCMonth() + 1),
    day: p2(d.getUTCDate()),
    hour: p2(d.getUTCHours()),
    host,
    batch_id: batch.id,
    ext: '.ndjson' + fileExtension(batch.archive.codec),
    sink,
  };
  vars.date = `${vars.year}-${vars.month}-${vars.day}`;
  return template.replace(/\{([a-z_]+)\}/g, (_, k: string) => vars[k] ?? `{${k}}`);
}
