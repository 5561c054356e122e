import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { FerryConfig } from './types.js';

const MiB = 1024 * 1024;

/** The memory this process may use and where that figure came from (for `ferry config check`). */
export interface MemoryLimit {
  bytes: number;
  source: string;
}

/** Where the cgroup files are (a fake tree in tests). */
export interface CgroupPaths {
  /** Contents of /proc/self/cgroup. */
  procSelfCgroup?: string;
  /** The cgroup mount, /sys/fs/cgroup. */
  root?: string;
  /** The machine's memory, os.totalmem(). */
  machine?: number;
}

/**
 * Memory this process may use: the machine's, lowered by the tightest cgroup limit on its
 * cgroup and its ancestors — v2 memory.max / memory.high, v1 memory.limit_in_bytes (and
 * memsw, when set lower) — as systemd's MemoryMax= or a container's --memory set it.
 */
export function availableMemory(p: CgroupPaths = {}): MemoryLimit {
  const machine = p.machine ?? totalmem();
  const root = p.root ?? '/sys/fs/cgroup';
  let lines: string[] = [];
  try {
    lines = (p.procSelfCgroup ?? readFileSync('/proc/self/cgroup', 'utf8')).trim().split('\n');
  } catch {
    // not Linux, or no procfs
  }
  const read = (f: string): number | undefined => {
    try {
      const t = readFileSync(f, 'utf8').trim();
      // v2 writes "max"; v1 writes PAGE_COUNTER_MAX (~2^63) for "no limit".
      const n = Number(t);
      return t !== 'max' && Number.isFinite(n) && n > 0 && n < 2 ** 60 ? n : undefined;
    } catch {
      return undefined;
    }
  };
  let best: MemoryLimit = { bytes: machine, source: 'the machine (no cgroup memory limit)' };
  const consider = (file: string, label: string): void => {
    const n = read(file);
    if (n !== undefined && n < best.bytes) best = { bytes: n, source: `${label} (${file})` };
  };
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'))?.[2];
  if (v1 !== undefined) {
    for (const d of ancestors(`${root}/memory`, v1)) {
      consider(`${d}/memory.limit_in_bytes`, 'cgroup v1 memory.limit_in_bytes');
      consider(`${d}/memory.memsw.limit_in_bytes`, 'cgroup v1 memory.memsw.limit_in_bytes');
    }
  }
  if (v2 !== undefined) {
    for (const d of ancestors(root, v2)) {
      consider(`${d}/memory.max`, 'cgroup v2 memory.max');
      consider(`${d}/memory.high`, 'cgroup v2 memory.high');
    }
  }
  return best;
}

/** root/path, root/parent-of-path, …, root. */
function ancestors(root: string, path: string): string[] {
  const out: string[] = [];
  const parts = path.split('/').filter(Boolean);
  for (let i = parts.length; i >= 0; i--) out.push([root, ...parts.slice(0, i)].join('/'));
  return out;
}

/** What the memory sizes each auto (`0`) key to, and the heap caps it gives each isolate. */
export interface MemoryPlan {
  memory: MemoryLimit;
  /** small (< 384 MiB), medium (< 1 GiB), large: the tier the figures below come from. */
  tier: 'small' | 'medium' | 'large';
  ringBytes: number;
  maxInflightBatches: number;
  maxBodyBytes: number;
  maxDecompressedBytes: number;
  /** Worker threads' `resourceLimits`. */
  workerHeap: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number };
  /** Node flags for the main thread; only a launcher can apply them (packaging/files/ferry). */
  mainNodeFlags: string[];
  /**
   * Environment for the process, set by the launcher before Node starts (glibc reads it once):
   * MALLOC_ARENA_MAX=2 on small and medium nodes, where glibc's per-thread arenas (up to 8 per
   * core) measured ~6 MiB of peak RSS for no measurable gain (docs/tuning.md "Memory").
   */
  env: Record<string, string>;
}

const pow2Floor = (n: number): number => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/**
 * The sizes for `memory` bytes and `threads` workers. On a large node (≥ 1 GiB) they are the
 * defaults ferry always had (16 MiB rings, 4 in-flight batches, 4 MiB bodies, worker heaps
 * 128 + 16 MiB) and a main semi-space of 4 MiB: from 6 MiB up, V8 (Node 20 and 24) keeps
 * restarting major GCs on the main thread — about ten a second with a 13 MiB old generation
 * (docs/tuning.md, "The main thread's semi-space"). Below, every per-worker buffer shrinks with the memory
 * per worker, so a 256 MiB node peaks well under its limit (docs/tuning.md "Memory").
 */
