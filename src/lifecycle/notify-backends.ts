/**
 * How a datagram reaches $NOTIFY_SOCKET on each runtime. Tried in this order:
 *
 *   addon           native/build/Release/sd_notify.node (N-API, C) — loads in Node, Bun and Deno;
 *                   sends from ferry's own PID, so `NotifyAccess=main` works.
 *   bun-ffi         Bun without the addon: libc socket()/sendto() through bun:ffi (same process).
 *   deno-ffi        Deno without the addon: libc through Deno.dlopen (needs --allow-ffi; -A has it).
 *   systemd-notify  Node without the addon (Node has no unix datagram socket and no FFI): spawns
 *                   `systemd-notify --pid=<ferry> VAR=VALUE…`, one at a time, in order. The datagram
 *                   then comes from the child's PID: systemd drops it under `NotifyAccess=main`
 *                   unless the child may claim ferry's PID (CAP_SYS_ADMIN) — so this backend needs
 *                   `NotifyAccess=all` (ferry logs a warning saying so).
 *
 * FERRY_NOTIFY_BACKEND=addon|bun-ffi|deno-ffi|systemd-notify forces one (tests, debugging).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import { errorMessage } from '../util/errors.js';

export type BackendName = 'addon' | 'bun-ffi' | 'deno-ffi' | 'systemd-notify';

export interface NotifyBackend {
  readonly name: BackendName;
  /** True when systemd accepts it under NotifyAccess=main (the datagram comes from ferry's PID). */
  readonly fromMainPid: boolean;
  /** Send one notify message ("READY=1\nSTATUS=…"). Errors are thrown (sync) or rejected. */
  send(socket: string, message: string): void | Promise<void>;
  /** CLOCK_MONOTONIC in µs (MONOTONIC_USEC=). */
  monotonicUsec(): number;
}

const ADDON_PATH = new URL('../../../native/build/Release/sd_notify.node', import.meta.url);
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const CLOCK_MONOTONIC = 1;

/** The sockaddr_un bytes for a $NOTIFY_SOCKET value (path, or '@' = abstract namespace). */
export function sockaddrUn(socket: string): Uint8Array {
  const path = new TextEncoder().encode(socket);
  if (path.length === 0 || path.length > 108)
    throw new RangeError(`NOTIFY_SOCKET must be 1..108 bytes, got ${path.length}`);
  if (socket[0] !== '/' && socket[0] !== '@')
    throw new RangeError('NOTIFY_SOCKET must be an absolute path or start with @');
  const abstract = socket[0] === '@';
  const len = 2 + path.length + (abstract || path.length === 108 ? 0 : 1);
  const addr = new Uint8Array(len);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, 2);
  if (abstract) addr[2] = 0;
  return addr;
}

type Addon = { send(socket: string, message: string): number; monotonicUsec(): number };

function addonBackend(): NotifyBackend | string {
  if (!existsSync(ADDON_PATH))
    return `addon not built (${ADDON_PATH.pathname}; npm run build:native)`;
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH.pathname) as Addon;
    if (typeof addon.send !== 'function' || typeof addon.monotonicUsec !== 'function')
      return 'addon has no send()/monotonicUsec()';
    return {
      name: 'addon',
      fromMainPid: true,
      send: (s, m) => void addon.send(s, m),
      monotonicUsec: () => addon.monotonicUsec(),
    };
  } catch (err) {
    return `addon does not load: ${errorMessage(err)}`;
  }
}

/** libc calls shared by the two FFI backends. */
interface Libc {
  socket(domain: number, type: number, proto: number): number;
  sendto(
    fd: number,
    buf: Uint8Array,
    len: number,
    flags: number,
    addr: Uint8Array,
    addrLen: number,
  ): number;
  close(fd: number): number;
  clockGettime(clock: number, ts: Uint8Array): number;
}

function libcBackend(name: 'bun-ffi' | 'deno-ffi', libc: Libc): NotifyBackend {
  return {
    name,
    fromMainPid: true,
    send(socket, message) {
      const addr = sockaddrUn(socket);
      const bytes = new TextEncoder().encode(message);
      const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw new Error('sd_notify: socket() failed');
      try {
        if (libc.sendto(fd, bytes, bytes.length, MSG_NOSIGNAL, addr, addr.length) < 0)
          throw new Error(`sd_notify: sendto(${socket}) failed`);
      } finally {
        libc.close(fd);
      }
    },
    monotonicUsec() {
      const ts = new Uint8Array(16);
      if (libc.clockGettime(CLOCK_MONOTONIC, ts) !== 0) throw new Error('clock_gettime failed');
      const v = new DataView(ts.buffer);
      return (
        Number(v.getBigInt64(0, true)) * 1e6 + Math.floor(Number(v.getBigInt64(8, true)) / 1000)
      );
    },
  };
}

