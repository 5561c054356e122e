import process from 'node:process';
import { loadConfig } from '../config/load.js';
import { codecAvailable, codecUnavailableReason } from '../codecs/index.js';
import { createLogger } from '../observe/log.js';
import { startFerry } from '../lifecycle/start.js';

/** `ferry run`: start, then stop gracefully on SIGTERM/SIGINT; a second signal exits at once. */
export async function runCommand(configPath: string | undefined): Promise<number> {
  const { config, source } = loadConfig(configPath);
  const log = createLogger(config.log.level);
  if (!codecAvailable(config.batch.codec)) {
    log.fatal({ codec: config.batch.codec, reason: codecUnavailableReason(config.batch.codec) }, 'batch.codec is not available on this runtime');
    return 1;
  }
  log.info({ config: source, runtime: runtimeName() }, 'ferry starting');
  const running = await startFerry(config, log, { load: () => loadConfig(configPath).config });
  return await new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: string) => {
      if (signalled) {
        log.warn({ signal: sig }, 'second signal: exiting now without draining');
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      signalled = true;
      running.stop(sig).then(
        () => resolve(0),
        (err) => {
          log.error({ err: (err as Error).message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    // SIGHUP (systemctl reload): re-read the config; the outcome is logged and counted inside.
    process.on('SIGHUP', () => {
      if (!signalled) void running.reload();
    });
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
}

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}
