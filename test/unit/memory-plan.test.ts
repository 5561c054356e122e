import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyMemoryPlan,
  availableMemory,
  describeMemoryPlan,
  planMemory,
  type MemoryLimit,
} from '../../src/config/memory.js';
import { parseConfigText, ConfigError } from '../../src/config/load.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const mem = (bytes: number): MemoryLimit => ({ bytes, source: 'test' });

/** A fake cgroup mount: files under root, written from a {relative path: content} map. */
function fakeCgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ferry-cgroup-'));
  for (const [rel, text] of Object.entries(files)) {
    const f = join(root, rel);
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, text);
  }
  return root;
}

describe('availableMemory', () => {
  it('takes cgroup v2 memory.max of the process cgroup, or an ancestor, below the machine', () => {
    const root = fakeCgroup({
      'system.slice/memory.max': '536870912\n',
      'system.slice/ferry.service/memory.max': 'max\n',
    });
    const m = availableMemory({
      root,
      procSelfCgroup: '0::/system.slice/ferry.service\n',
      machine: 4 * GiB,
    });
    expect(m.bytes).toBe(512 * MiB);
    expect(m.source).toContain('cgroup v2 memory.max');
    expect(m.source).toContain('system.slice/memory.max');
  });

  it('takes the lower of v2 memory.high and memory.max', () => {
    const root = fakeCgroup({ 'a/memory.max': '536870912', 'a/memory.high': '268435456' });
    const m = availableMemory({ root, procSelfCgroup: '0::/a', machine: 4 * GiB });
    expect(m.bytes).toBe(256 * MiB);
    expect(m.source).toContain('memory.high');
  });

  it('takes cgroup v1 memory.limit_in_bytes, ignoring the "unlimited" counter value', () => {
    const root = fakeCgroup({
      'memory/memory.limit_in_bytes': '9223372036854771712',
      'memory/process_api/x/memory.limit_in_bytes': '9223372036854771712',
      'memory/process_api/x/ferry-256/memory.limit_in_bytes': '268435456',
      'memory/process_api/x/ferry-256/memory.memsw.limit_in_bytes': '268435456',
    });
    const m = availableMemory({
      root,
      procSelfCgroup: '4:memory:/process_api/x/ferry-256\n1:cpu:/\n0::/\n',
      machine: 24 * GiB,
    });
    expect(m.bytes).toBe(256 * MiB);
    expect(m.source).toContain('cgroup v1 memory.limit_in_bytes');
  });

  it('is the machine when no cgroup limits it (or there is no cgroup fs)', () => {
    const root = fakeCgroup({ 'memory/memory.limit_in_bytes': '9223372036854771712' });
    expect(
      availableMemory({ root, procSelfCgroup: '4:memory:/\n0::/\n', machine: 2 * GiB }),
    ).toEqual({ bytes: 2 * GiB, source: 'the machine (no cgroup memory limit)' });
    expect(availableMemory({ root: '/nonexistent', procSelfCgroup: '', machine: GiB }).bytes).toBe(
      GiB,
    );
  });

  it('a cgroup limit above the machine does not raise it', () => {
    const root = fakeCgroup({ 'memory.max': String(64 * GiB) });
    expect(availableMemory({ root, procSelfCgroup: '0::/', machine: 8 * GiB }).bytes).toBe(8 * GiB);
  });
});

