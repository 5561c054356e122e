/**
 * The sd_notify protocol against a real unix datagram socket the test listens on
 * (test/helpers/notify-listener.py — node:dgram has no AF_UNIX), with ferry started as a
 * real process on Node, Bun and Deno, the way systemd starts it: NOTIFY_SOCKET and
 * WATCHDOG_USEC in the environment.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  startFerryProcess,
  post,
  makeEvents,
  type Runtime,
  type FerryProc,
} from '../helpers/ferry-proc.js';
import {
  listenNotifySocket,
  type NotifyMessage,
  type NotifySocket,
} from '../helpers/notify-socket.js';
import { freePort } from '../helpers/net.js';

const ADDON = resolve(
  import.meta.dirname,
  '..',
  '..',
  'native',
  'build',
  'Release',
  'sd_notify.node',
);
const WATCHDOG_USEC = 1_000_000; // pings expected every 500 ms
const uniq = () =>
  `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function start(
  runtime: Runtime,
  address: string,
  env: Record<string, string> = {},
  config: Record<string, unknown> = {},
): Promise<{ f: FerryProc; sock: NotifySocket; port: number }> {
  const port = await freePort();
  const sock = await listenNotifySocket(address, port);
  cleanups.push(() => sock.close());
  const f = await startFerryProcess(
    {
      listen: { host: '127.0.0.1', port },
      workers: { threads: 2 },
      batch: { max_age_ms: 100, codec: 'gzip' },
      shutdown: { drain_timeout_ms: 5000 },
      ...config,
    },
    { runtime, env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: String(WATCHDOG_USEC), ...env } },
  );
  cleanups.push(() => f.kill('SIGKILL'));
  return { f, sock, port };
}

const backendLog = (f: FerryProc) =>
  f.logs().find((l) => l.msg === 'sd_notify backend') as { backend?: string } | undefined;
const index = (sock: NotifySocket, m: NotifyMessage) => sock.messages.indexOf(m);
const is =
  (key: string, value = '1') =>
  (m: NotifyMessage) =>
    m.fields[key] === value;

describe.each<Runtime>(['node', 'bun', 'deno'])('sd_notify on %s', (runtime) => {
  it('READY after listening, STATUS with live figures, WATCHDOG at half WATCHDOG_USEC, RELOADING/READY on SIGHUP, STOPPING on SIGTERM', async () => {
    // The addon is what the package ships; where a compiler exists (CI, here) it must have been built.
    if (process.env.CI === 'true')
      expect(existsSync(ADDON), 'npm run build:native did not produce the addon').toBe(true);
    const { f, sock, port } = await start(runtime, join(tmpdir(), `ferry-notify-${uniq()}.sock`));

    const ready = await sock.waitFor(is('READY'), 20_000);
    expect(ready.probe, 'the HTTP listener must accept connections when READY=1 arrives').toBe(
      true,
    );
    expect(sock.messages.slice(0, index(sock, ready)).some(is('READY'))).toBe(false);
    expect(ready.fields.STATUS).toMatch(/events\/s/);
    expect(backendLog(f)?.backend).toBe(
      existsSync(ADDON) ? 'addon' : runtime === 'node' ? 'systemd-notify' : `${runtime}-ffi`,
    );
    // The addon sends from ferry's own PID, which is what NotifyAccess=main requires.
    if (existsSync(ADDON)) expect(ready.pid).toBe(f.proc.pid);

    // STATUS= follows the traffic.
    const ev = makeEvents(300, `sdn-${runtime}-${uniq()}`);
    const r = await post(f.url, ev.lines.join('\n'));
    expect(r.status).toBe(200);
    const status = await sock.waitFor(
      (m) => Number(/(\d+) events total/.exec(m.fields.STATUS ?? '')?.[1]) >= 300,
      10_000,
      index(sock, ready),
    );
    expect(status.fields.STATUS).toMatch(
      /^\d+\.\d events\/s, 300 events total, rings \d+% full, 2 workers, \d+ durable requests pending, DLQ 0 events \(0.0 MiB\)$/,
    );

    // WATCHDOG=1 every WATCHDOG_USEC/2: look at the gaps between at least 6 pings.
    const from = sock.messages.length;
    await sock.waitFor(
      () => sock.messages.slice(from).filter(is('WATCHDOG')).length >= 6,
      15_000,
      from,
    );
    const pings = sock.messages
      .slice(from)
      .filter(is('WATCHDOG'))
      .map((m) => m.t);
    const gaps = pings
      .slice(1)
      .map((t, i) => t - pings[i])
      .sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)];
    expect(median).toBeGreaterThan(0.3);
    expect(median).toBeLessThan(0.9);
    // And never so late that a 1 s WatchdogSec would fire.
    expect(Math.max(...gaps)).toBeLessThan(1.0);

    // SIGHUP: RELOADING=1 with a CLOCK_MONOTONIC timestamp, then READY=1; ferry keeps serving.
    const beforeHup = sock.messages.length;
    f.kill('SIGHUP');
    const reloading = await sock.waitFor(is('RELOADING'), 10_000, beforeHup);
    const usec = Number(reloading.fields.MONOTONIC_USEC);
    expect(usec / 1e6).toBeLessThanOrEqual(reloading.t);
    expect(reloading.t - usec / 1e6).toBeLessThan(5);
    const readyAgain = await sock.waitFor(is('READY'), 10_000, index(sock, reloading) + 1);
    expect(index(sock, readyAgain)).toBeGreaterThan(index(sock, reloading));
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    expect(
      (await post(f.url, makeEvents(5, `sdn-after-hup-${uniq()}`).lines.join('\n'))).status,
    ).toBe(200);

    // SIGTERM: STOPPING=1 at the start of the drain, no pings after it, clean exit.
    f.kill('SIGTERM');
    const stopping = await sock.waitFor(is('STOPPING'), 10_000);
    expect(await f.exited).toBe(0);
    expect(sock.messages.slice(index(sock, stopping) + 1).some(is('WATCHDOG'))).toBe(false);
    expect(port).toBe(f.port);
  }, 90_000);

  it('stops the WATCHDOG=1 pings when a worker is wedged (abstract-namespace socket)', async () => {
    const { f, sock } = await start(runtime, `@ferry-notify-${uniq()}`, {
      FERRY_TEST_WEDGE_WORKER: '1',
    });
    const ready = await sock.waitFor(is('READY'), 20_000);
    await sock.waitFor(
      () => sock.messages.filter(is('WATCHDOG')).length >= 3,
      10_000,
      index(sock, ready),
    );

    // Normal traffic with the wedge hook armed: the pings go on.
    expect(
      (await post(f.url, makeEvents(50, `sdn-wedge-ok-${uniq()}`).lines.join('\n'))).status,
    ).toBe(200);
    const live = sock.messages.length;
    await sock.waitFor(is('WATCHDOG'), 3000, live);

    // One worker blocks for good on this body (it is never answered).
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    void fetch(`${f.url}/v1/events?ack=accepted`, {
      method: 'POST',
      body: '{"x":"__ferry_test_wedge__"}',
      headers: { 'content-type': 'application/x-ndjson' },
      signal: abort.signal,
    }).catch(() => {});

    const deadline = Date.now() + 15_000;
    while (
      !f
        .logs()
        .some(
          (l) =>
            l.msg ===
            'watchdog: worker not answering; withholding WATCHDOG=1 so systemd restarts ferry',
        ) &&
      Date.now() < deadline
    )
      await sleep(100);
    const logged = f.logs().find((l) => String(l.msg).startsWith('watchdog: worker not answering'));
    expect(logged, JSON.stringify(f.logs().slice(-5))).toBeDefined();
    expect((logged as { workers: number[] }).workers).toHaveLength(1);

    // From here on: no ping for 3 s (three times systemd's 1 s WatchdogSec), while the
    // main thread is still alive and says why in STATUS=.
    const cut = sock.messages.length;
    await sleep(3000);
    const after = sock.messages.slice(cut);
    expect(after.filter(is('WATCHDOG'))).toEqual([]);
    expect(after.some((m) => /WEDGED workers \d/.test(m.fields.STATUS ?? ''))).toBe(true);
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    f.kill('SIGKILL');
  }, 60_000);

  const fallback = runtime === 'node' ? 'systemd-notify' : `${runtime}-ffi`;
  it(`works without the addon (${fallback})`, async () => {
    const { f, sock } = await start(runtime, join(tmpdir(), `ferry-notify-${uniq()}.sock`), {
      FERRY_NOTIFY_BACKEND: fallback,
    });
    const ready = await sock.waitFor(is('READY'), 20_000);
    expect(backendLog(f)?.backend).toBe(fallback);
    expect(ready.probe).toBe(true);
    if (fallback === 'systemd-notify') {
      // A helper process sends it: it names ferry as the main PID (and needs NotifyAccess=all).
      expect(ready.fields.MAINPID).toBe(String(f.proc.pid));
    } else {
      expect(ready.pid).toBe(f.proc.pid);
    }
    await sock.waitFor(is('WATCHDOG'), 5000, index(sock, ready));
    f.kill('SIGHUP');
    const reloading = await sock.waitFor(is('RELOADING'), 10_000, index(sock, ready));
    expect(reloading.t - Number(reloading.fields.MONOTONIC_USEC) / 1e6).toBeLessThan(5);
    expect(reloading.t - Number(reloading.fields.MONOTONIC_USEC) / 1e6).toBeGreaterThanOrEqual(0);
    await sock.waitFor(is('READY'), 10_000, index(sock, reloading) + 1);
    f.kill('SIGTERM');
    await sock.waitFor(is('STOPPING'), 10_000);
    expect(await f.exited).toBe(0);
  }, 60_000);
});

describe('sd_notify off', () => {
  it('sends nothing and runs normally without NOTIFY_SOCKET', async () => {
    const f = await startFerryProcess(
      { workers: { threads: 1 } },
      { env: { NOTIFY_SOCKET: '', WATCHDOG_USEC: '' } },
    );
    cleanups.push(() => f.kill('SIGKILL'));
    expect(backendLog(f)).toBeUndefined();
    f.kill('SIGHUP'); // handled (no reload yet), not fatal
    await sleep(300);
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 30_000);
});
