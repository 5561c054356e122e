import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/**
 * vCPUs this process may use: the CPU count, lowered by a cgroup quota
 * (cgroup v2 cpu.max or v1 cfs_quota_us) as systemd's CPUQuota= or a
 * container's --cpus set it. Fractions round up: 0.25 vCPU → 1.
 */
export function availableVcpus(): number {
  const n = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  const quota = cgroupQuota();
  return Math.max(1, quota ? Math.min(n, Math.ceil(quota)) : n);
}

/**
 * The tightest CPU quota on this process's cgroup and its ancestors, in vCPUs. The path comes
 * from /proc/self/cgroup, so a process placed in a child cgroup (systemd slice, bench quota)
 * sees its own limit; in a container the namespaced root files are read as before.
 */
function cgroupQuota(): number | undefined {
  let lines: string[] = [];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  } catch {
    // not Linux, or no procfs
  }
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('cpu'))?.[2];
  const read = (f: string): string | undefined => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const min = (
    dirs: string[],
    quotaOf: (dir: string) => number | undefined,
  ): number | undefined => {
    let best: number | undefined;
    for (const d of dirs) {
      const q = quotaOf(d);
      if (q !== undefined && (best === undefined || q < best)) best = q;
    }
    return best;
  };
  const v2Quota = (dir: string): number | undefined => {
    const [max, period] = (read(`${dir}/cpu.max`) ?? 'max').split(/\s+/);
    return max !== 'max' && Number(period) > 0 ? Number(max) / Number(period) : undefined;
  };
  const v1Quota = (dir: string): number | undefined => {
    const q = Number(read(`${dir}/cpu.cfs_quota_us`));
    const p = Number(read(`${dir}/cpu.cfs_period_us`));
    return q > 0 && p > 0 ? q / p : undefined;
  };
  const q2 = min(ancestors('/sys/fs/cgroup', v2), v2Quota);
  if (q2 !== undefined) return q2;
  return min(ancestors('/sys/fs/cgroup/cpu', v1), v1Quota);
}

/** root/path, root/parent-of-path, …, root (path from /proc/self/cgroup; undefined → root only). */
function ancestors(root: string, path: string | undefined): string[] {
  const out: string[] = [];
  const parts = (path ?? '/').split('/').filter(Boolean);
  for (let i = parts.length; i >= 0; i--) out.push([root, ...parts.slice(0, i)].join('/'));
  return out;
}

/**
 * Default worker threads: one per vCPU left after the main thread, which does
 * the HTTP work (at least one). The W1 bench on 2 vCPU measured 1 worker at
 * 68 % of the baseline's events per CPU-second against 52 % for 2 (bench/RESULTS.md).
 */
export function defaultWorkerThreads(): number {
  return Math.max(1, availableVcpus() - 1);
}
