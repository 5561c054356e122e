/**
 * The sd_notify protocol ferry speaks to systemd (sd_notify(3)). A no-op when
 * $NOTIFY_SOCKET is unset (not started by systemd as Type=notify). Send errors
 * are logged, never thrown: a missing supervisor must not stop ingest.
 */
import process from 'node:process';
import type { Logger } from '../observe/log.js';
import { pickBackend, type BackendName, type NotifyBackend } from './notify-backends.js';
import { errorMessage } from '../util/errors.js';

export interface Notifier {
  /** 'off' when there is no $NOTIFY_SOCKET or no backend works. */
  readonly backend: BackendName | 'off';
  /** Watchdog ping period in ms (WATCHDOG_USEC / 2), or 0 when systemd set no watchdog for us. */
  readonly watchdogMs: number;
  ready(status?: string): void;
  /** RELOADING=1 with MONOTONIC_USEC=; follow with ready() when the reload is done (or failed). */
  reloading(status?: string): void;
  status(text: string): void;
  stopping(status?: string): void;
  watchdog(): void;
}

export async function createNotifier(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Notifier> {
  const socket = env.NOTIFY_SOCKET;
  const watchdogMs = watchdogPeriodMs(env);
  if (!socket) return offNotifier();
  const { backend, skipped } = await pickBackend(env.FERRY_NOTIFY_BACKEND || undefined);
  if (!backend) {
    log.error(
      { notify_socket: socket, tried: skipped },
      'sd_notify: no way to reach NOTIFY_SOCKET; systemd will not see READY=1',
    );
    return offNotifier();
  }
  log.info(
    {
      backend: backend.name,
      notify_socket: socket,
      watchdog_ms: watchdogMs || undefined,
      skipped: skipped.length ? skipped : undefined,
    },
    'sd_notify backend',
  );
  if (!backend.fromMainPid)
    log.warn(
      { backend: backend.name },
      'sd_notify: messages come from a helper process; the unit needs NotifyAccess=all (build the addon: npm run build:native)',
    );
  return new SocketNotifier(socket, backend, watchdogMs, log);
}

/** WATCHDOG_USEC/2 in ms when the watchdog is meant for this process (WATCHDOG_PID unset or ours). */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv): number {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return 0;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return 0;
  return Math.max(1, Math.floor(usec / 2000));
}

/** STATUS= is one line; systemd shows it in `systemctl status`. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}

class SocketNotifier implements Notifier {
  private failed = false;
  constructor(
    private readonly socket: string,
    private readonly impl: NotifyBackend,
    readonly watchdogMs: number,
    private readonly log: Logger,
  ) {}

  get backend(): BackendName {
    return this.impl.name;
  }

  ready(status?: string): void {
    this.send(['READY=1', status === undefined ? '' : `STATUS=${oneLine(status)}`]);
  }
  reloading(status?: string): void {
    this.send([
      'RELOADING=1',
      `MONOTONIC_USEC=${Math.floor(this.impl.monotonicUsec())}`,
      status === undefined ? '' : `STATUS=${oneLine(status)}`,
    ]);
  }
  status(text: string): void {
    this.send([`STATUS=${oneLine(text)}`]);
  }
  stopping(status?: string): void {
    this.send(['STOPPING=1', status === undefined ? '' : `STATUS=${oneLine(status)}`]);
  }
  watchdog(): void {
    this.send(['WATCHDOG=1']);
  }

  private send(fields: string[]): void {
    const message = fields.filter(Boolean).join('\n');
    const onError = (err: unknown) => {
      // Once per outage: a vanished socket would otherwise log every ping.
      if (this.failed) return;
      this.failed = true;
      this.log.error(
        { notify_socket: this.socket, backend: this.impl.name, err: errorMessage(err) },
        'sd_notify: send failed',
      );
    };
    try {
      const r = this.impl.send(this.socket, message);
      if (r) r.then(() => (this.failed = false), onError);
      else this.failed = false;
    } catch (err) {
      onError(err);
    }
  }
}

function offNotifier(): Notifier {
  const nop = () => {};
  return {
    backend: 'off',
    watchdogMs: 0,
    ready: nop,
    reloading: nop,
    status: nop,
    stopping: nop,
    watchdog: nop,
  };
}