export function planMemory(memory: MemoryLimit, threads: number): MemoryPlan {
  const m = memory.bytes;
  const tier = m < 384 * MiB ? 'small' : m < 1024 * MiB ? 'medium' : 'large';
  // A ring per worker: 1/64 of the memory each, 1–16 MiB (power of two, as the ring rounds).
  const ringBytes = Math.min(16 * MiB, Math.max(MiB, pow2Floor(m / 64 / Math.max(1, threads))));
  // A body is at most a quarter of a ring (the ring must hold two, plus headers).
  const maxBodyBytes = Math.min(4 * MiB, ringBytes / 4);
  return {
    memory,
    tier,
    ringBytes,
    maxInflightBatches: tier === 'small' ? 2 : tier === 'medium' ? 3 : 4,
    maxBodyBytes,
    maxDecompressedBytes: 4 * maxBodyBytes,
    workerHeap:
      tier === 'small'
        ? { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 6 }
        : tier === 'medium'
          ? { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 12 }
          : { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 },
    mainNodeFlags:
      tier === 'small'
        ? ['--max-semi-space-size=2', '--max-old-space-size=96']
        : tier === 'medium'
          ? ['--max-semi-space-size=4', '--max-old-space-size=192']
          : ['--max-semi-space-size=4'],
    env: tier === 'large' ? {} : { MALLOC_ARENA_MAX: '2' },
  };
}

/** The config keys the plan fills when they are `0`. */
const AUTO_KEYS = [
  'workers.ring_bytes',
  'workers.max_inflight_batches',
  'http.max_body_bytes',
  'http.max_decompressed_bytes',
] as const;
export type AutoKey = (typeof AUTO_KEYS)[number];

/** What applyMemoryPlan chose for a config: the plan, and which keys it filled. */
export interface AppliedPlan {
  plan: MemoryPlan;
  auto: AutoKey[];
}
const applied = new WeakMap<FerryConfig, AppliedPlan>();

/**
 * Fill the `0` (auto) memory keys of cfg from the plan for this node, keeping an operator's
 * values and what they imply (an explicit body limit gets a ring that holds it; an explicit
 * ring, a body limit that fits it). Needs workers.threads resolved.
 */
export function applyMemoryPlan(cfg: FerryConfig, memory = availableMemory()): AppliedPlan {
  const plan = planMemory(memory, cfg.workers.threads);
  const auto: AutoKey[] = [];
  const w = cfg.workers;
  const h = cfg.http;
  if (w.max_inflight_batches === 0) {
    w.max_inflight_batches = plan.maxInflightBatches;
    auto.push('workers.max_inflight_batches');
  }
  if (w.ring_bytes === 0) {
    // Room for two of the largest bodies plus their record headers.
    w.ring_bytes = h.max_body_bytes
      ? Math.max(plan.ringBytes, 2 ** Math.ceil(Math.log2(2 * (h.max_body_bytes + 4096))))
      : plan.ringBytes;
    auto.push('workers.ring_bytes');
  }
  if (h.max_body_bytes === 0) {
    h.max_body_bytes = Math.min(plan.maxBodyBytes, pow2Floor(w.ring_bytes / 4));
    auto.push('http.max_body_bytes');
  }
  if (h.max_decompressed_bytes === 0) {
    h.max_decompressed_bytes = Math.max(h.max_body_bytes, plan.maxDecompressedBytes);
    auto.push('http.max_decompressed_bytes');
  }
  const a = { plan, auto };
  applied.set(cfg, a);
  return a;
}

/** The plan applyMemoryPlan used for cfg (undefined for a config built without the loader). */
export function appliedMemoryPlan(cfg: FerryConfig): AppliedPlan | undefined {
  return applied.get(cfg);
}

/** Explicit values below these are refused (0 means auto). */
export function checkMemoryKeys(cfg: FerryConfig): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const min = (path: string, v: number, lo: number): void => {
    if (v !== 0 && v < lo) out.push({ path, message: `must be 0 (auto) or at least ${lo}` });
  };
  min('workers.ring_bytes', cfg.workers.ring_bytes, 65536);
  min('http.max_body_bytes', cfg.http.max_body_bytes, 1024);
  min('http.max_decompressed_bytes', cfg.http.max_decompressed_bytes, 1024);
  return out;
}

const fmtMiB = (n: number): string =>
  n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;

/** The lines `ferry config check` prints: the memory, what each key became and why. */
export function describeMemoryPlan(cfg: FerryConfig, a: AppliedPlan): string[] {
  const { plan, auto } = a;
  const how = (k: AutoKey): string => (auto.includes(k) ? 'auto' : 'set');
  return [
    `memory: ${fmtMiB(plan.memory.bytes)} from ${plan.memory.source}; ${cfg.workers.threads} worker(s), tier ${plan.tier}`,
    `  workers.ring_bytes ${fmtMiB(cfg.workers.ring_bytes)} (${how('workers.ring_bytes')}), workers.max_inflight_batches ${cfg.workers.max_inflight_batches} (${how('workers.max_inflight_batches')})`,
    `  http.max_body_bytes ${fmtMiB(cfg.http.max_body_bytes)} (${how('http.max_body_bytes')}), http.max_decompressed_bytes ${fmtMiB(cfg.http.max_decompressed_bytes)} (${how('http.max_decompressed_bytes')})`,
    `  worker heap: old ${plan.workerHeap.maxOldGenerationSizeMb} MiB, young ${plan.workerHeap.maxYoungGenerationSizeMb} MiB; main thread (launcher): ${[...plan.mainNodeFlags, ...Object.entries(plan.env).map(([k, v]) => `${k}=${v}`)].join(' ')}`,
  ];
}
