// Process figures from /proc: CPU time of all threads, peak RSS; and starting a server.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/**
 * Node flags the packaged launcher (packaging/files/ferry) runs ferry with: the bench uses the
 * same. BENCH_NODE_FLAGS (space-separated, may be empty) replaces them to measure others.
 */
export const FERRY_NODE_FLAGS =
  process.env.BENCH_NODE_FLAGS !== undefined
    ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
    : ['--max-semi-space-size=4'];

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * utime + stime of every thread of pid, in seconds (or only one of them).
 * @param {number} pid
 * @param {'both' | 'user' | 'system'} [which]
 */
export function cpuSeconds(pid, which = 'both') {
  const { user, system } = statTimes(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (which === 'user' ? user : which === 'system' ? system : user + system) / CLK_TCK;
}

/** utime and stime (clock ticks) of a /proc stat line (the command name may hold spaces). @param {string} stat */
function statTimes(stat) {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]), system: Number(rest[12]) };
}

/**
 * utime + stime in seconds of each thread of pid (by thread id), and the context switches
 * (voluntary + involuntary) of all of them together.
 * @param {number} pid
 */
export function threadCpu(pid) {
  /** @type {Map<string, number>} */
  const cpu = new Map();
  let switches = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { user, system } = statTimes(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      cpu.set(tid, (user + system) / CLK_TCK);
      for (const line of readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8').split('\n'))
        if (line.includes('ctxt_switches:')) switches += Number(line.split(/\s+/)[1]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return { cpu, switches };
}

/** @param {number} pid */
export function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no VmHWM line`);
  return Number(m[1]) / 1024;
}

/**
 * A started server: spawned and ready, so it has a pid.
 * @typedef {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, null> & { pid: number }} Server
 */

/**
 * Start argv and resolve once its stdout shows readyMsg. `wrap` (e.g. a cgroup quota) turns
 * argv into the command actually run; the returned pid is the server's own (exec'd).
 * @param {object} o
 * @param {string[]} o.argv
 * @param {Record<string, string | undefined>} [o.env]
 * @param {string} [o.cwd]
 * @param {string} o.readyMsg
 * @param {(argv: string[]) => string[]} [o.wrap]
 * @returns {Promise<Server>}
 */
export async function startServer({ argv, env = {}, cwd, readyMsg, wrap = (a) => a }) {
  const cmd = wrap(argv);
  const p = spawn(cmd[0], cmd.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  /** @type {Promise<void>} */
  const ready = new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(
      () => rej(new Error(`${argv.join(' ')}: not ready after 30 s`)),
      30000,
    );
    p.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes(readyMsg)) {
        clearTimeout(timer);
        res();
      }
    });
    p.once('exit', (c) => {
      clearTimeout(timer);
      rej(new Error(`${argv.join(' ')} exited ${c}`));
    });
  });
  await ready;
  p.stdout.resume();
  // It printed readyMsg, so it was spawned: it has a pid.
  return /** @type {Server} */ (p);
}

/** @param {import('node:child_process').ChildProcess} p */
export async function stopServer(p) {
  p.kill('SIGTERM');
  /** @type {Promise<void>} */
  const exited = new Promise((res) => {
    if (p.exitCode !== null) return res();
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      res();
    }, 30000);
    p.once('exit', () => {
      clearTimeout(t);
      res();
    });
  });
  await exited;
}
