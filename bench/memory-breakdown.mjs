#!/usr/bin/env node
// Where ferry's memory goes: idle after start and under W1 lz4 → directory, ack=durable at
// 1 vCPU (saturated by wrk), with one worker. Per isolate (main thread and each worker):
// process.memoryUsage() and V8 heap figures, peak and at the end (a `-r bench/lib/mem-probe.cjs`
// preload samples them every 200 ms); the process's VmHWM/VmRSS; the anonymous mappings
// with the most pages touched (smaps Rss; the SharedArrayBuffer rings among them); and
// what each dependency costs when loaded on its own (RSS and heap of a fresh node after gc).
//
// usage: npm run build && node bench/memory-breakdown.mjs [--duration 20] [--deps-only | --skip-deps] [--idle-only] [--json]
//   BENCH_NODE_FLAGS as in bench/per-vcpu.mjs; --config-extra '{"workers":{"ring_bytes":…}}'
//   merges into ferry's config (to compare settings); --memory MiB runs ferry in a memory cgroup
//   of that size (no swap) with the main-thread flags the launcher would pick there
//   (dist/src/config/node-flags.js, unless BENCH_NODE_FLAGS is set).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_NODE_FLAGS, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';
import { memoryCgroup } from './lib/memcg.mjs';
import { launcherPlan } from './lib/launcher-plan.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    'deps-only': { type: 'boolean', default: false },
    'skip-deps': { type: 'boolean', default: false },
    // Only the idle snapshot (no wrk): quick before/after of a start-up change.
    'idle-only': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'config-extra': { type: 'string', default: '{}' },
    connections: { type: 'string', default: '64' },
    memory: { type: 'string' },
  },
});
const MiB = 2 ** 20;
/** @param {number} n */
const mib = (n) => (n / MiB).toFixed(1);

/**
 * RSS and V8 heap of a fresh node that loaded `mod` (after two full GCs), minus a bare node's.
 * @param {string} expr what to import (an ES import expression body)
 */
function loadCost(expr) {
  const code = `${expr}.then(async () => { globalThis.gc(); await new Promise(r => setTimeout(r, 50)); globalThis.gc(); const m = process.memoryUsage(); console.log(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external })); })`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return /** @type {{ rss: number, heapUsed: number, external: number }} */ (JSON.parse(out));
}

const DEPS = [
  ['(bare node)', 'Promise.resolve()'],
  [
    '@aws-sdk/client-s3 + lib-storage',
    "Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')])",
  ],
  ['@clickhouse/client', "import('@clickhouse/client')"],
  ['kafkajs', "import('kafkajs')"],
  ['pino', "import('pino')"],
  ['prom-client (+ default metrics)', "import('prom-client').then(p => p.collectDefaultMetrics())"],
  ['hono + @hono/node-server', "Promise.all([import('hono'), import('@hono/node-server')])"],
  ['piscina', "import('piscina')"],
  ['ajv', "import('ajv')"],
  ['yaml', "import('yaml')"],
  ['lz4-napi', "import('lz4-napi')"],
  ['@bokuweb/zstd-wasm (init)', "import('@bokuweb/zstd-wasm').then(z => z.init())"],
  ['msgpackr', "import('msgpackr')"],
  [
    'ferry run path, directory sink (dist/src/lifecycle/start.js + sinks/directory.js)',
    "Promise.all([import('./dist/src/lifecycle/start.js'), import('./dist/src/sinks/directory.js')])",
  ],
  [
    'ferry worker (dist/workers/pipeline-worker.js deps)',
    "Promise.all([import('./dist/workers/parse.js'), import('./dist/workers/batcher.js'), import('./dist/src/codecs/index.js')])",
  ],
];

function deps() {
  const base = loadCost('Promise.resolve()');
  return DEPS.map(([name, expr]) => {
    try {
      const c = loadCost(expr);
      return { name, rss: c.rss - base.rss, heapUsed: c.heapUsed - base.heapUsed, abs: c.rss };
    } catch (e) {
      return { name, rss: NaN, heapUsed: NaN, abs: NaN, error: String(e).slice(0, 200) };
    }
  });
}

/**
 * Anonymous mappings of at least 1 MiB: size and touched (Rss) in bytes.
 * @param {number} pid
 */
function bigMappings(pid) {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  /** @type {{ range: string, name: string, size: number, rss: number }[]} */
  const out = [];
  /** @type {{ range: string, name: string, size: number, rss: number } | undefined} */
  let cur;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (head) {
      cur = { range: head[1], name: head[2], size: 0, rss: 0 };
      out.push(cur);
      continue;
    }
    const kv = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (kv && cur) cur[kv[1] === 'Size' ? 'size' : 'rss'] = Number(kv[2]) * 1024;
  }
  return out;
}

/** @param {number} pid */
function status(pid) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  /** @param {string} k */
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1]) * 1024;
  return { vmHwm: kb('VmHWM'), vmRss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
}

