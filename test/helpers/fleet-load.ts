/**
 * The load of a fleet rehearsal: one client loop per edge ferry, posting NDJSON with
 * ?ack=durable and remembering exactly which event_ids an edge acknowledged (a 200). A request
 * that fails (the edge was killed, a 503) acknowledged nothing; its events may still arrive
 * (the edge batched them before it died), and are counted apart as unacknowledged arrivals.
 */
export interface EdgeTarget {
  /** The edge's base URL now (it changes only if the edge restarts elsewhere). */
  url(): string;
}

export interface LoadResult {
  acked: Set<string>;
  /** ids sent in requests that got no 200. */
  unacked: Set<string>;
  requests: number;
  failed: number;
}

export function fleetEvent(id: string, edge: number, seq: number): string {
  return JSON.stringify({
    event_id: id,
    edge,
    seq,
    kind: 'fleet_rehearsal',
    path: `/p/${seq % 17}`,
    ua: 'Mozilla/5.0 (X11; Linux x86_64) ferry-fleet',
    pad: 'f'.repeat(160),
  });
}

/** Post to every edge until stop() resolves; perRequest events per POST, a pause between posts. */
export function runLoad(
  edges: EdgeTarget[],
  prefix: string,
  opts: { perRequest: number; pauseMs: number },
): { stop(): Promise<LoadResult> } {
  const res: LoadResult = { acked: new Set(), unacked: new Set(), requests: 0, failed: 0 };
  let running = true;
  const loops = edges.map(async (e, ei) => {
    let seq = 0;
    while (running) {
      const ids: string[] = [];
      const lines: string[] = [];
      for (let i = 0; i < opts.perRequest; i++, seq++) {
        const id = `${prefix}-e${ei}-${seq}`;
        ids.push(id);
        lines.push(fleetEvent(id, ei, seq));
      }
      res.requests++;
      let ok = false;
      try {
        const r = await fetch(`${e.url()}/v1/events?ack=durable`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: lines.join('\n'),
          signal: AbortSignal.timeout(20_000),
        });
        ok = r.status === 200;
        await r.arrayBuffer();
      } catch {
        ok = false;
      }
      for (const id of ids) (ok ? res.acked : res.unacked).add(id);
      if (!ok) {
        res.failed++;
        await new Promise((r) => setTimeout(r, 200));
      } else await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return res;
    },
  };
}
