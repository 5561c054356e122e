/**
 * Reading what was thrown. `catch (e)` gives `unknown`: these helpers take it as it is, so no
 * caller casts it to Error (a string, an object or undefined can be thrown too).
 */

/** The error's message, or its string form when it is not an Error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | null | undefined)?.message;
  return typeof m === 'string' ? m : String(err);
}

/** The value as an Error (wrapped, with the value as cause, when it is not one). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err), { cause: err });
}

/** The errno-style string code of a Node error (`ENOENT`, `ECONNRESET` …), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * The first error in the cause chain (including the first error of an AggregateError, as
 * happy-eyeballs connects throw) that `match` picks, at most `depth` links deep.
 */
export function findInCauseChain<T>(
  err: unknown,
  match: (e: unknown) => T | undefined,
  depth = 4,
): T | undefined {
  let cur: unknown = err;
  for (let i = 0; cur && i < depth; i++) {
    const hit = match(cur);
    if (hit !== undefined) return hit;
    cur =
      cur instanceof AggregateError && cur.errors.length > 0
        ? cur.errors[0]
        : (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An AbortSignal.timeout() reason, or an error named TimeoutError (DOMException or SDK). */
export function isTimeoutError(err: unknown): boolean {
  return (err as { name?: unknown } | null | undefined)?.name === 'TimeoutError';
}
