/**
 * ClickHouse sink: one `INSERT INTO <db>.<table> FORMAT JSONEachRow` per batch,
 * whose HTTP body is `batch.rows.body` exactly as the worker encoded it.
 *
 * Sending pre-encoded bytes through @clickhouse/client (checked in its 1.x source):
 * - `insert()` cannot: for JSON formats it wants objects (an object-mode
 *   stream or an array) and serialises them itself on this thread.
 * - `exec({ query, values })` can: with `values` set, the query goes in the URL
 *   and `values` (a byte stream) is piped to the request body untouched.
 *   Per-request `http_headers` add `Content-Encoding: gzip` when the workers
 *   gzipped the rows; the client's own request compression stays off, so
 *   nothing is compressed (twice, or at all) on the main thread.
 * - `ignore_error_response: true` hands back status, headers and body instead
 *   of a parsed error, so we see the HTTP status and `X-ClickHouse-Exception-Code`
 *   (sent by current versions; 18.16 sends only the `Code: N, e.displayText() = …` body).
 *
 * `wait_end_of_query=1` (an HTTP parameter on every version, not a setting, so
 * 18.16 accepts it) makes the server answer only after the insert finished: a
 * 200 means the rows are in. Features that differ between versions are
 * detected once per sink (`SELECT version()` and system.settings): where
 * `wait_for_async_insert` exists (21.11+) it is sent as 1, so a server whose
 * profile turns async inserts on still answers only once the rows are written;
 * on 18.16 it is not sent (unknown settings are rejected there, code 115).
 *
 * Every insert also sends input_format_skip_unknown_fields=0 and, where it exists,
 * input_format_json_read_objects_as_strings=0, so a row that does not fit is refused the same
 * way by 18.16 and current servers (docs/clickhouse.md lists what is detected).
 *
 * Columns mode (`columns:`): the rows are already converted by the workers to the table's
 * types (`rowPlan()` reads the table); events that did not fit arrive as `batch.rowPoison`
 * and are kept by the uploader. A batch refused for its data is bisected
 * (./clickhouse/bisect.ts): the rows the server refuses come back in the receipt's `poisonRows`.
 *
 * Verified on 18.16.1: a JSON number for a DateTime column in JSONEachRow is
 * read as a Unix timestamp (seconds, integer only: a fraction is code 27), so
 * it is timezone-independent; Content-Encoding: gzip request bodies are
 * accepted without enable_http_compression.
 *
 * Error mapping (ClickHouse answers 500 for many client errors and 404 for an
 * unknown table, so the exception code decides; the HTTP status only when
 * there is no code):
 *
 * | codes | meaning | retry? | errorClass |
 * |---|---|---|---|
 * | 6 25 26 27 32 33 38 41 72 117 130 131 354 | the rows do not parse (bad JSON, bad value, truncated, corrupt gzip) | permanent | rejected |
 * | 8 10 16 17 20 44 47 53 70 349 | a column is missing / has another type | permanent | rejected |
 * | 36 43 46 48 62 69 73 115 | bad query / setting / format (a ferry or migration bug) | permanent | rejected |
 * | 60 81 | unknown table / database (run `ferry migrate`) | permanent | rejected |
 * | 164 192 193 194 195 497 516 | readonly user, unknown user, wrong password, access denied | permanent | auth |
 * | 159 209 | timeout on the server | retry | timeout |
 * | 210 279 | network error on the server side | retry | network |
 * | 173 241 | memory limit | retry | throttled |
 * | 201 202 203 252 | quota, too many queries, too many parts | retry | throttled |
 * | 236 242 243 285 286 319 394 425 473 999 | aborted, read-only replica, no space, replicas, keeper … | retry | http_5xx |
 * | other code | unknown: the HTTP status decides (5xx, 408, 429 retry; 4xx permanent) | | http_5xx / http_4xx |
 * | no response | refused, reset, DNS, socket timeout, attempt deadline | retry | network / timeout |
 */
