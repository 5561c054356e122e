// A memory limit for the process under test, without swap: cgroup v1 (memory.limit_in_bytes +
// memory.memsw.limit_in_bytes) or cgroup v2 (memory.max + memory.swap.max), made as a child of
// this process's own memory cgroup (from /proc/self/cgroup). Reports the peak (max_usage /
// memory.peak), how often the limit was hit and whether the OOM killer struck.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

/**
 * @typedef {object} MemoryCgroup
 * @property {string} how
 * @property {string} dir
 * @property {(argv: string[]) => string[]} wrap runs argv inside the cgroup (exec: same pid)
 * @property {() => { peakBytes: number, usageBytes: number, anonBytes: number, fileBytes: number, failcnt: number, oomKills: number }} stats
 *   usage counts the page cache the cgroup's writes brought in (reclaimable); anon does not
 * @property {() => void} close
 */

/** @param {string} f */
const read = (f) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * A cgroup limited to `bytes` of memory and no swap. Throws with the reason when neither
 * cgroup v1's memory controller nor cgroup v2 is writable here.
 * @param {number} bytes
 * @param {string} name
 * @returns {MemoryCgroup}
 */
export function memoryCgroup(bytes, name) {
  const lines = (read('/proc/self/cgroup') ?? '').trim().split('\n');
  const v1path = lines
    .map((l) => l.split(':'))
    .find((f) => f[1]?.split(',').includes('memory'))?.[2];
  const v2path = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const problems = [];
  if (v1path !== undefined && existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    const dir = `/sys/fs/cgroup/memory${v1path === '/' ? '' : v1path}/${name}`;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/memory.limit_in_bytes`, String(bytes));
      let swap = 'no swap accounting (the machine has no swap, or it is off)';
      if (existsSync(`${dir}/memory.memsw.limit_in_bytes`)) {
        writeFileSync(`${dir}/memory.memsw.limit_in_bytes`, String(bytes));
        swap = 'memsw = limit (no swap)';
      }
      return {
        how: `cgroup v1 ${dir}: memory.limit_in_bytes ${bytes}, ${swap}`,
        dir,
        wrap: (argv) => ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'sh', ...argv],
        stats: () => ({
          peakBytes: Number(read(`${dir}/memory.max_usage_in_bytes`)),
          usageBytes: Number(read(`${dir}/memory.usage_in_bytes`)),
          anonBytes: stat(`${dir}/memory.stat`, 'total_rss'),
          fileBytes: stat(`${dir}/memory.stat`, 'total_cache'),
          failcnt: Number(read(`${dir}/memory.failcnt`)),
          oomKills: Number(
            /oom_kill (\d+)/.exec(read(`${dir}/memory.oom_control`) ?? '')?.[1] ?? 0,
          ),
        }),
        close: () => rm(dir),
      };
    } catch (e) {
      problems.push(`cgroup v1 ${dir}: ${e instanceof Error ? e.message : e}`);
    }
  }
  if (v2path !== undefined && existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const parent = `/sys/fs/cgroup${v2path === '/' ? '' : v2path}`;
    const dir = `${parent}/${name}`;
    try {
      if (!(read(`${parent}/cgroup.controllers`) ?? '').split(/\s+/).includes('memory'))
        throw new Error(`no memory controller in ${parent}/cgroup.controllers`);
      writeFileSync(`${parent}/cgroup.subtree_control`, '+memory');
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/memory.max`, String(bytes));
      if (existsSync(`${dir}/memory.swap.max`)) writeFileSync(`${dir}/memory.swap.max`, '0');
      /** @param {string} k */
      const ev = (k) =>
        Number(new RegExp(`^${k} (\\d+)`, 'm').exec(read(`${dir}/memory.events`) ?? '')?.[1] ?? 0);
      return {
        how: `cgroup v2 ${dir}: memory.max ${bytes}, memory.swap.max 0`,
        dir,
        wrap: (argv) => ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'sh', ...argv],
        stats: () => ({
          peakBytes: Number(read(`${dir}/memory.peak`) ?? NaN),
          usageBytes: Number(read(`${dir}/memory.current`)),
          anonBytes: stat(`${dir}/memory.stat`, 'anon'),
          fileBytes: stat(`${dir}/memory.stat`, 'file'),
          failcnt: ev('max'),
          oomKills: ev('oom_kill'),
        }),
        close: () => rm(dir),
      };
    } catch (e) {
      problems.push(`cgroup v2 ${dir}: ${e instanceof Error ? e.message : e}`);
    }
  }
  throw new Error(
    `no writable memory cgroup here (need root and cgroup v1's memory controller or cgroup v2 with memory delegated): ${problems.join('; ') || 'no memory cgroup mounted'}`,
  );
}

/** @param {string} file a memory.stat @param {string} key */
function stat(file, key) {
  return Number(new RegExp(`^${key} (\\d+)`, 'm').exec(read(file) ?? '')?.[1] ?? NaN);
}

/** @param {string} dir */
function rm(dir) {
  for (let i = 0; i < 20; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      // the killed process is still leaving it
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}
