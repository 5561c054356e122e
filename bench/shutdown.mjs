#!/usr/bin/env node
// Shutdown latency: SIGTERM → `shutdown complete` → process gone, on Node, Bun and Deno,
// idle and loaded (16 clients posting 100-event NDJSON requests, ack=durable, until the
// signal; the drain delivers what they sent). Directory sink, lz4. Prints a Markdown table.
//
// usage: npm run build && node bench/shutdown.mjs [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules', '.bin');
const { values: opt } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(opt.runs);
const CLIENTS = 16;
const body = Array.from({ length: 100 }, (_, i) =>
  JSON.stringify({ ts: 1732350000000 + i, user: `u${i}`, pad: 'x'.repeat(300) }),
).join('\n');

/**
 * @param {'node' | 'bun' | 'deno'} runtime
 * @param {boolean} loaded
 * @returns {Promise<{ total: number; tail: number }>}
 */
async function once(runtime, loaded) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-shutdown-'));
  writeFileSync(
    join(dir, 'ferry.yaml'),
    `state_dir: ${dir}\nlisten: {host: 127.0.0.1, port: 0}\nsinks: [{name: d, type: directory, path: ${dir}/out}]\n`,
  );
  const cli = join(ROOT, 'dist', 'src', 'cli.js');
  const argv =
    runtime === 'node'
      ? [process.execPath, cli]
      : runtime === 'bun'
        ? [join(BIN, 'bun'), cli]
        : [join(BIN, 'deno'), 'run', '-A', cli];
  const p = spawn(argv[0], [...argv.slice(1), 'run', '--config', join(dir, 'ferry.yaml')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  let completeAt = 0;
  const port = await new Promise((res) =>
    p.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const o = JSON.parse(line);
          if (o.msg === 'ferry listening') res(o.port);
          if (o.msg === 'shutdown complete') completeAt = performance.now();
        } catch {}
      }
    }),
  );
  const exited = new Promise((r) => p.on('exit', () => r(performance.now())));
  let stop = false;
  const clients = loaded
    ? Array.from({ length: CLIENTS }, async () => {
        while (!stop)
          await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', body })
            .then((r) => r.arrayBuffer())
            .catch(() => (stop = true));
      })
    : [];
  await new Promise((r) => setTimeout(r, loaded ? 2000 : 500));
  const signalled = performance.now();
  p.kill('SIGTERM');
  const exitAt = await exited;
  stop = true;
  await Promise.all(clients);
  return { total: exitAt - signalled, tail: exitAt - completeAt };
}

const rows = [];
for (const runtime of /** @type {const} */ (['node', 'bun', 'deno']))
  for (const loaded of [false, true]) {
    /** @type {{ total: number; tail: number }[]} */
    const r = [];
    for (let i = 0; i < RUNS; i++) r.push(await once(runtime, loaded));
    /** @param {'total' | 'tail'} k */
    const med = (k) => r.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(r.length / 2)];
    rows.push(
      `| ${runtime} | ${loaded ? `loaded (${CLIENTS} clients)` : 'idle'} | ${med('total').toFixed(0)} | ${med('tail').toFixed(0)} |`,
    );
  }
console.log(
  `Shutdown latency, median of ${RUNS}:\n\n| runtime | state | SIGTERM → exit ms | \`shutdown complete\` → exit ms |\n| --- | --- | ---: | ---: |\n${rows.join('\n')}`,
);
