// The bench bodies: W1 NDJSON (100 events × ~370 B), W2 the same events as a gzip'd JSON array,
// WB the same events as an Elasticsearch _bulk body, WBID that body with an `_id` per document.
import { writeFileSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

export const EVENTS_PER_REQ = 100;

/** n events; `from` shifts the timestamps and sessions so that bodies built with different values differ. */
export function events(n = EVENTS_PER_REQ, from = 0) {
  const out = [];
  for (let j = 0; j < n; j++) {
    const i = from + j;
    out.push({
      ts: 1732350000000 + i,
      user: `user-${i % 97}`,
      kind: 'page_view',
      path: `/products/${i % 13}/details`,
      referrer: 'https://example.com/search?q=ferry',
      ua: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      session: `s-${(i * 7919) % 100000}`,
      value: i * 1.5,
      tags: ['web', 'eu-west', `ab-${i % 4}`],
      note: 'n'.repeat(60),
    });
  }
  return out;
}

/**
 * Writes the W1, W2, WB and WBID bodies into dir; returns their paths and the mean event size.
 * @param {string} dir
 */
export function writeBodies(dir) {
  const evs = events();
  const w1 = join(dir, 'w1.ndjson');
  writeFileSync(w1, evs.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const w2 = join(dir, 'w2.json.gz');
  writeFileSync(w2, gzipSync(JSON.stringify(evs)));
  // WB: the same events as an Elasticsearch _bulk body (an index action line before each).
  const wb = join(dir, 'wb.ndjson');
  writeFileSync(
    wb,
    evs.map((e) => `{"index":{"_index":"bench-logs"}}\n${JSON.stringify(e)}`).join('\n') + '\n',
  );
  // WBID: the same with an `_id` per document (a client that names its documents): every action
  // line differs, and no document is hashed.
  const wbid = join(dir, 'wbid.ndjson');
  writeFileSync(
    wbid,
    evs
      .map(
        (e, i) =>
          `{"index":{"_index":"bench-logs","_id":"${e.session}-${i}"}}\n${JSON.stringify(e)}`,
      )
      .join('\n') + '\n',
  );
  return { w1, w2, wb, wbid, avgEventBytes: Math.round(readFileSync(w1).length / EVENTS_PER_REQ) };
}

/**
 * k different W1 bodies (distinct events, so distinct event_ids), as NDJSON bytes.
 * @param {number} k
 */
export function variedBodies(k) {
  const out = [];
  for (let b = 0; b < k; b++)
    out.push(
      Buffer.from(
        events(EVENTS_PER_REQ, b * EVENTS_PER_REQ)
          .map((e) => JSON.stringify(e))
          .join('\n') + '\n',
      ),
    );
  return out;
}
