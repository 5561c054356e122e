import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FerryProc } from './ferry-proc.js';

/** Rewrite a running ferry's config file the way startFerryProcess wrote it (same defaults, same ${STATE_DIR}). */
export function rewriteConfig(f: FerryProc, config: Record<string, unknown> | string): void {
  const file = join(f.stateDir, 'ferry.yaml');
  if (typeof config === 'string') {
    writeFileSync(file, config);
    return;
  }
  const withDir = JSON.parse(
    JSON.stringify(config).replaceAll('${STATE_DIR}', f.stateDir),
  ) as Record<string, unknown>;
  writeFileSync(
    file,
    stringify({ state_dir: f.stateDir, listen: { host: '127.0.0.1', port: 0 }, ...withDir }),
  );
}

/** Wait for a log line (searching from index `from`); returns it and its index. */
export async function waitForLog(
  f: FerryProc,
  pred: (l: Record<string, unknown>) => boolean,
  opts: { from?: number; timeoutMs?: number } = {},
): Promise<{ line: Record<string, unknown>; index: number }> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20000);
  for (;;) {
    const lines = f.logs();
    for (let i = opts.from ?? 0; i < lines.length; i++)
      if (pred(lines[i])) return { line: lines[i], index: i };
    if (Date.now() > deadline)
      throw new Error(
        `no matching log line in ${opts.timeoutMs ?? 20000} ms; logs:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGHUP and wait for the reload's outcome line (reloaded or failed). */
export async function reloadAndWait(f: FerryProc): Promise<Record<string, unknown>> {
  const from = f.logs().length;
  f.kill('SIGHUP');
  const { line } = await waitForLog(
    f,
    (l) =>
      typeof l.msg === 'string' &&
      (l.msg.startsWith('config reloaded') || l.msg.startsWith('config reload failed')),
    { from },
  );
  return line;
}

/** One sample of a metric from Prometheus text (labels as written, e.g. '{result="ok"}'). */
export function metric(text: string, name: string, labels = ''): number | undefined {
  const esc = (name + labels).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${esc} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}
