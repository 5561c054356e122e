/**
 * Clean Debian 12 roots for the packaging tests: a copy of the debootstrap base that
 * rootfs.sh caches, with /proc mounted, commands run in it with chroot(8), and ferry
 * started in it as the `ferry` user. Needs root (chroot, mount) — the tests say so and fail
 * rather than skip under CI.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import process from 'node:process';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CACHE = process.env.FERRY_PKG_CACHE || join(ROOT, '.cache', 'packaging');
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why these tests cannot run here, or '' when they can (root, debootstrap, chroot). */
export function missingPrerequisite(): string {
  if (process.getuid?.() !== 0) return 'the packaging tests need root (chroot, mount, debootstrap)';
  for (const tool of ['debootstrap', 'chroot', 'dpkg-deb', 'mount', 'lintian']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (bash scripts/setup-test-deps.sh)`;
  }
  return '';
}

/** Runs a command; throws with its output unless it exits 0 (or `allowFail`). */
export function sh(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    timeout: opts.timeout ?? 10 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (!opts.allowFail && r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    );
  return r;
}

/** The cached debootstrap base for `arch` (made on first use, ~2 min with a fast mirror). */
export function baseRoot(arch: 'amd64' | 'arm64'): string {
  return sh('sh', [join(ROOT, 'test', 'packaging', 'rootfs.sh'), arch], {
    timeout: 30 * 60_000,
  }).stdout.trim();
}

/** An artefact built by the global setup (test/packaging/artefacts.ts) for this run. */
export function artefact(file: string): string {
  const dir = process.env.FERRY_TEST_PKG_DIR;
  if (!dir)
    throw new Error('FERRY_TEST_PKG_DIR is unset: run these tests with npm run test:packaging');
  const p = join(dir, file);
  if (!existsSync(p)) throw new Error(`${p} was not built`);
  return p;
}

export const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

export interface Root {
  dir: string;
  /** chroot DIR argv… (as root, or as the ferry user) */
  run(
    argv: string[],
    opts?: { user?: string; allowFail?: boolean; env?: Record<string, string> },
  ): SpawnSyncReturns<string>;
  /** Copies a host file into the root; returns its path inside. */
  put(hostFile: string, inside: string): string;
  /** Unmounts and deletes the copy. */
  destroy(): void;
}

/** A fresh copy of the base root with /proc mounted. */
export function freshRoot(arch: 'amd64', name: string): Root {
  const base = baseRoot(arch);
  const dir = join(CACHE, 'roots', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  sh('cp', ['-a', '--reflink=auto', base, dir]);
  sh('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
  const env = (extra: Record<string, string> = {}) => ({
    PATH,
    LANG: 'C.UTF-8',
    HOME: '/root',
    DEBIAN_FRONTEND: 'noninteractive',
    ...extra,
  });
  return {
    dir,
    run(argv, opts = {}) {
      const pre = opts.user ? [`--userspec=${opts.user}:${opts.user}`] : [];
      return sh('chroot', [...pre, dir, ...argv], {
        allowFail: opts.allowFail,
        env: env(opts.env),
      });
    },
    put(hostFile, inside) {
      cpSync(hostFile, join(dir, inside));
      return inside;
    },
    destroy() {
      spawnSync('umount', ['-l', join(dir, 'proc')]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A free TCP port on 127.0.0.1 (the root shares the host's network). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface Running {
  proc: ChildProcess;
  port: number;
  output(): string;
  stop(): Promise<number | null>;
}

/**
 * Starts `argv` (ferry run …, as the ferry user by default) inside the root with the listen
 * port overridden from the environment, and waits for /readyz (or /healthz: with a sink
 * down on purpose ferry listens but is rightly not ready).
 */
export async function startFerry(
  root: { dir: string },
  argv: string[],
  opts: {
    user?: string | null;
    env?: Record<string, string>;
    waitFor?: '/readyz' | '/healthz';
  } = {},
): Promise<Running> {
  const port = await freePort();
  const user = opts.user === undefined ? 'ferry' : opts.user;
  const pre = user ? [`--userspec=${user}:${user}`] : [];
  const env = { PATH, LANG: 'C.UTF-8', FERRY_LISTEN__PORT: String(port), ...opts.env };
  const proc = spawn('chroot', [...pre, root.dir, ...argv], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`ferry exited ${proc.exitCode} before it was ready:\n${out.slice(-4000)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}${opts.waitFor ?? '/readyz'}`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`ferry not ready within 120 s:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    proc,
    port,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 90_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** POSTs `n` NDJSON events; returns the HTTP status. */
export async function postEvents(port: number, n: number, tag: string): Promise<number> {
  const body = Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i })).join('\n') + '\n';
  // ack=delivered: the callers look for the events in the sinks right after the answer.
  const r = await fetch(`http://127.0.0.1:${port}/v1/events?ack=delivered`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
  });
  await r.arrayBuffer();
  return r.status;
}
