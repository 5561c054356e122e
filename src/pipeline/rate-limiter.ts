/**
 * Paces work to at most `perSec` units a second (a replay or a DLQ re-upload must not starve
 * live traffic). Each take(n) waits for its slot; idle time is not saved up into a burst.
 */
export class RateLimiter {
  private next = 0;
  constructor(private perSec: number) {}

  setRate(perSec: number): void {
    this.perSec = perSec;
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (!(this.perSec > 0) || !Number.isFinite(this.perSec)) return;
    const now = Date.now();
    const start = Math.max(this.next, now);
    this.next = start + (n / this.perSec) * 1000;
    const wait = start - now;
    if (wait > 0) {
      await new Promise<void>((res) => {
        // The listener goes when the wait ends: a long-lived signal must not collect one per take.
        const onAbort = () => (clearTimeout(t), res());
        const t = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          res();
        }, wait);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
