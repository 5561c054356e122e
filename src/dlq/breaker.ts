/**
 * Per-sink circuit breaker: after `failures` batches in a row went to the DLQ, the sink is
 * treated as down — new batches are spooled at once instead of waiting out a retry budget each —
 * until the re-upload loop's probe finds it healthy again.
 */
export class CircuitBreaker {
  private streak = 0;
  private openSince: number | undefined;
  private opened = new AbortController();

  constructor(private readonly failures: number) {}

  /** Aborts when the breaker opens: batches still retrying against the sink stop and go to the DLQ. */
  get signal(): AbortSignal {
    return this.opened.signal;
  }

  get open(): boolean {
    return this.openSince !== undefined;
  }

  failure(now = Date.now()): void {
    this.streak++;
    if (this.streak >= this.failures && this.openSince === undefined) this.setOpen(now);
  }

  /** Open at once (a re-upload failed: the sink is down again). */
  trip(now = Date.now()): void {
    this.streak = Math.max(this.streak, this.failures);
    if (this.openSince === undefined) this.setOpen(now);
  }

  success(): void {
    this.streak = 0;
    if (this.openSince === undefined) return;
    this.openSince = undefined;
    this.opened = new AbortController();
  }

  private setOpen(now: number): void {
    this.openSince = now;
    this.opened.abort(new Error('circuit breaker opened: the sink is down'));
  }
}
