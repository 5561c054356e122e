import { createClient } from '@clickhouse/client';
import type { ClickHouseSinkConfig, FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { listArchive, parseS3Url, parseTime, readArchiveObject } from './archive.js';
import { archiveToRows } from './convert.js';
import { resolveTargets, s3ClientFor } from './targets.js';
import type { ReplayMetrics } from './metrics.js';
import { errorMessage } from '../util/errors.js';
import { routeTables } from '../sinks/clickhouse/route-plan.js';

export interface VerifyOptions {
  from: string;
  against?: string;
  since?: string;
  until?: string;
  s3Sink?: string;
  clickhouseSink?: string;
}

export interface HourDiff {
  /** Start of the UTC hour (ISO). */
  hour: string;
  archive: number;
  table: number;
}

export interface VerifyReport {
  hours: number;
  differing: HourDiff[];
  archiveEvents: number;
  tableEvents: number;
  skipped: { key: string; reason: string }[];
}

const HOUR = 3_600_000;

/**
 * Distinct event_ids per hour of received_at, archive against table: the check to run before
 * and after a rebuild. The archive side reads every object in range (keys are filtered by their
 * batch hour, widened by an hour each side, since a batch can hold events received just before
 * it opened); the table side is one GROUP BY. Memory: one Set of event_ids per hour.
 */
export async function verify(
  cfg: FerryConfig,
  opts: VerifyOptions,
  log: Logger,
  metrics: ReplayMetrics,
  signal: AbortSignal,
): Promise<VerifyReport> {
  const { bucket, prefix } = parseS3Url(opts.from);
  const since = parseTime('--since', opts.since);
  const until = parseTime('--until', opts.until);
  const inRange = (t: number) =>
    (since === undefined || t >= since) && (until === undefined || t < until);
  const targets = resolveTargets(cfg, {
    to: opts.against,
    s3Sink: opts.s3Sink,
    clickhouseSink: opts.clickhouseSink,
  });
  const s3 = s3ClientFor(targets.s3);
  const perHour = new Map<number, Set<string>>();
  const skipped: VerifyReport['skipped'] = [];
  try {
    const listing = await listArchive(
      s3,
      bucket,
      prefix,
      targets.s3.key_template,
      since === undefined ? undefined : since - HOUR,
      until === undefined ? undefined : until + HOUR,
    );
    for (const o of listing.objects) {
      if (signal.aborted) throw new Error('verify interrupted');
      try {
        const { ids } = archiveToRows(
          await readArchiveObject(s3, bucket, o, 256 * 1024 * 1024, signal),
          { keepIds: true },
        );
        for (const { id, receivedAt } of ids) {
          if (!inRange(receivedAt)) continue;
          const h = Math.floor(receivedAt / HOUR) * HOUR;
          let set = perHour.get(h);
          if (!set) perHour.set(h, (set = new Set()));
          set.add(id);
        }
      } catch (err) {
        log.error({ key: o.key, err: errorMessage(err) }, 'archive object unreadable: not counted');
        skipped.push({ key: o.key, reason: errorMessage(err) });
      }
    }
  } finally {
    s3.destroy();
  }

  const ch = targets.clickhouse;
  const client = createClient({
    url: ch.url,
    username: ch.username,
    password: ch.password,
    application: 'ferry-verify',
  });
  const table = new Map<number, number>();
  const { id, at, tables } = tableSide(ch);
  try {
    const where = [
      since !== undefined ? `${at} >= toDateTime(${Math.floor(since / 1000)})` : '',
      until !== undefined ? `${at} < toDateTime(${Math.floor(until / 1000)})` : '',
    ].filter(Boolean);
    // Routed: every table's rows together (an event is in one of them), counted once.
    const from = tables
      .map(
        (t) =>
          `SELECT ${id} AS id, ${at} AS at FROM \`${ch.database}\`.\`${t}\`${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
      )
      .join(' UNION ALL ');
    // toUnixTimestamp keeps the hour independent of the server's timezone; works on 18.16.
    const rs = await client.query({
      query: `SELECT intDiv(toUnixTimestamp(at), 3600) * 3600 AS h, uniqExact(id) AS n FROM (${from}) GROUP BY h ORDER BY h`,
      format: 'JSONEachRow',
      abort_signal: signal,
    });
    for (const r of await rs.json<{ h: string | number; n: string | number }>())
      table.set(Number(r.h) * 1000, Number(r.n));
  } finally {
    await client.close();
  }

  const hours = [...new Set([...perHour.keys(), ...table.keys()])].sort((a, b) => a - b);
  const differing: HourDiff[] = [];
  let archiveEvents = 0;
  let tableEvents = 0;
  for (const h of hours) {
    const a = perHour.get(h)?.size ?? 0;
    const t = table.get(h) ?? 0;
    archiveEvents += a;
    tableEvents += t;
    if (a !== t) differing.push({ hour: new Date(h).toISOString(), archive: a, table: t });
  }
  metrics.differingHours.set(differing.length);
  return { hours: hours.length, differing, archiveEvents, tableEvents, skipped };
}

/**
 * Where the table side's event_id and received_at are, and in which tables: the envelope's own
 * columns, or columns mode's `event_id_column` / `received_at_column`; with routes every routed
 * table and the default one.
 */
function tableSide(ch: ClickHouseSinkConfig): { id: string; at: string; tables: string[] } {
  const quote = (c: string) => `\`${c.replace(/`/g, '``')}\``;
  const id = ch.columns ? ch.columns.event_id_column : 'event_id';
  const at = ch.columns ? ch.columns.received_at_column : 'received_at';
  for (const [name, key] of [
    [id, 'event_id_column'],
    [at, 'received_at_column'],
  ] as const)
    if (!name)
      throw new Error(
        `verify counts event_ids per hour of received_at: the sink ${ch.name} writes no ${key.replace('_column', '')} column (columns.${key} is '')`,
      );
  return {
    id: quote(id),
    at: quote(at),
    tables: ch.route ? routeTables(ch.route, ch.table) : [ch.table],
  };
}
