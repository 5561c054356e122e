/** AbortSignal.any where the runtime has it (Node 20.3+, Bun, Deno), a small equivalent otherwise. */
export function anySignal(...signals: AbortSignal[]): AbortSignal {
  const native = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (native) return native.call(AbortSignal, signals);
  const ac = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      ac.abort(s.reason);
      return ac.signal;
    }
  }
  const onAbort = (ev: Event) => {
    ac.abort((ev.target as AbortSignal).reason);
    for (const s of signals) s.removeEventListener('abort', onAbort);
  };
  for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  return ac.signal;
}
