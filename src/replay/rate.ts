/** Spreads work to at most `perSec` units a second (a replay must not starve live ingestion). */
export class RateLimiter {
  private readonly started = Date.now();
  private units = 0;
  constructor(private readonly perSec: number) {}

  /** Wait until taking n more units keeps the average at or under the rate. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    this.units += n;
    if (!(this.perSec > 0) || !Number.isFinite(this.perSec)) return;
    const due = this.started + (this.units / this.perSec) * 1000;
    const wait = due - Date.now();
    if (wait > 0) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, wait);
        signal?.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
      });
    }
  }
}