import { Readable } from 'node:stream';
import {
  createClient,
  ClickHouseLogLevel,
  type ClickHouseClient,
  type ClickHouseSettings,
} from '@clickhouse/client';
import type { ClickHouseSinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { SinkMetrics } from '../observe/metrics.js';
import type { EncodedBatch } from '../contracts/batch.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';
import { isRetryableStatus, networkCode, SinkError, type SinkErrorClass } from './errors.js';
import { isTimeoutError } from '../util/errors.js';
import { decompress } from '../codecs/index.js';
import type { PoisonRow } from '../contracts/sink.js';
import { bisectRows, NoRowFits } from './clickhouse/bisect.js';
import { buildRowPlan, type RowPlan, type SystemColumn } from './clickhouse/row-plan.js';
import { buildRoutePlan, routeTables, type RoutePlan } from './clickhouse/route-plan.js';
import { sectionsOf, type TableRows } from './clickhouse/sections.js';
import { errorMessage } from '../util/errors.js';

/** Routing: the sections of a batch already inserted, kept for its next attempt. */
interface SectionsDone {
  tables: Set<string>;
  poisonRows: PoisonRow[];
}
/** Batches whose sections are remembered between attempts (a failed batch is retried or spooled soon). */
const MAX_REMEMBERED_BATCHES = 4096;

const REJECTED_CODES = new Set([
  6,
  25,
  26,
  27,
  32,
  33,
  38,
  41,
  72,
  117,
  130,
  131,
  354, // unparseable rows
  8,
  10,
  16,
  17,
  20,
  44,
  47,
  53,
  70,
  349, // schema mismatch
  36,
  43,
  46,
  48,
  62,
  69,
  73,
  115, // bad query / setting / format
  60,
  81, // unknown table / database
]);
const AUTH_CODES = new Set([164, 192, 193, 194, 195, 497, 516]);
const RETRY_CLASS = new Map<number, SinkErrorClass>([
  [159, 'timeout'],
  [209, 'timeout'],
  [210, 'network'],
  [279, 'network'],
  [173, 'throttled'],
  [241, 'throttled'],
  [201, 'throttled'],
  [202, 'throttled'],
  [203, 'throttled'],
  [252, 'throttled'],
  ...[236, 242, 243, 285, 286, 319, 394, 425, 473, 999].map(
    (c) => [c, 'http_5xx'] as [number, SinkErrorClass],
  ),
]);

/** Refusals about the data of some row (parse, type, range): bisection can isolate the row. */
const ROW_CODES = new Set([
  6, 25, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 130, 131, 349, 376, 441, 675, 676,
]);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Error bodies are short; never buffer more than this of a response. */
const MAX_BODY = 64 * 1024;

/** What the server supports, detected once per sink. */
export interface ClickHouseFeatures {
  version: string;
  /** Settings sent with every insert. */
  insertSettings: ClickHouseSettings;
  /** async_insert exists (21.11+; on by default in chDB). */
  asyncInsert: boolean;
  /** insert_deduplication_token exists (22.2+): sent per insert so a re-sent batch can be deduplicated. */
  dedupToken: boolean;
  /** optimize_on_insert exists (20.10+): ReplacingMergeTree collapses duplicates within one insert. */
  optimizeOnInsert: boolean;
  /** Column types the server has, of those whose presence differs between versions. */
  types: ReadonlySet<string>;
  /** The JSON type exists (24.8+, GA 25.3): usable as the catch-all column. */
  jsonType: boolean;
}

/** Settings whose presence differs between the ClickHouse versions ferry meets. */
const PROBED_SETTINGS = [
  'wait_for_async_insert',
  'async_insert',
  'insert_deduplication_token',
  'optimize_on_insert',
  'input_format_json_read_objects_as_strings',
];
/** Types whose presence differs (18.16 has none of them). */
const PROBED_TYPES = ['JSON', 'Map', 'Bool', 'DateTime64', 'IPv4', 'IPv6'];

/**
 * The insert settings for a server with these settings. Both make the server as strict as
 * 18.16 is by default, so a row that does not fit the table is refused on every version
 * rather than silently changed: an unknown field is an error (current servers skip it by
 * default), and an object for a String column is an error (current servers store its text).
 */
export function insertSettingsFor(present: ReadonlySet<string>): ClickHouseSettings {
  const s: ClickHouseSettings = { wait_end_of_query: 1, input_format_skip_unknown_fields: 0 };
  if (present.has('wait_for_async_insert')) s.wait_for_async_insert = 1;
  if (present.has('input_format_json_read_objects_as_strings'))
    s.input_format_json_read_objects_as_strings = 0;
  return s;
}

export class ClickHouseSink implements Sink {
  readonly type = 'clickhouse' as const;
  readonly takes = 'rows' as const;
  readonly name: string;
  readonly table: string;
  private readonly client: ClickHouseClient;
  private features: Promise<ClickHouseFeatures> | undefined;
  /** Inserts sent (bisection's included): for logs and tests. */
  inserts = 0;
  /** Routing: per batch id, the sections already in (a partly inserted batch's next attempt). */
  private readonly sectionsDone = new Map<string, SectionsDone>();

  constructor(
    private readonly cfg: ClickHouseSinkConfig,
    private readonly log: Logger,
    attemptTimeoutMs = 30_000,
    /** Counted per insert attempt (absent in tools and tests). */
    private readonly metrics?: Pick<SinkMetrics, 'clickhouseInsertErrors'>,
  ) {
    this.name = cfg.name;
    for (const [k, v] of [
      ['database', cfg.database],
      ['table', cfg.table],
    ] as const) {
      if (!IDENT.test(v))
        throw new Error(`clickhouse sink ${cfg.name}: ${k} "${v}" must match ${IDENT.source}`);
    }
    this.table = `\`${cfg.database}\`.\`${cfg.table}\``;
    this.client = createClient({
      url: cfg.url,
      username: cfg.username,
      password: cfg.password,
      // Never compress on this thread; rows arrive already gzipped when configured.
      compression: { request: false, response: false },
      // ferry's per-attempt AbortSignal is the real deadline; this only backs it up.
      request_timeout: attemptTimeoutMs + 5_000,
      // Errors reach the operator through ferry's own logs, with the batch they belong to.
      log: { level: ClickHouseLogLevel.OFF },
      application: 'ferry',
    });
  }

  /** Server version and the insert settings it supports (cached; re-detected after a failure). */
  detect(signal?: AbortSignal): Promise<ClickHouseFeatures> {
    if (!this.features) {
      this.features = this.detectNow(signal).catch((err) => {
        this.features = undefined;
        throw err;
      });
    }
    return this.features;
  }

  private async detectNow(signal?: AbortSignal): Promise<ClickHouseFeatures> {
    const version = (await this.text('SELECT version()', signal)).trim();
    const list = (xs: string[]) => xs.map((x) => `'${x}'`).join(',');
    const lines = (t: string) =>
      new Set(
        t
          .split('\n')
          .map((x) => x.trim())
          .filter(Boolean),
      );
    const present = lines(
      await this.text(
        `SELECT name FROM system.settings WHERE name IN (${list(PROBED_SETTINGS)})`,
        signal,
      ),
    );
    const types = lines(
      await this.text(
        `SELECT name FROM system.data_type_families WHERE name IN (${list(PROBED_TYPES)})`,
        signal,
      ),
    );
    const f: ClickHouseFeatures = {
      version,
      insertSettings: insertSettingsFor(present),
      asyncInsert: present.has('async_insert'),
      dedupToken: present.has('insert_deduplication_token'),
      optimizeOnInsert: present.has('optimize_on_insert'),
      types,
      jsonType: types.has('JSON'),
    };
    this.log.info(
      { sink: this.name, version, insertSettings: f.insertSettings, types: [...types] },
      'ClickHouse server detected',
    );
    return f;
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const rows = batch.rows;
    const what = `ClickHouse insert of batch ${batch.id} into ${this.cfg.database}.${this.cfg.table}`;
    if (!rows)
      throw new SinkError(
        `${what}: the batch has no ClickHouse rows (the workers were not told about this sink)`,
        { retryable: false, errorClass: 'internal' },
      );
    if (rows.codec !== 'gzip' && rows.codec !== 'none') {
      throw new SinkError(`${what}: rows codec ${rows.codec} cannot be sent (gzip or none)`, {
        retryable: false,
        errorClass: 'internal',
      });
    }
    let sections: TableRows[];
    try {
      sections = sectionsOf(rows, this.cfg.table);
    } catch (err) {
      throw new SinkError(`${what}: ${errorMessage(err)}`, {
        retryable: false,
        errorClass: 'internal',
      });
    }
    const location =
      sections.map((s) => `${this.cfg.database}.${s.table}`).join(',') || this.cfg.database;
    // Routing: sections a failed attempt of this batch already inserted are not sent again
    // (one INSERT per table per batch; a batch is delivered when every section is in).
    const done = this.sectionsDone.get(batch.id) ?? { tables: new Set<string>(), poisonRows: [] };
    // Only the rows this sink finds refused; the workers' misfits (batch.rowPoison) are kept by
    // the uploader before the first attempt.
    const poisonRows: PoisonRow[] = done.poisonRows;
    const receipt = () => ({ location, ...(poisonRows.length ? { poisonRows } : {}) });
    // Columns mode can leave a batch with no row at all (every event a misfit).
    if (rows.rawBytes === 0 && (batch.rowPoison?.length ?? 0) > 0) return receipt();
    for (const section of sections) {
      if (done.tables.has(section.table) || section.body.byteLength === 0) continue;
      try {
        await this.writeSection(batch, section, rows.codec === 'gzip', poisonRows, signal);
      } catch (err) {
        if (sections.length > 1 && done.tables.size > 0) this.rememberSections(batch.id, done);
        const e = classifyClickHouseError(
          err,
          `ClickHouse insert of batch ${batch.id} into ${this.cfg.database}.${section.table}`,
          signal,
        );
        this.metrics?.clickhouseInsertErrors.inc({ class: e.errorClass });
        throw e;
      }
      done.tables.add(section.table);
    }
    this.sectionsDone.delete(batch.id);
    return receipt();
  }

  /** Remember the sections of a batch already in, for its next attempt (bounded: oldest forgotten). */
  private rememberSections(id: string, done: SectionsDone): void {
    this.sectionsDone.delete(id);
    this.sectionsDone.set(id, done);
    while (this.sectionsDone.size > MAX_REMEMBERED_BATCHES)
      this.sectionsDone.delete(this.sectionsDone.keys().next().value!);
  }

  /** One table's rows: one INSERT; a refusal for the data is bisected within this section. */
  private async writeSection(
    batch: EncodedBatch,
    section: TableRows,
    gzip: boolean,
    poisonRows: PoisonRow[],
    signal?: AbortSignal,
  ): Promise<void> {
    const table = `\`${this.cfg.database}\`.\`${section.table}\``;
    const { insertSettings } = await this.detect(signal);
    const body = Buffer.from(section.body.buffer, section.body.byteOffset, section.body.byteLength);
    try {
      await this.insert(table, body, gzip, insertSettings, signal);
    } catch (err) {
      const code = err instanceof ClickHouseServerError ? err.code : undefined;
      if (code === undefined || !ROW_CODES.has(code) || this.cfg.bisect_max_inserts <= 0) throw err;
      // Only on this rare path: the rows are unzipped on the main thread to be split.
      const raw = Buffer.from(
        gzip ? decompress('gzip', body, Math.max(section.rawBytes * 2, 256 * 1024 * 1024)) : body,
      );
      const lines = raw.toString('utf8').split('\n').filter(Boolean);
      if (lines.length < 2) throw err;
      let r: Awaited<ReturnType<typeof bisectRows>>;
      try {
        r = await bisectRows(
          lines,
          err,
          (part) =>
            this.insert(table, Buffer.from(`${part.join('\n')}\n`), false, insertSettings, signal),
          {
            maxInserts: this.cfg.bisect_max_inserts,
            isRowError: (e) =>
              e instanceof ClickHouseServerError && e.code !== undefined && ROW_CODES.has(e.code),
            rowHint: (e) => {
              const m = /\(at row (\d+)\)/.exec(
                e instanceof Error
                  ? e.message + String((e as ClickHouseServerError).body ?? '')
                  : '',
              );
              return m ? Number(m[1]) : undefined;
            },
          },
        );
      } catch (be) {
        // No row fits the table: refused whole, as without bisection (the poison area keeps the batch).
        if (be instanceof NoRowFits) throw err;
        throw be;
      }
      const idCol = this.cfg.columns ? this.cfg.columns.event_id_column : 'event_id';
      for (const b of r.bad)
        poisonRows.push({
          event_id: rowId(b.row, idCol),
          reason: serverMessage(b.error),
          row: b.row,
        });
      for (const u of r.unresolved)
        poisonRows.push({
          event_id: rowId(u.row, idCol),
          reason: `not sent: the bisection's ${this.cfg.bisect_max_inserts} inserts were spent; last refusal: ${serverMessage(u.error)}`,
          row: u.row,
        });
      this.log.warn(
        {
          sink: this.name,
          batch: batch.id,
          table: section.table,
          rows: lines.length,
          bad: r.bad.length,
          unresolved: r.unresolved.length,
          inserts: r.inserts,
        },
        'ClickHouse refused rows of a batch: the rest is delivered, the refused rows go to the poison area',
      );
    }
  }

  private async insert(
    table: string,
    body: Buffer,
    gzip: boolean,
    settings: ClickHouseSettings,
    signal?: AbortSignal,
  ): Promise<void> {
    this.inserts++;
    await this.request(
      `INSERT INTO ${table} FORMAT JSONEachRow`,
      Readable.from([body], { objectMode: false }),
      gzip ? { 'Content-Encoding': 'gzip' } : undefined,
      settings,
      signal,
    );
  }

  /**
   * Columns mode: the table's columns (system.columns) turned into the plan the workers convert
   * rows by. Called at start and on reload; throws when the table and the config disagree.
   */
  async rowPlan(signal?: AbortSignal): Promise<RowPlan | undefined> {
    if (!this.cfg.columns) return undefined;
    return this.tablePlan(this.cfg.table, signal);
  }

  /**
   * Routing: the plan the workers route by; in columns mode with each routed table's columns
   * (system.columns, like the single table). Undefined without `route`.
   */
  async routePlan(signal?: AbortSignal): Promise<RoutePlan | undefined> {
    const r = this.cfg.route;
    if (!r) return undefined;
    const plans = this.cfg.columns
      ? await Promise.all(routeTables(r, this.cfg.table).map((t) => this.tablePlan(t, signal)))
      : undefined;
    return buildRoutePlan(r, this.cfg.table, plans);
  }

  private async tablePlan(table: string, signal?: AbortSignal): Promise<RowPlan> {
    const c = this.cfg.columns!;
    const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    let cols: SystemColumn[];
    try {
      // JSONEachRow: TabSeparated would escape the quotes of Enum values.
      const text = await this.request(
        `SELECT name, type, default_kind FROM system.columns WHERE database = ${q(this.cfg.database)} AND table = ${q(table)} FORMAT JSONEachRow`,
        undefined,
        undefined,
        {},
        signal,
      );
      cols = text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as SystemColumn);
    } catch (err) {
      throw classifyClickHouseError(
        err,
        `ClickHouse schema of ${this.cfg.database}.${table}`,
        signal,
      );
    }
    if (cols.length === 0)
      throw new SinkError(
        `clickhouse sink ${this.name}: table ${this.cfg.database}.${table} does not exist (run ferry migrate, or create it)`,
        { retryable: false, errorClass: 'rejected' },
      );
    try {
      return buildRowPlan(`${this.cfg.database}.${table}`, cols, c);
    } catch (err) {
      // The table and the config disagree: waiting will not change that (the start or reload fails now).
      throw new SinkError(`clickhouse sink ${this.name}: ${errorMessage(err)}`, {
        retryable: false,
        errorClass: 'rejected',
      });
    }
  }

  /** `SELECT 1`: reachable and the credentials work (unlike /ping). */
  async probe(signal?: AbortSignal): Promise<void> {
    try {
      const out = await this.text('SELECT 1', signal);
      if (out.trim() !== '1')
        throw new Error(`SELECT 1 answered ${JSON.stringify(out.slice(0, 100))}`);
    } catch (err) {
      throw classifyClickHouseError(err, `ClickHouse probe ${this.cfg.url}`, signal);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async text(query: string, signal?: AbortSignal): Promise<string> {
    return this.request(`${query} FORMAT TabSeparated`, undefined, undefined, {}, signal);
  }

  /** One HTTP request; resolves with the body of a 2xx without an exception, else throws a ClickHouseServerError. */
  private async request(
    query: string,
    values: Readable | undefined,
    headers: Record<string, string> | undefined,
    settings: ClickHouseSettings,
    signal?: AbortSignal,
  ): Promise<string> {
    // The client only listens for a *future* abort: an already-fired signal would be ignored.
    if (signal?.aborted)
      throw signal.reason instanceof Error
        ? signal.reason
        : new Error('The user aborted a request.');
    const res = await this.client.exec({
      query,
      ...(values ? { values } : {}),
      http_headers: headers,
      clickhouse_settings: settings,
      abort_signal: signal,
      ignore_error_response: true,
      decompress_response_stream: false,
    });
    const text = await readText(res.stream, MAX_BODY);
    const status = res.http_status_code ?? 0;
    const headerCode = Number(res.response_headers['x-clickhouse-exception-code'] ?? NaN);
    const bodyCode = exceptionCode(text);
    if (
      status >= 200 &&
      status < 300 &&
      !Number.isFinite(headerCode) &&
      !(bodyCode !== undefined && /^\s*Code: \d+/.test(text))
    )
      return text;
    throw new ClickHouseServerError(
      status,
      Number.isFinite(headerCode) ? headerCode : bodyCode,
      text,
    );
  }
}

/** A response from ClickHouse that is an error. */
export class ClickHouseServerError extends Error {
  override readonly name = 'ClickHouseServerError';
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    readonly body: string,
  ) {
    super(firstLine(body) || `HTTP ${status}`);
  }
}

/** `Code: 60, e.displayText() = …` (18.x) or `Code: 60. DB::Exception: … (UNKNOWN_TABLE)` (current). */
function exceptionCode(text: string): number | undefined {
  const m = /Code: (\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

function exceptionName(text: string): string | undefined {
  return /\(([A-Z][A-Z0-9_]{2,})\)/.exec(text)?.[1];
}

/** ClickHouse failure → SinkError per the table at the top of this file. Exported for tests. */
export function classifyClickHouseError(
  err: unknown,
  what: string,
  signal?: AbortSignal,
): SinkError {
  if (err instanceof SinkError) return err;
  const e = (err ?? {}) as Error & { code?: unknown; cause?: unknown };
  let status: number | undefined;
  let code: number | undefined;
  let text: string;
  if (err instanceof ClickHouseServerError) {
    status = err.status || undefined;
    code = err.code;
    text = err.body;
  } else {
    text = e.message ?? String(err);
    // A client-side parsed server error (ClickHouseError: numeric string code) or a socket error.
    const c =
      typeof e.code === 'string' && /^\d+$/.test(e.code) ? Number(e.code) : exceptionCode(text);
    if (c !== undefined && /Code: \d+|Exception/.test(text + String(e.code))) code = c;
  }
  if (code === undefined && status === undefined) {
    if (signal?.aborted || e.name === 'AbortError' || /aborted a request|timeout/i.test(text)) {
      const timeout = isTimeoutError(signal?.reason) || /timeout/i.test(text);
      return new SinkError(`${what}: ${timeout ? 'timed out' : 'aborted'}`, {
        retryable: true,
        errorClass: timeout ? 'timeout' : 'aborted',
        cause: err,
      });
    }
    const net = networkCode(err);
    return new SinkError(
      `${what}: ${net ? `network error ${net}` : `no response: ${firstLine(text)}`}`,
      { retryable: true, errorClass: 'network', cause: err },
    );
  }
  const label = `${status ? `HTTP ${status}` : 'error'}${code !== undefined ? ` code ${code}${exceptionName(text) ? ` ${exceptionName(text)}` : ''}` : ''}`;
  const msg = `${what}: ${label}: ${firstLine(text)}`;
  if (code !== undefined) {
    if (REJECTED_CODES.has(code))
      return new SinkError(msg, { retryable: false, status, errorClass: 'rejected', cause: err });
    if (AUTH_CODES.has(code))
      return new SinkError(msg, { retryable: false, status, errorClass: 'auth', cause: err });
    const cls = RETRY_CLASS.get(code);
    if (cls) return new SinkError(msg, { retryable: true, status, errorClass: cls, cause: err });
  }
  if (status !== undefined) {
    return new SinkError(msg, {
      retryable: isRetryableStatus(status),
      status,
      errorClass: status === 429 ? 'throttled' : status >= 500 ? 'http_5xx' : 'http_4xx',
      cause: err,
    });
  }
  // A code we do not know and no status: retrying loses nothing.
  return new SinkError(msg, { retryable: true, errorClass: 'http_5xx', cause: err });
}

async function readText(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    if (n < limit) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(b);
      n += b.length;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** The server's message of a refusal (its first line), for a poison row. */
function serverMessage(err: unknown): string {
  if (err instanceof ClickHouseServerError)
    return `${err.code !== undefined ? `code ${err.code}: ` : ''}${firstLine(err.body)}`;
  return firstLine(err instanceof Error ? err.message : String(err));
}

/** The event_id of a row as sent ('' when the row has none or is not JSON). */
function rowId(row: string, column: string): string {
  if (!column) return '';
  try {
    const v = (JSON.parse(row) as Record<string, unknown>)[column];
    return v === undefined ? '' : String(v);
  } catch {
    return '';
  }
}

function firstLine(s: string | undefined): string {
  return (s ?? '').trim().split('\n')[0].slice(0, 500);
}
