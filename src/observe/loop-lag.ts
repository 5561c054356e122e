/**
 * Event-loop lag by timer drift: portable across Node, Bun and Deno
 * (perf_hooks.monitorEventLoopDelay is Node-only).
 */
export function startEventLoopLagProbe(
  report: (seconds: number) => void,
  intervalMs = 500,
): () => void {
  let expected = performance.now() + intervalMs;
  const t = setInterval(() => {
    const now = performance.now();
    report(Math.max(0, now - expected) / 1000);
    expected = now + intervalMs;
  }, intervalMs);
  (t as { unref?: () => void }).unref?.();
  return () => clearInterval(t);
}
