import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './net.js';
import { until } from './stores.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The Python venv with the OpenTelemetry SDK (scripts/rig/pyclients.sh) and the rig's Collector
 * (scripts/rig/otelcol.sh), installed or built if they are not yet. A script that fails throws:
 * under CI a missing client is a failure, never a skip.
 */
export function otelClients(): { python: string; otelcol: string } {
  const run = (script: string, ...args: string[]) =>
    execFileSync('bash', [join(ROOT, 'scripts', 'rig', script), ...args], {
      encoding: 'utf8',
    }).trim();
  return { python: run('pyclients.sh'), otelcol: run('otelcol.sh', 'install') };
}

/** Run a client to its end: its exit code and everything it printed. */
export function runClient(
  cmd: string,
  args: string[],
  timeoutMs = 240_000,
): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

export interface Collector {
  proc: ChildProcess;
  /** Its OTLP/HTTP receiver's logs URL. */
  logsUrl: string;
  /** What it printed so far. */
  log(): string;
}

/**
 * Start the Collector with an `otlp` receiver on a free port, the `batch` processor (40 records or
 * 100 ms) and `exporters` (every one in the logs pipeline), its config written into `dir`;
 * resolves once the receiver answers. The caller kills `proc`.
 */
export async function startCollector(
  bin: string,
  dir: string,
  exporters: Record<string, unknown>,
): Promise<Collector> {
  const port = await freePort();
  const cfgFile = join(dir, 'otelcol.yaml');
  writeFileSync(
    cfgFile,
    stringify({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      processors: { batch: { send_batch_size: 40, send_batch_max_size: 40, timeout: '100ms' } },
      exporters,
      service: {
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
        pipelines: {
          logs: { receivers: ['otlp'], processors: ['batch'], exporters: Object.keys(exporters) },
        },
      },
    }),
  );
  let out = '';
  const proc = spawn(bin, ['--config', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const logsUrl = `http://127.0.0.1:${port}/v1/logs`;
  await until(
    'the Collector receiving',
    async () => (await fetch(logsUrl, { method: 'GET' }).catch(() => undefined)) !== undefined,
    60_000,
  ).catch((e) => {
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out}`);
  });
  return { proc, logsUrl, log: () => out };
}
