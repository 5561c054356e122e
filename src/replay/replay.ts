import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { EncodedBatch, RowPoison } from '../contracts/batch.js';
import { ClickHouseSink } from '../sinks/clickhouse.js';
import { deliver } from '../sinks/retry.js';
import {
  listArchive,
  parseS3Url,
  parseTime,
  readArchiveObject,
  type ArchiveObject,
} from './archive.js';
import { archiveToRows } from './convert.js';
import { buildLiveRows, type RowPlans } from './live-rows.js';
import { readArchive } from '../archive/read.js';
import { checkpointPath, loadCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
import type { Progress, ProgressState } from './progress.js';
import { RateLimiter } from '../pipeline/rate-limiter.js';
import { resolveTargets, s3ClientFor } from './targets.js';
import type { ReplayMetrics } from './metrics.js';
import { errorMessage } from '../util/errors.js';

export interface ReplayOptions {
  from: string;
  to?: string;
  since?: string;
  until?: string;
  dryRun: boolean;
  yes: boolean;
  resume: boolean;
  maxEventsPerSec: number;
  /** A real run over more compressed bytes than this needs --yes. */
  confirmAboveBytes: number;
  s3Sink?: string;
  clickhouseSink?: string;
}

export interface ReplayReport {
  outcome: 'dry-run' | 'done' | 'interrupted' | 'needs-confirmation';
  objects: number;
  bytes: number;
  eventsDone: number;
  objectsDone: number;
  /** Objects skipped because they were already done (--resume). */
  resumedPast: number;
  skipped: { key: string; reason: string }[];
  foreign: string[];
  checkpoint: string;
  /** Dry run: what would be replayed. */
  plan?: { key: string; bytes: number; events?: number }[];
  /**
   * Columns mode or routing: events not inserted because a column could not take them, no route
   * took them, or the server refused their row — as the live sink's poison rows; the first few
   * with their reasons (each one is also logged).
   */
  poisonRows?: number;
  poisonSample?: { key: string; event_id: string; column?: string; reason: string }[];
}

/** Largest NDJSON one archive object may decompress to (a batch is at most batch.max_bytes). */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;

/**
 * ferry replay: S3 archive objects → ClickHouse, through the ClickHouse sink (its retries and
 * error classes), one object at a time in key order, checkpointed after each. Never deletes.
 */
export async function replay(
  cfg: FerryConfig,
  opts: ReplayOptions,
  log: Logger,
  progress: Progress,
  metrics: ReplayMetrics,
  signal: AbortSignal,
): Promise<ReplayReport> {
  const { bucket, prefix } = parseS3Url(opts.from);
  const since = parseTime('--since', opts.since);
  const until = parseTime('--until', opts.until);
  const targets = resolveTargets(cfg, opts);
  const s3 = s3ClientFor(targets.s3);
  const job: Checkpoint['job'] = {
    from: opts.from,
    to: `${targets.clickhouse.database}.${targets.clickhouse.table}`,
    since: opts.since,
    until: opts.until,
  };
  const cpPath = checkpointPath(cfg.state_dir, job);
  try {
    const listing = await listArchive(s3, bucket, prefix, targets.s3.key_template, since, until);
    const bytes = listing.objects.reduce((n, o) => n + o.size, 0);
    const base = {
      objects: listing.objects.length,
      bytes,
      foreign: listing.foreign,
      checkpoint: cpPath,
      resumedPast: 0,
    };
    if (opts.dryRun) {
      const plan: NonNullable<ReplayReport['plan']> = [];
      let events = 0;
      const skipped: ReplayReport['skipped'] = [];
      for (const o of listing.objects) {
        if (signal.aborted) break;
        try {
          const n = archiveToRows(
            await readArchiveObject(s3, bucket, o, MAX_OBJECT_BYTES, signal),
          ).events;
          plan.push({ key: o.key, bytes: o.size, events: n });
          events += n;
        } catch (err) {
          plan.push({ key: o.key, bytes: o.size });
          skipped.push({ key: o.key, reason: errorMessage(err) });
        }
      }
      return { ...base, outcome: 'dry-run', plan, eventsDone: events, objectsDone: 0, skipped };
    }
    if (bytes > opts.confirmAboveBytes && !opts.yes) {
      return { ...base, outcome: 'needs-confirmation', eventsDone: 0, objectsDone: 0, skipped: [] };
    }

    const previous = await loadCheckpoint(cpPath);
    if (previous && !opts.resume) {
      throw new Error(
        `a replay of this range was interrupted (checkpoint ${cpPath}, last object ${previous.lastKey ?? 'none'}): add --resume to continue it, or delete the checkpoint to start over`,
      );
    }
    const cp: Checkpoint = previous ?? {
      version: 1,
      job,
      objectsDone: 0,
      eventsDone: 0,
      skipped: [],
      updatedAt: '',
    };
    const todo = cp.lastKey ? listing.objects.filter((o) => o.key > cp.lastKey!) : listing.objects;
    const resumedPast = listing.objects.length - todo.length;
    if (resumedPast > 0)
      log.info(
        { resumed_past: resumedPast, last_key: cp.lastKey, events_done: cp.eventsDone },
        'replay resumes after the checkpoint',
      );

    const sink = new ClickHouseSink(targets.clickhouse, log, cfg.retry.attempt_timeout_ms);
    // Columns mode or routes: the rows are built by the workers' own code from the tables' schemas,
    // read now (a table that is missing or does not fit the config stops the replay here).
    let plans: RowPlans | undefined;
    try {
      if (targets.clickhouse.columns || targets.clickhouse.route)
        plans = {
          routes: await sink.routePlan(AbortSignal.timeout(10_000)),
          rowPlan: targets.clickhouse.route
            ? undefined
            : await sink.rowPlan(AbortSignal.timeout(10_000)),
        };
    } catch (err) {
      await sink.close();
      throw err;
    }
    let poisonRows = 0;
    const poisonSample: NonNullable<ReplayReport['poisonSample']> = [];
    const poisoned = (
      key: string,
      rows: readonly { event_id: string; column?: string; reason: string }[],
    ) => {
      for (const r of rows) {
        poisonRows++;
        if (poisonSample.length < 20)
          poisonSample.push({ key, event_id: r.event_id, column: r.column, reason: r.reason });
        log.warn(
          { key, event_id: r.event_id, column: r.column, reason: r.reason },
          'replay: event not inserted (its row does not fit the table, or no route takes it)',
        );
      }
    };
    const policy = { ...cfg.retry, ...(targets.clickhouse.retry ?? {}) };
    const rate = new RateLimiter(opts.maxEventsPerSec);
    const state: ProgressState = {
      objectsDone: 0,
      objectsTotal: todo.length,
      eventsDone: 0,
      bytesDone: 0,
      bytesTotal: todo.reduce((n, o) => n + o.size, 0),
      skipped: 0,
    };
    try {
      for (const o of todo) {
        if (signal.aborted) break;
        state.key = o.key;
        let rows: { batch: EncodedBatch | undefined; events: number; poison: RowPoison[] };
        try {
          const text = await readArchiveObject(s3, bucket, o, MAX_OBJECT_BYTES, signal);
          if (plans) rows = buildLiveRows(readArchive(text), plans);
          else {
            const env = archiveToRows(text);
            rows = { batch: envelopeBatch(env.rows, env.events), events: env.events, poison: [] };
          }
        } catch (err) {
          if (signal.aborted) break;
          // A corrupt or truncated object is reported and skipped; the rest of the archive goes on.
          const reason = errorMessage(err);
          log.error({ key: o.key, err: reason }, 'archive object unreadable: skipped');
          cp.skipped.push({ key: o.key, reason });
          metrics.skipped.inc();
          state.skipped++;
          await advance(cp, cpPath, o, 0);
          continue;
        }
        await rate.take(rows.events, signal);
        if (signal.aborted) break;
        poisoned(o.key, rows.poison);
        try {
          if (rows.batch) {
            // Named by the object, not the rows: a replay of the same object repeats its id.
            const receipt = await deliver(sink, { ...rows.batch, ...idOf(o) }, policy, {
              signal,
              onRetry: (err, attempt, delay) =>
                log.warn(
                  { key: o.key, attempt, delay_ms: Math.round(delay), err: err.message },
                  'ClickHouse insert failed, retrying',
                ),
            });
            poisoned(o.key, receipt.poisonRows ?? []);
          }
        } catch (err) {
          // Interrupted mid-insert: the checkpoint stays before this object, so --resume inserts it
          // again (the table's ReplacingMergeTree folds a row that did land).
          if (signal.aborted) break;
          throw err;
        }
        await advance(cp, cpPath, o, rows.events);
        metrics.objects.inc();
        metrics.events.inc(rows.events);
        metrics.bytes.inc(o.size);
        state.objectsDone++;
        state.eventsDone += rows.events;
        state.bytesDone += o.size;
        progress.update(state);
      }
    } finally {
      await sink.close();
    }
    const outcome = signal.aborted ? 'interrupted' : 'done';
    // A finished replay leaves no checkpoint: the next run of the same range starts afresh.
    if (outcome === 'done') await rm(cpPath, { force: true });
    progress.done(
      state,
      outcome === 'done'
        ? 'replay done'
        : `replay interrupted: run again with --resume to continue after ${cp.lastKey ?? 'the start'}`,
    );
    return {
      ...base,
      resumedPast,
      outcome,
      eventsDone: cp.eventsDone,
      objectsDone: cp.objectsDone,
      skipped: cp.skipped,
      ...(plans ? { poisonRows, poisonSample } : {}),
    };
  } finally {
    s3.destroy();
  }
}

async function advance(
  cp: Checkpoint,
  path: string,
  o: ArchiveObject,
  events: number,
): Promise<void> {
  cp.lastKey = o.key;
  cp.objectsDone++;
  cp.eventsDone += events;
  await saveCheckpoint(path, cp);
}

/** The batch id and time a replayed object's rows are sent under (the object, not the rows). */
function idOf(o: ArchiveObject): Pick<EncodedBatch, 'id' | 'createdAt'> {
  return {
    id: createHash('sha256').update(o.key).digest('hex').slice(0, 32),
    createdAt: o.periodStart ?? Date.now(),
  };
}

/** Envelope rows (src/replay/convert.ts) as a batch's rows part. */
function envelopeBatch(rows: string, events: number): EncodedBatch | undefined {
  if (rows.length === 0) return undefined;
  const body = new TextEncoder().encode(rows);
  return {
    id: '',
    createdAt: 0,
    events,
    archive: { body: new Uint8Array(0), codec: 'none', rawBytes: 0 },
    rows: { body, codec: 'none', rawBytes: body.length },
  };
}
