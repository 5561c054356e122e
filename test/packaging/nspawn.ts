/**
 * A clean Debian 12 root booted with systemd as its PID 1 (systemd-nspawn --boot, its own
 * network namespace with only loopback), so the maintainer scripts' systemd branch —
 * daemon-reload, start, restart on upgrade, stop on remove — runs for real. Commands go in
 * with nsenter; HTTP goes to the container's loopback through `nsenter -n curl` (host curl).
 *
 * --register=no --keep-unit: no systemd-machined or host systemd is needed (the CI machine
 * has neither as PID 1).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { CACHE, baseRoot, sh } from './chroot.js';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Booted {
  dir: string;
  /** A command inside every namespace of the container (as root). */
  run(argv: string[], opts?: { allowFail?: boolean }): SpawnSyncReturns<string>;
  /** `systemctl show ferry -p KEY` values. */
  show(...keys: string[]): Record<string, string>;
  /** curl (the host's) in the container's network namespace. */
  curl(args: string[]): SpawnSyncReturns<string>;
  /** Copies a host file into the root (not /tmp: that is a tmpfs once booted). */
  put(hostFile: string, inside: string): string;
  shutdown(): Promise<void>;
}

export function nspawnMissing(): string {
  return spawnSync('systemd-nspawn', ['--version']).status === 0
    ? ''
    : 'systemd-nspawn is not installed (apt-get install systemd-container; scripts/setup-test-deps.sh does)';
}

export async function bootRoot(name: string): Promise<Booted> {
  const dir = join(CACHE, 'roots', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  sh('cp', ['-a', '--reflink=auto', baseRoot('amd64'), dir]);
  const proc: ChildProcess = spawn(
    'systemd-nspawn',
    [
      '-D',
      dir,
      '--boot',
      '--register=no',
      '--keep-unit',
      '--private-network',
      '--console=pipe',
      '-q',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));

  // The container's PID 1 is the child of nspawn that runs systemd. Before it execs systemd a
  // child may still be nspawn's own (its comm is not "systemd"), and entering that one's
  // namespaces is entering none of the container's: look until the child is systemd, and look
  // again whenever entering fails.
  const systemdChild = (): number => {
    const r = spawnSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' });
    for (const pid of r.stdout.trim().split('\n').map(Number).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd') return pid;
      } catch {
        // gone since pgrep saw it
      }
    }
    return 0;
  };
  let init = 0;
  const deadline = Date.now() + 180_000;
  const enter = (argv: string[], opts: { allowFail?: boolean; ns?: string } = {}) =>
    sh('nsenter', ['-t', String(init), opts.ns ?? '-a', ...argv], {
      allowFail: opts.allowFail,
      env: { PATH, LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' },
    });
  let last = '';
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`systemd-nspawn exited ${proc.exitCode}:\n${log.slice(-3000)}`);
    init = systemdChild();
    if (init) {
      const r = enter(['systemctl', 'is-system-running', '--wait'], { allowFail: true });
      const state = r.stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      last = `${state} ${r.stderr.trim()}`.trim();
    } else last = 'no systemd child of systemd-nspawn yet';
    if (Date.now() > deadline) {
      // Not left running behind a failed suite (its afterAll has no container to shut down).
      proc.kill('SIGKILL');
      throw new Error(`systemd in the container did not come up (${last}):\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    dir,
    run: (argv, opts = {}) => enter(argv, opts),
    show(...keys) {
      const out = enter([
        'systemctl',
        'show',
        'ferry.service',
        ...keys.map((k) => `-p${k}`),
      ]).stdout;
      return Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
    },
    curl: (args) =>
      sh('nsenter', ['-t', String(init), '-n', 'curl', '-sS', '--max-time', '60', ...args], {
        allowFail: true,
      }),
    put(hostFile, inside) {
      cpSync(hostFile, join(dir, inside));
      return inside;
    },
    async shutdown() {
      if (proc.exitCode === null) proc.kill('SIGTERM'); // nspawn asks the container's systemd to power off
      const t = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
