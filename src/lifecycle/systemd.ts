/**
 * ferry under systemd: READY=1 once started, a live STATUS= line, and WATCHDOG=1
 * pings that stop as soon as the event loop or any worker stops answering —
 * so systemd's WatchdogSec restarts a wedged ferry instead of leaving it up.
 */
import type { Logger } from '../observe/log.js';
import type { Running, Vitals } from './start.js';
import type { Notifier } from './notify.js';

/** How often STATUS= is refreshed. */
const STATUS_MS = 2000;

export interface Supervision {
  /** Around a reload: RELOADING=1 … READY=1 (also when the reload fails: the old config keeps running). */
  reload(run: () => Promise<void> | void): Promise<void>;
  /** STOPPING=1 and no more pings. */
  stopping(reason: string): void;
}

export function superviseWithSystemd(sd: Notifier, running: Running, log: Logger): Supervision {
  // A live worker bumps its heartbeat every ~100 ms; one that has not moved for half a ping
  // period (at least 1 s: a worker restarted after a crash needs a moment) is wedged. Half a
  // period means the next tick already withholds the ping: systemd restarts ferry within
  // about 1.5 × WatchdogSec of the wedge.
  const stallMs = Math.max(1000, Math.floor(sd.watchdogMs / 2));
  let last = { at: performance.now(), events: 0 };
  let wedged = '';
  let stopped = false;

  const statusLine = (v: Vitals): string => {
    const now = performance.now();
    const rate = ((v.events - last.events) * 1000) / Math.max(1, now - last.at);
    last = { at: now, events: v.events };
    const parts = [
      `${rate.toFixed(1)} events/s`,
      `${v.events} events total`,
      `rings ${(v.ringUse * 100).toFixed(0)}% full`,
      `${v.workers} workers`,
      `${v.pending} durable requests pending`,
    ];
    if (v.dlq) parts.push(`DLQ ${v.dlq.events} events (${(v.dlq.bytes / 1048576).toFixed(1)} MiB)`);
    if (v.stalledWorkers.length) parts.push(`WEDGED workers ${v.stalledWorkers.join(',')}`);
    return parts.join(', ');
  };

  sd.ready(statusLine(running.vitals(stallMs)));
  const statusTimer = setInterval(() => sd.status(statusLine(running.vitals(stallMs))), STATUS_MS);
  statusTimer.unref?.();

  let watchdogTimer: ReturnType<typeof setInterval> | undefined;
  if (sd.watchdogMs > 0) {
    // This callback running at all is the event loop's answer; the heartbeats are the workers'.
    watchdogTimer = setInterval(() => {
      if (stopped) return;
      const stalled = running.vitals(stallMs).stalledWorkers;
      if (stalled.length === 0) {
        if (wedged)
          log.warn({ workers: wedged }, 'watchdog: workers answer again; pinging systemd');
        wedged = '';
        sd.watchdog();
        return;
      }
      const ids = stalled.join(',');
      if (ids !== wedged)
        log.error(
          { workers: stalled, stall_ms: stallMs },
          'watchdog: worker not answering; withholding WATCHDOG=1 so systemd restarts ferry',
        );
      wedged = ids;
    }, sd.watchdogMs);
    watchdogTimer.unref?.();
  }

  return {
    async reload(run) {
      sd.reloading('reloading config');
      try {
        await run();
      } finally {
        sd.ready(statusLine(running.vitals(stallMs)));
      }
    },
    stopping(reason) {
      stopped = true;
      clearInterval(statusTimer);
      if (watchdogTimer) clearInterval(watchdogTimer);
      sd.stopping(`stopping (${reason}): draining rings and delivering the last batches`);
    },
  };
}
