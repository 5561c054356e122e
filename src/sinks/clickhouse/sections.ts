/**
 * The rows part of a routed batch (docs/clickhouse.md "Routing"): one body holding each table's
 * rows one after the other, each compressed on its own, described by `part.sections`. A part
 * without sections (no routing, or a DLQ entry spooled before routing existed) is the rows of the
 * sink's one table. The DLQ keeps the sections in its record head, so a replay inserts into the
 * tables the workers chose.
 */
import type { EncodedPart, RowSection } from '../../contracts/batch.js';

/** One table's rows, as the sink sends them (a view into the part's body). */
export interface TableRows {
  table: string;
  body: Uint8Array;
  rawBytes: number;
}

/** Why these sections cannot describe a body of this length, or undefined when they can. */
export function sectionsProblem(
  sections: readonly RowSection[],
  bodyBytes: number,
): string | undefined {
  let sum = 0;
  for (const s of sections) {
    if (typeof s.table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.table))
      return `section table ${JSON.stringify(s.table)} is not a table name`;
    if (!Number.isInteger(s.bytes) || s.bytes < 0) return `section ${s.table}: bad length`;
    sum += s.bytes;
  }
  return sum === bodyBytes ? undefined : `sections take ${sum} bytes of a ${bodyBytes}-byte body`;
}

/** Each table's rows of a rows part; a part without sections is all `defaultTable`'s. */
export function sectionsOf(part: EncodedPart, defaultTable: string): TableRows[] {
  if (!part.sections) return [{ table: defaultTable, body: part.body, rawBytes: part.rawBytes }];
  const problem = sectionsProblem(part.sections, part.body.byteLength);
  if (problem) throw new Error(`rows part: ${problem}`);
  const out: TableRows[] = [];
  let at = 0;
  for (const s of part.sections) {
    out.push({
      table: s.table,
      body: part.body.subarray(at, at + s.bytes),
      rawBytes: s.rawBytes,
    });
    at += s.bytes;
  }
  return out;
}