describe('planMemory', () => {
  it('keeps the long-standing defaults on a large node', () => {
    const p = planMemory(mem(24 * GiB), 1);
    expect(p.tier).toBe('large');
    expect(p.ringBytes).toBe(16 * MiB);
    expect(p.maxInflightBatches).toBe(4);
    expect(p.maxBodyBytes).toBe(4 * MiB);
    expect(p.maxDecompressedBytes).toBe(16 * MiB);
    expect(p.workerHeap).toEqual({ maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 });
    expect(p.mainNodeFlags).toEqual(['--max-semi-space-size=4']);
  });

  it('shrinks every per-worker buffer on a 256 MiB node', () => {
    const p = planMemory(mem(256 * MiB), 1);
    expect(p.tier).toBe('small');
    expect(p.ringBytes).toBe(4 * MiB);
    expect(p.maxInflightBatches).toBe(2);
    expect(p.maxBodyBytes).toBe(1 * MiB);
    expect(p.maxDecompressedBytes).toBe(4 * MiB);
    expect(p.workerHeap.maxOldGenerationSizeMb).toBeLessThan(128);
    expect(p.mainNodeFlags).toContain('--max-semi-space-size=2');
    expect(p.mainNodeFlags.some((f) => f.startsWith('--max-old-space-size='))).toBe(true);
  });

  it('a 512 MiB node sits between', () => {
    const p = planMemory(mem(512 * MiB), 1);
    expect(p.tier).toBe('medium');
    expect(p.ringBytes).toBe(8 * MiB);
    expect(p.maxBodyBytes).toBe(2 * MiB);
    expect(p.maxInflightBatches).toBe(3);
  });

  it('divides the ring budget among workers, never below 1 MiB', () => {
    expect(planMemory(mem(1 * GiB), 4).ringBytes).toBe(4 * MiB);
    expect(planMemory(mem(256 * MiB), 8).ringBytes).toBe(1 * MiB);
  });

  it('a body always fits twice in a ring, with its record headers', () => {
    for (const m of [128 * MiB, 256 * MiB, 300 * MiB, 512 * MiB, 2 * GiB, 64 * GiB])
      for (const t of [1, 2, 3, 8]) {
        const p = planMemory(mem(m), t);
        expect(2 * (p.maxBodyBytes + 4096)).toBeLessThanOrEqual(p.ringBytes);
      }
  });
});

describe('applyMemoryPlan (config keys at 0 = auto)', () => {
  it('fills the auto keys and keeps the ones set, sizing the ring for an explicit body', () => {
    const cfg = parseConfigText('workers:\n  threads: 1\n', 'x', {});
    // Re-apply on a 256 MiB node with a body limit the operator set.
    cfg.workers.ring_bytes = 0;
    cfg.workers.max_inflight_batches = 0;
    cfg.http.max_decompressed_bytes = 0;
    cfg.http.max_body_bytes = 3 * MiB;
    const a = applyMemoryPlan(cfg, mem(256 * MiB));
    expect(cfg.http.max_body_bytes).toBe(3 * MiB);
    expect(cfg.workers.ring_bytes).toBe(8 * MiB);
    expect(cfg.http.max_decompressed_bytes).toBe(4 * MiB);
    expect(cfg.workers.max_inflight_batches).toBe(2);
    expect(a.auto).toEqual([
      'workers.max_inflight_batches',
      'workers.ring_bytes',
      'http.max_decompressed_bytes',
    ]);
    const text = describeMemoryPlan(cfg, a).join('\n');
    expect(text).toContain('256 MiB from test');
    expect(text).toContain('http.max_body_bytes 3 MiB (set)');
    expect(text).toContain('workers.ring_bytes 8 MiB (auto)');
  });

  it('an explicit ring gets a body limit that fits it', () => {
    const cfg = parseConfigText('workers:\n  threads: 1\n', 'x', {});
    cfg.workers.ring_bytes = 65536;
    cfg.http.max_body_bytes = 0;
    cfg.http.max_decompressed_bytes = 0;
    applyMemoryPlan(cfg, mem(24 * GiB));
    expect(cfg.http.max_body_bytes).toBe(16384);
    expect(cfg.http.max_decompressed_bytes).toBe(16 * MiB);
  });

  it('the loader refuses explicit values below the minimums, 0 stays allowed', () => {
    expect(() => parseConfigText('workers:\n  ring_bytes: 0\n', 'x', {})).not.toThrow();
    try {
      parseConfigText('workers:\n  ring_bytes: 1000\nhttp:\n  max_body_bytes: 10\n', 'x', {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).issues.map((i) => i.path);
      expect(paths).toContain('workers.ring_bytes');
      expect(paths).toContain('http.max_body_bytes');
    }
  });
});