async function bunFfiBackend(): Promise<NotifyBackend | string> {
  if (!(globalThis as { Bun?: unknown }).Bun) return 'not Bun';
  try {
    const spec = 'bun:ffi';
    const ffi = (await import(spec)) as {
      dlopen(
        lib: string,
        defs: Record<string, { args: string[]; returns: string }>,
      ): { symbols: Record<string, (...a: unknown[]) => number | bigint> };
    };
    const { symbols } = ffi.dlopen('libc.so.6', {
      socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
      sendto: { args: ['i32', 'ptr', 'u64', 'i32', 'ptr', 'u32'], returns: 'i64' },
      close: { args: ['i32'], returns: 'i32' },
      clock_gettime: { args: ['i32', 'ptr'], returns: 'i32' },
    });
    return libcBackend('bun-ffi', {
      socket: (d, t, p) => Number(symbols.socket(d, t, p)),
      sendto: (fd, buf, len, flags, addr, alen) =>
        Number(symbols.sendto(fd, buf, len, flags, addr, alen)),
      close: (fd) => Number(symbols.close(fd)),
      clockGettime: (c, ts) => Number(symbols.clock_gettime(c, ts)),
    });
  } catch (err) {
    return `bun:ffi: ${errorMessage(err)}`;
  }
}

function denoFfiBackend(): NotifyBackend | string {
  const Deno = (
    globalThis as {
      Deno?: {
        dlopen?: (
          lib: string,
          defs: Record<string, { parameters: string[]; result: string }>,
        ) => { symbols: Record<string, (...a: unknown[]) => number | bigint> };
      };
    }
  ).Deno;
  if (!Deno) return 'not Deno';
  if (typeof Deno.dlopen !== 'function') return 'Deno.dlopen is unavailable';
  try {
    const { symbols } = Deno.dlopen('libc.so.6', {
      socket: { parameters: ['i32', 'i32', 'i32'], result: 'i32' },
      sendto: { parameters: ['i32', 'buffer', 'usize', 'i32', 'buffer', 'u32'], result: 'isize' },
      close: { parameters: ['i32'], result: 'i32' },
      clock_gettime: { parameters: ['i32', 'buffer'], result: 'i32' },
    });
    return libcBackend('deno-ffi', {
      socket: (d, t, p) => Number(symbols.socket(d, t, p)),
      sendto: (fd, buf, len, flags, addr, alen) =>
        Number(symbols.sendto(fd, buf, BigInt(len), flags, addr, alen)),
      close: (fd) => Number(symbols.close(fd)),
      clockGettime: (c, ts) => Number(symbols.clock_gettime(c, ts)),
    });
  } catch (err) {
    return `Deno.dlopen(libc.so.6): ${errorMessage(err)} (run with --allow-ffi)`;
  }
}

function systemdNotifyBackend(): NotifyBackend {
  // One child at a time, so RELOADING=1 cannot overtake READY=1.
  let chain: Promise<void> = Promise.resolve();
  const once = (message: string) =>
    new Promise<void>((resolve, reject) => {
      const args = [`--pid=${process.pid}`, ...message.split('\n').filter(Boolean)];
      const child = spawn('systemd-notify', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`systemd-notify exited ${code}: ${err.trim()}`)),
      );
    });
  return {
    name: 'systemd-notify',
    fromMainPid: false,
    send(_socket, message) {
      // systemd-notify reads $NOTIFY_SOCKET itself.
      const p = chain.then(() => once(message));
      chain = p.catch(() => {});
      return p;
    },
    // uv_hrtime is CLOCK_MONOTONIC on Linux (this backend only runs on Node).
    monotonicUsec: () => Number(process.hrtime.bigint() / 1000n),
  };
}

function hasSystemdNotify(): boolean {
  return ['/usr/bin/systemd-notify', '/bin/systemd-notify'].some((p) => existsSync(p));
}

/** The first backend that works here, and why the ones before it did not. */
export async function pickBackend(
  forced?: string,
): Promise<{ backend?: NotifyBackend; skipped: string[] }> {
  const skipped: string[] = [];
  const tries: Array<
    [BackendName, () => NotifyBackend | string | Promise<NotifyBackend | string>]
  > = [
    ['addon', addonBackend],
    ['bun-ffi', bunFfiBackend],
    ['deno-ffi', denoFfiBackend],
    [
      'systemd-notify',
      () => (hasSystemdNotify() ? systemdNotifyBackend() : 'systemd-notify is not installed'),
    ],
  ];
  for (const [name, make] of tries) {
    if (forced && forced !== name) continue;
    const b = await make();
    if (typeof b !== 'string') return { backend: b, skipped };
    skipped.push(`${name}: ${b}`);
  }
  if (forced && !tries.some(([n]) => n === forced))
    skipped.push(
      `FERRY_NOTIFY_BACKEND=${forced} is not one of ${tries.map(([n]) => n).join(', ')}`,
    );
  return { skipped };
}
