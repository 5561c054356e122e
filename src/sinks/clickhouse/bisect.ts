/**
 * Finding the rows a ClickHouse server refuses in a batch it refused whole: the rows are re-sent
 * in parts, deterministically, until each refused part is one row; those rows are the bad ones
 * (with the server's message), everything else is delivered.
 *
 * The server's message often names the row (`(at row N)`): that row is tried alone first and the
 * rows before it in one insert, so k bad rows cost about 2k+1 inserts. Without a usable hint
 * the part is halved. Either way at most `maxInserts` inserts are sent; past that the search
 * stops and the caller treats what is left as refused.
 */

/** Sends one insert of these rows; throws when the server refuses it. */
export type InsertRows = (rows: readonly string[]) => Promise<void>;

export interface BisectResult {
  /** Rows refused alone, with the server's message. */
  bad: { index: number; row: string; error: unknown }[];
  /** Rows neither delivered nor found bad when the insert budget ran out (with the last refusal). */
  unresolved: { index: number; row: string; error: unknown }[];
  inserts: number;
}

/**
 * The first rows tried alone were all refused and nothing was delivered: the table, not the rows,
 * is the problem (a schema that fits no row of the batch). The caller keeps the batch whole.
 */
export class NoRowFits extends Error {
  constructor(readonly inserts: number) {
    super(
      `the first rows tried alone were all refused and none was delivered (${inserts} inserts)`,
    );
  }
}

/** Rows refused alone, with none delivered, before the search stops and blames the table. */
const ALL_BAD_AFTER = 4;

export class BisectBudgetExceeded extends Error {
  constructor(
    readonly inserts: number,
    readonly cause: unknown,
  ) {
    super(`bisection stopped after ${inserts} inserts`);
  }
}

/**
 * `isRowError(err)`: the refusal is about the data (a bad row), so splitting can isolate it; any
 * other error (network, auth, unknown table) is thrown at once — retrying is the caller's job.
 * `rowHint(err)`: the 1-based row the server's message names, if any.
 */
export async function bisectRows(
  rows: readonly string[],
  firstError: unknown,
  insert: InsertRows,
  opts: {
    maxInserts: number;
    isRowError: (err: unknown) => boolean;
    rowHint: (err: unknown) => number | undefined;
  },
): Promise<BisectResult> {
  const bad: BisectResult['bad'] = [];
  let anyDelivered = false;
  const found = (index: number, error: unknown) => {
    bad.push({ index, row: rows[index], error });
    if (!anyDelivered && bad.length >= Math.min(ALL_BAD_AFTER, rows.length))
      throw new NoRowFits(inserts);
  };
  const delivered = new Uint8Array(rows.length);
  let lastError: unknown = firstError;
  let inserts = 0;
  const send = async (from: number, to: number): Promise<unknown> => {
    if (inserts >= opts.maxInserts) throw new BisectBudgetExceeded(inserts, undefined);
    inserts++;
    try {
      await insert(rows.slice(from, to));
      delivered.fill(1, from, to);
      anyDelivered = true;
      return undefined;
    } catch (err) {
      if (!opts.isRowError(err)) throw err;
      lastError = err;
      return err;
    }
  };
  /** rows[from, to) were refused with err: find the bad ones. */
  const search = async (from: number, to: number, err: unknown): Promise<void> => {
    if (to - from === 1) {
      found(from, err);
      return;
    }
    const hint = opts.rowHint(err);
    if (hint !== undefined && hint >= 1 && hint <= to - from) {
      const at = from + hint - 1;
      // The suspect alone, then what is before it, then what is after it.
      const alone = await send(at, at + 1);
      if (alone !== undefined) found(at, alone);
      if (at > from) {
        const e = await send(from, at);
        if (e !== undefined) await search(from, at, e);
      }
      if (at + 1 < to) {
        const e = await send(at + 1, to);
        if (e !== undefined) await search(at + 1, to, e);
      }
      return;
    }
    const mid = from + Math.ceil((to - from) / 2);
    const left = await send(from, mid);
    if (left !== undefined) await search(from, mid, left);
    const right = await send(mid, to);
    if (right !== undefined) await search(mid, to, right);
  };
  try {
    await search(0, rows.length, firstError);
  } catch (err) {
    if (!(err instanceof BisectBudgetExceeded)) throw err;
  }
  bad.sort((a, b) => a.index - b.index);
  const isBad = new Set(bad.map((b) => b.index));
  const unresolved: BisectResult['unresolved'] = [];
  for (let i = 0; i < rows.length; i++)
    if (!delivered[i] && !isBad.has(i))
      unresolved.push({ index: i, row: rows[i], error: lastError });
  return { bad, unresolved, inserts };
}
