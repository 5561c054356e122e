// CPU quotas for the process under test (the load generator stays outside): cgroup v2 cpu.max,
// cgroup v1 cpu.cfs_quota_us, or systemd-run --scope -p CPUQuota= where systemd runs.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const PERIOD_US = 100000;

/**
 * @typedef {object} CpuQuota
 * @property {string} how how the quota is set, for the report
 * @property {(argv: string[]) => string[]} wrap the command that runs argv under the quota
 * @property {() => void} close removes the quota's cgroup (if any)
 */

/** @returns {{ kind: 'v2' | 'v1', root: string } | { kind: 'systemd' } | undefined} */
function detect() {
  const v2 = '/sys/fs/cgroup';
  if (
    existsSync(`${v2}/cgroup.controllers`) &&
    readFileSync(`${v2}/cgroup.controllers`, 'utf8').split(/\s+/).includes('cpu')
  )
    return { kind: 'v2', root: v2 };
  if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'))
    return { kind: 'v1', root: '/sys/fs/cgroup/cpu' };
  try {
    if (existsSync('/run/systemd/system')) {
      execFileSync('systemd-run', ['--version'], { stdio: 'ignore' });
      return { kind: 'systemd' };
    }
  } catch {
    // no systemd-run
  }
  return undefined;
}

/**
 * A quota of `vcpus` CPUs: { how, wrap(argv) → argv, close() }. Throws with the reason when
 * this machine offers no way to set one (not root, no cgroup fs, no systemd).
 * @param {number} vcpus
 * @returns {CpuQuota}
 */
export function cpuQuota(vcpus) {
  const d = detect();
  if (!d)
    throw new Error(
      'no way to set a CPU quota here: need a writable cgroup (v1 or v2) or systemd-run',
    );
  const quotaUs = Math.round(vcpus * PERIOD_US);
  if (d.kind === 'systemd') {
    return {
      how: `systemd-run --scope -p CPUQuota=${Math.round(vcpus * 100)}%`,
      wrap: (argv) => [
        'systemd-run',
        '--scope',
        '--quiet',
        '-p',
        `CPUQuota=${Math.round(vcpus * 100)}%`,
        ...argv,
      ],
      close() {},
    };
  }
  const dir = `${d.root}/ferry-bench-${process.pid}-${String(vcpus).replace('.', '_')}`;
  mkdirSync(dir, { recursive: true });
  if (d.kind === 'v2') writeFileSync(`${dir}/cpu.max`, `${quotaUs} ${PERIOD_US}`);
  else {
    writeFileSync(`${dir}/cpu.cfs_period_us`, String(PERIOD_US));
    writeFileSync(`${dir}/cpu.cfs_quota_us`, String(quotaUs));
  }
  return {
    how:
      d.kind === 'v2'
        ? `cgroup v2 cpu.max ${quotaUs} ${PERIOD_US}`
        : `cgroup v1 cfs_quota_us ${quotaUs} / ${PERIOD_US}`,
    // The shell joins the cgroup, then becomes the server: its pid is the server's pid.
    wrap: (argv) => ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'sh', ...argv],
    close() {
      try {
        rmdirSync(dir);
      } catch {
        // still has a process (it is being killed): the next run cleans up nothing else
      }
    },
  };
}
