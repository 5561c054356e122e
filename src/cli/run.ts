import process from 'node:process';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { startFerry } from '../lifecycle/start.js';
import { createNotifier } from '../lifecycle/notify.js';
import { superviseWithSystemd } from '../lifecycle/systemd.js';
import { errorMessage } from '../util/errors.js';

/** `ferry run`: start, then stop gracefully on SIGTERM/SIGINT; a second signal exits at once. */
export async function runCommand(configPath: string | undefined): Promise<number> {
  const { config, source } = loadConfig(configPath);
  const log = createLogger(config.log.level);
  log.info({ config: source, runtime: runtimeName() }, 'ferry starting');
  // SIGHUP (ExecReload) is taken from the start: its default action would kill ferry. One
  // arriving during startup runs once ferry is up. RELOADING=1 … READY=1 around each, one at a time.
  let started!: () => void;
  let reloads = new Promise<void>((r) => (started = r));
  let onHup: () => Promise<void> = async () => {};
  process.on('SIGHUP', () => {
    reloads = reloads
      .then(() => onHup())
      .catch((err) => log.error({ err: errorMessage(err) }, 'reload failed'));
  });
  // SIGTERM/SIGINT are taken from the start too: one arriving while ferry starts (it may already
  // be listening) stops it as soon as it is up, gracefully, instead of the default instant death.
  let exitCode!: (code: number) => void;
  const exited = new Promise<number>((r) => (exitCode = r));
  let stopNow: ((sig: string) => void) | undefined;
  let pendingStop: string | undefined;
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) {
      log.warn({ signal: sig }, 'second signal: exiting now without draining');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    signalled = true;
    if (stopNow) stopNow(sig);
    else pendingStop = sig;
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const sd = await createNotifier(log);
  const running = await startFerry(config, log, { load: () => loadConfig(configPath).config });
  // READY=1, STATUS=, WATCHDOG=1 (a no-op outside systemd).
  const systemd = superviseWithSystemd(sd, running, log);
  onHup = () =>
    systemd.reload(async () => {
      // Outcome logged and counted inside; the running config stays on failure.
      await running.reload();
    });
  started();
  stopNow = (sig) => {
    systemd.stopping(sig);
    running.stop(sig).then(
      () => exitCode(0),
      (err) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        exitCode(1);
      },
    );
  };
  if (pendingStop) stopNow(pendingStop);
  return await exited;
}

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}
