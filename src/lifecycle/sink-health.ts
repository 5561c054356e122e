import type { Logger } from '../observe/log.js';
import type { Sink } from '../contracts/sink.js';
import { errorMessage } from '../util/errors.js';

/**
 * Probes every sink in the background so /readyz answers from memory and
 * never waits on a slow sink. Logs transitions only.
 */
export class SinkHealth {
  private readonly down = new Map<string, string>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly sinks: Sink[],
    private readonly log: Logger,
    private readonly intervalMs = 5000,
  ) {}

  start(): void {
    void this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  problems(): string[] {
    return [...this.down].map(([name, why]) => `sink ${name} unreachable: ${why}`);
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      this.sinks.map(async (s) => {
        try {
          await s.probe(AbortSignal.timeout(Math.min(this.intervalMs, 3000)));
          if (this.down.delete(s.name)) this.log.info({ sink: s.name }, 'sink reachable again');
        } catch (err) {
          const why = errorMessage(err);
          if (!this.down.has(s.name)) this.log.warn({ sink: s.name, err: why }, 'sink unreachable');
          this.down.set(s.name, why);
        }
      }),
    );
  }
}
