import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

export type Runtime = 'node' | 'bun' | 'deno';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BIN = join(ROOT, 'node_modules', '.bin');

export interface FerryProc {
  url: string;
  port: number;
  proc: ChildProcess;
  stateDir: string;
  logs: () => Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Start the built ferry CLI as a real process with a config written to a temp dir. */
export async function startFerryProcess(
  config: Record<string, unknown>,
  opts: { runtime?: Runtime; env?: Record<string, string>; stateDir?: string } = {},
): Promise<FerryProc> {
  // stateDir: restart on the same state (a DLQ left by a killed process).
  const dir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'ferry-test-'));
  // `${STATE_DIR}` in any string value becomes this run's temp state dir.
  const withDir = JSON.parse(JSON.stringify(config).replaceAll('${STATE_DIR}', dir)) as Record<
    string,
    unknown
  >;
  const cfg = { state_dir: dir, listen: { host: '127.0.0.1', port: 0 }, ...withDir };
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, stringify(cfg));
  const runtime = opts.runtime ?? 'node';
  const argv =
    runtime === 'node'
      ? [process.execPath, CLI]
      : runtime === 'bun'
        ? [join(BIN, 'bun'), CLI]
        : [join(BIN, 'deno'), 'run', '-A', CLI];
  const proc = spawn(argv[0], [...argv.slice(1), 'run', '--config', file], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  const exited = new Promise<number | string>((r) =>
    proc.on('exit', (code, sig) => r(code ?? sig ?? -1)),
  );
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`ferry (${runtime}) did not start in 30s:\n${err}\n${JSON.stringify(lines)}`),
        ),
      30000,
    );
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          lines.push(o);
          if (o.msg === 'ferry listening') {
            clearTimeout(timer);
            resolvePort(o.port as number);
          }
        } catch {
          lines.push({ raw: line });
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((c) => {
      clearTimeout(timer);
      reject(
        new Error(
          `ferry (${runtime}) exited with ${c} before listening:\n${err}\n${JSON.stringify(lines)}`,
        ),
      );
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    stateDir: dir,
    logs: () => lines,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => proc.kill(signal),
  };
}

/** POST a body to /v1/events and return status, headers and parsed JSON. */
export async function post(
  base: string,
  body: string | Uint8Array,
  opts: {
    type?: string;
    encoding?: string;
    ack?: 'durable' | 'delivered' | 'accepted';
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {
    'content-type': opts.type ?? 'application/x-ndjson',
    ...opts.headers,
  };
  if (opts.encoding) headers['content-encoding'] = opts.encoding;
  const res = await fetch(`${base}/v1/events${opts.ack ? `?ack=${opts.ack}` : ''}`, {
    method: 'POST',
    // fetch's types want a view of an ArrayBuffer; the callers' bodies are Buffers and
    // Uint8Arrays of ordinary (not shared) memory, which Node's fetch sends as they are.
    body: body as string | Uint8Array<ArrayBuffer>,
    headers,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** N events of ~350 bytes with distinct event_ids (prefix makes them unique per test). */
export function makeEvents(
  n: number,
  prefix: string,
  from = 0,
): { lines: string[]; ids: string[] } {
  const lines: string[] = [];
  const ids: string[] = [];
  for (let i = from; i < from + n; i++) {
    const id = `${prefix}-${i}`;
    ids.push(id);
    lines.push(
      JSON.stringify({
        event_id: id,
        ts: 1732350000000 + i,
        user: `u${i % 97}`,
        kind: 'page_view',
        path: `/p/${i % 13}`,
        ua: 'Mozilla/5.0 (X11; Linux x86_64) ferry-test',
        pad: 'x'.repeat(200),
      }),
    );
  }
  return { lines, ids };
}