/** @param {string} dir */
function probes(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/**
 * @param {number} pid
 * @param {string} probeDir
 * @param {string} label
 */
function snapshot(pid, probeDir, label) {
  const maps = bigMappings(pid);
  const anon = maps.filter((m) => m.name === '' || m.name.startsWith('['));
  // Most touched first: the V8 and wasm reservations are GiBs of address space, barely touched.
  const touched = anon.filter((m) => m.rss >= 1 * MiB).sort((a, b) => b.rss - a.rss);
  return { label, status: status(pid), isolates: probes(probeDir), bigAnon: touched.slice(0, 12) };
}

const out = {
  machine: `${cpus()[0]?.model}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}`,
  flags: FERRY_NODE_FLAGS,
  memcg: /** @type {string | undefined} */ (undefined),
  memcgStats: /** @type {unknown} */ (undefined),
  deps: opt['skip-deps'] ? [] : deps(),
  runs: /** @type {unknown[]} */ ([]),
};

if (!opt['deps-only']) {
  if (!opt['idle-only']) requireWrk();
  const work = mkdtempSync(join(tmpdir(), 'ferry-mem-'));
  const bodies = writeBodies(work);
  const probeDir = join(work, 'probe');
  mkdirSync(probeDir);
  const port = 18700 + Math.floor(Math.random() * 90);
  const cfgFile = join(work, 'ferry.yaml');
  const extra = JSON.parse(opt['config-extra']);
  /** @type {Record<string, any>} */
  const cfg = {
    state_dir: work,
    listen: { host: '127.0.0.1', port },
    http: { ack: 'durable' },
    workers: { threads: 1 },
    batch: { codec: 'lz4', max_age_ms: 200 },
    sinks: [{ name: 'local', type: 'directory', path: join(work, 'out') }],
    log: { level: 'info' },
  };
  for (const [k, v] of Object.entries(extra)) cfg[k] = { ...cfg[k], ...v };
  writeFileSync(cfgFile, JSON.stringify(cfg));
  const quota = cpuQuota(1);
  const memcg = opt.memory
    ? memoryCgroup(Number(opt.memory) * MiB, `ferry-mem-${process.pid}`)
    : undefined;
  /** @param {string[]} argv */
  const wrap = (argv) => quota.wrap(memcg ? memcg.wrap(argv) : argv);
  let flags = FERRY_NODE_FLAGS;
  /** @type {Record<string, string>} */
  let planEnv = {};
  if (memcg && process.env.BENCH_NODE_FLAGS === undefined) {
    // As the launcher: its default, then what node-flags.js picks inside the cgroup.
    const plan = launcherPlan(ROOT, wrap);
    flags = [...FERRY_NODE_FLAGS, ...plan.flags];
    planEnv = plan.env;
  }
  out.flags = [...flags, ...Object.entries(planEnv).map(([k, v]) => `${k}=${v}`)];
  out.memcg = memcg?.how;
  try {
    const p = await startServer({
      argv: [
        process.execPath,
        ...flags,
        '-r',
        join(ROOT, 'bench/lib/mem-probe.cjs'),
        'dist/src/cli.js',
        'run',
        '--config',
        cfgFile,
      ],
      env: { ...planEnv, BENCH_MEM_PROBE_DIR: probeDir },
      cwd: ROOT,
      readyMsg: 'ferry listening',
      wrap,
    });
    try {
      await new Promise((r) => setTimeout(r, 5000));
      out.runs.push(snapshot(p.pid, probeDir, 'idle 5 s after start'));
      if (!opt['idle-only']) {
        const r = wrk({
          url: `http://127.0.0.1:${port}/v1/events`,
          bodyFile: bodies.w1,
          seconds: Number(opt.duration),
          connections: Number(opt.connections),
        });
        await new Promise((res) => setTimeout(res, 400));
        out.runs.push({
          ...snapshot(
            p.pid,
            probeDir,
            `W1 lz4 → directory, ack=durable, 1 vCPU, ${opt.duration} s, wrk -c${opt.connections}`,
          ),
          requests: r.requests,
          non2xx: r.non2xx,
        });
      }
    } finally {
      await stopServer(p);
    }
  } finally {
    if (memcg) out.memcgStats = memcg.stats();
    memcg?.close();
    quota.close();
  }
}

if (opt.json) console.log(JSON.stringify(out));
else {
  const cg = out.memcg ? `; ${out.memcg}; at the end: ${JSON.stringify(out.memcgStats)}` : '';
  console.log(`Machine: ${out.machine}; node flags: ${out.flags.join(' ') || '(none)'}${cg}\n`);
  console.log(
    '| dependency (loaded alone, after gc) | RSS MiB | V8 heap used MiB |\n| --- | ---: | ---: |',
  );
  for (const d of out.deps)
    console.log(
      `| ${d.name} | ${d.name === '(bare node)' ? `${mib(d.abs)} (absolute)` : mib(d.rss)} | ${mib(d.heapUsed)} |`,
    );
  for (const r of /** @type {any[]} */ (out.runs)) {
    console.log(
      `\n### ${r.label}${r.requests ? ` (${r.requests} requests, ${r.non2xx} non-2xx)` : ''}\n`,
    );
    console.log(
      `VmHWM ${mib(r.status.vmHwm)} MiB, VmRSS ${mib(r.status.vmRss)} MiB (anon ${mib(r.status.rssAnon)}, file ${mib(r.status.rssFile)})\n`,
    );
    console.log(
      '| isolate | heapUsed now/peak | heapTotal now/peak | new space peak | old space peak | code peak | large obj peak | external now/peak | arrayBuffers now/peak | heap limit | malloced peak |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const i of r.isolates) {
      const n = i.now;
      const pk = i.peak;
      console.log(
        `| ${i.thread} | ${mib(n.heapUsed)} / ${mib(pk.heapUsed)} | ${mib(n.heapTotal)} / ${mib(pk.heapTotal)} | ${mib(pk['space.new_space'])} | ${mib(pk['space.old_space'])} | ${mib(pk['space.code_space'])} | ${mib(pk['space.large_object_space'])} | ${mib(n.external)} / ${mib(pk.external)} | ${mib(n.arrayBuffers)} / ${mib(pk.arrayBuffers)} | ${mib(n.heapSizeLimit)} | ${mib(pk.peakMallocedMemory)} |`,
      );
    }
    console.log(
      '\nanonymous mappings with ≥ 1 MiB touched (size / touched MiB; the rings are among them): ' +
        r.bigAnon.map((/** @type {any} */ m) => `${mib(m.size)}/${mib(m.rss)}`).join(', '),
    );
  }
}
