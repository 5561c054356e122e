#!/usr/bin/env node
// Workload W1: HTTP NDJSON, 100 events × ~350 B per request, driven by wrk.
// For each target: events/s, events per CPU-second of the server process (all threads,
// utime+stime from /proc), p50/p99 latency, peak RSS, errors — beside the node:http
// baseline measured in the same run. Prints a Markdown table; --write updates bench/RESULTS.md.
//
// usage: npm run build && node bench/w1.mjs [--duration 15] [--connections 16] [--write]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({ options: { duration: { type: 'string', default: '15' }, connections: { type: 'string', default: '16' }, write: { type: 'boolean', default: false }, only: { type: 'string' } } });
const DURATION = Number(opt.duration);
const CONNS = Number(opt.connections);
const EVENTS_PER_REQ = 100;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

try { execFileSync('wrk', ['--version'], { stdio: 'ignore' }); } catch (e) { if (e.code === 'ENOENT') { console.error('bench: wrk is required (apt-get install wrk, or bash scripts/setup-test-deps.sh)'); process.exit(2); } }

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const bodyFile = join(work, 'body.ndjson');
const lines = [];
for (let i = 0; i < EVENTS_PER_REQ; i++) {
  lines.push(JSON.stringify({ ts: 1732350000000 + i, user: `user-${i % 97}`, kind: 'page_view', path: `/products/${i % 13}/details`, referrer: 'https://example.com/search?q=ferry', ua: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', session: `s-${(i * 7919) % 100000}`, value: i * 1.5, tags: ['web', 'eu-west', `ab-${i % 4}`], note: 'n'.repeat(60) }));
}
writeFileSync(bodyFile, lines.join('\n') + '\n');
const avgEvent = Math.round(readFileSync(bodyFile).length / EVENTS_PER_REQ);

const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime, all threads
};
const peakRssMiB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer(argv, env, readyMsg) {
  const p = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((res, rej) => {
    let buf = '';
    p.stdout.on('data', (d) => { buf += d; if (buf.includes(readyMsg)) res(); });
    p.once('exit', (c) => rej(new Error(`${argv.join(' ')} exited ${c}`)));
    setTimeout(() => rej(new Error('server did not start')), 20000);
  });
  p.stdout.resume();
  return p;
}

function wrk(url, seconds) {
  const out = execFileSync('wrk', ['-t2', `-c${CONNS}`, `-d${seconds}s`, '--latency', '-s', join(ROOT, 'bench', 'post.lua'), url], {
    env: { ...process.env, BODY_FILE: bodyFile }, encoding: 'utf8',
  });
  const num = (re) => { const m = re.exec(out); return m ? m[1] : undefined; };
  const toMs = (s) => { if (!s) return NaN; const v = parseFloat(s); return s.endsWith('us') ? v / 1000 : s.endsWith('ms') ? v : s.endsWith('s') ? v * 1000 : v; };
  const requests = Number(num(/(\d+) requests in/));
  const non2xx = Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0);
  const errors = out.match(/Socket errors: (.*)/)?.[1];
  return { requests, non2xx, errors, p50: toMs(num(/^\s+50%\s+(\S+)/m)), p99: toMs(num(/^\s+99%\s+(\S+)/m)), raw: out };
}

async function measure(name, argv, env, readyMsg, path) {
  const port = 18900 + Math.floor(Math.random() * 90);
  const p = await startServer(argv.map((a) => a.replace('$PORT', String(port))), { ...env, FERRY_LISTEN__PORT: String(port) }, readyMsg);
  const url = `http://127.0.0.1:${port}${path}`;
  wrk(url, 3); // warm-up
  const t0 = cpuTicks(p.pid);
  const r = wrk(url, DURATION);
  const cpuSec = (cpuTicks(p.pid) - t0) / CLK_TCK;
  const rss = peakRssMiB(p.pid);
  p.kill('SIGTERM');
  await new Promise((res) => { p.once('exit', res); setTimeout(() => { p.kill('SIGKILL'); res(); }, 30000); });
  const okEvents = (r.requests - r.non2xx) * EVENTS_PER_REQ;
  return { name, eventsPerSec: okEvents / DURATION, eventsPerCpuSec: okEvents / cpuSec, cpuSec, p50: r.p50, p99: r.p99, rss, errors: r.non2xx + (r.errors ? ` (${r.errors})` : '') };
}

const ferry = (ack, codec, extra = {}) => ({
  argv: [process.execPath, 'dist/src/cli.js', 'run', '--config', join(ROOT, 'config', 'ferry.yaml')],
  env: { FERRY_STATE_DIR: join(work, `state-${ack}-${codec}`), FERRY_HTTP__ACK: ack, FERRY_BATCH__CODEC: codec, FERRY_LOG__LEVEL: 'warn', ...extra },
  ready: '"port"',
});

const targets = [
  ['baseline node:http (parse + lz4)', { argv: [process.execPath, 'bench/baseline-server.mjs', '$PORT'], env: {}, ready: 'listening' }, '/'],
  ['ferry ack=accepted, lz4 → directory', ferry('accepted', 'lz4'), '/v1/events'],
  ['ferry ack=accepted, lz4 → directory, 2 workers', ferry('accepted', 'lz4', { FERRY_WORKERS__THREADS: '2' }), '/v1/events'],
  // A durable request waits for its batch to seal: with 16 connections, max_age bounds the rate.
  ['ferry ack=durable (max_age 50 ms), lz4 → directory', ferry('durable', 'lz4', { FERRY_BATCH__MAX_AGE_MS: '50' }), '/v1/events'],
  ['ferry ack=durable (max_age 50 ms), gzip → directory', ferry('durable', 'gzip', { FERRY_BATCH__MAX_AGE_MS: '50' }), '/v1/events'],
].filter(([n]) => !opt.only || n.includes(opt.only));

// ferry logs at warn: wait for its first line differently — it prints nothing at warn until ready.
for (const t of targets) if (t[1].env.FERRY_LOG__LEVEL) { t[1].env.FERRY_LOG__LEVEL = 'info'; t[1].ready = 'ferry listening'; }

const results = [];
for (const [name, t, path] of targets) {
  process.stderr.write(`bench: ${name} …\n`);
  results.push(await measure(name, t.argv, t.env, t.ready, path));
}
const base = results.find((r) => r.name.startsWith('baseline'));
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
const table = [
  '| target | events/s | events per CPU-second | vs baseline (per CPU-s) | p50 ms | p99 ms | peak RSS MiB | non-2xx |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map((r) => `| ${r.name} | ${fmt(r.eventsPerSec)} | ${fmt(r.eventsPerCpuSec)} | ${base ? fmt((100 * r.eventsPerCpuSec) / base.eventsPerCpuSec) + ' %' : '–'} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rss)} | ${r.errors} |`),
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const header = `W1: HTTP NDJSON, ${EVENTS_PER_REQ} events × ~${avgEvent} B per request; wrk -t2 -c${CONNS} -d${DURATION}s on the same machine (load generator not counted in CPU-seconds).\nMachine: ${machine}`;
console.log(`${header}\n\n${table}`);
if (opt.write) {
  writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), `# Bench results (last full run)\n\nCommand: \`npm run build && node bench/w1.mjs --write\`\n\n${header}\n\n${table}\n\nferry runs with the shipped \`config/ferry.yaml\` (workers = vCPUs − 1, at least 1; batch 5000 events / 1 s, directory sink under a temp dir) and its defaults changed only by the environment shown in each row.\nThe machine is shared and has 2 cores that wrk also uses: read the ratios, not the absolute figures.\n`);
}
