import { Readable } from 'node:stream';
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseSinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { EncodedBatch } from '../pipeline/batch.js';
import { SinkError, isRetryableStatus, type Sink, type SinkReceipt } from './sink.js';

/**
 * ClickHouse exception codes that no retry can fix: the rows or the schema are
 * wrong, or we are not allowed. Everything else (too many parts, memory,
 * overload, timeouts, network) is retried.
 *
 * | code | name |
 * | 6, 26, 27, 38, 41, 72, 117 | cannot parse the input (bad row) |
 * | 16, 53 | no such column / type mismatch |
 * | 36, 62, 115 | bad arguments / syntax / unknown setting |
 * | 60, 81 | unknown table / database (run `ferry migrate`) |
 * | 164, 192, 193, 497, 516 | readonly / unknown user / wrong password / access denied / auth failed |
 */
const PERMANENT_CODES = new Set([6, 16, 26, 27, 36, 38, 41, 53, 60, 62, 72, 81, 115, 117, 164, 192, 193, 497, 516]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/**
 * Inserts the worker-encoded JSONEachRow body as it is: when the workers
 * gzipped it, it goes out with Content-Encoding: gzip and the main thread never
 * touches the bytes. `wait_end_of_query=1` makes a 200 mean the insert is done.
 */
export class ClickHouseSink implements Sink {
  readonly type = 'clickhouse' as const;
  readonly name: string;
  private readonly client: ClickHouseClient;
  private readonly table: string;

  constructor(private readonly cfg: ClickHouseSinkConfig, private readonly log: Logger, attemptTimeoutMs: number) {
    this.name = cfg.name;
    this.table = `${cfg.database}.${cfg.table}`;
    this.client = createClient({
      url: cfg.url,
      username: cfg.username,
      password: cfg.password,
      compression: { request: false, response: false },
      // ferry's per-attempt AbortSignal is the real timeout; this only backs it up.
      request_timeout: attemptTimeoutMs + 1000,
      // Errors reach the operator through ferry's own logs, with the batch they belong to.
      log: { level: ClickHouseLogLevel.OFF },
      application: 'ferry',
    });
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const rows = batch.rows;
    if (!rows) throw new SinkError('batch has no ClickHouse rows (the workers were not told about this sink)', { retryable: false, errorClass: 'internal' });
    try {
      const res = await this.client.exec({
        query: `INSERT INTO ${this.table} FORMAT JSONEachRow`,
        values: Readable.from([Buffer.from(rows.body.buffer, rows.body.byteOffset, rows.body.byteLength)]),
        http_headers: rows.codec === 'gzip' ? { 'Content-Encoding': 'gzip' } : undefined,
        clickhouse_settings: { wait_end_of_query: 1 },
        abort_signal: signal,
      });
      for await (const _ of res.stream) {
        // drain: the insert is finished when the response ends
      }
      return { location: this.table };
    } catch (err) {
      throw classify(err, `ClickHouse insert into ${this.table}`, signal);
    }
  }

  async probe(signal?: AbortSignal): Promise<void> {
    try {
      const r = await this.client.ping();
      if (!r.success) throw r.error;
      if (signal?.aborted) throw new Error('probe timed out');
    } catch (err) {
      throw classify(err, `ClickHouse ping ${this.cfg.url}`, signal);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export function classify(err: unknown, what: string, signal?: AbortSignal): SinkError {
  const e = err as Error & { code?: string; type?: string; cause?: { code?: string } };
  if (signal?.aborted || e.name === 'AbortError' || /aborted|timeout/i.test(e.message ?? '') && !/Code: \d+/.test(e.message ?? '')) {
    return new SinkError(`${what}: timed out or aborted`, { retryable: true, errorClass: 'timeout', cause: err });
  }
  const netCode = e.code && NETWORK_CODES.has(e.code) ? e.code : e.cause?.code && NETWORK_CODES.has(e.cause.code) ? e.cause.code : undefined;
  if (netCode) return new SinkError(`${what}: network error ${netCode}`, { retryable: true, errorClass: 'network', cause: err });
  // Server exceptions: the client exposes the numeric code; old servers only put it in the text.
  const code = Number(e.code ?? /Code: (\d+)/.exec(e.message ?? '')?.[1] ?? NaN);
  if (Number.isFinite(code)) {
    const permanent = PERMANENT_CODES.has(code);
    return new SinkError(`${what}: ClickHouse error ${code}${e.type ? ` ${e.type}` : ''}: ${firstLine(e.message)}`, {
      retryable: !permanent,
      errorClass: permanent ? 'rejected' : 'server',
      cause: err,
    });
  }
  const status = Number(/status(?: code)?:? (\d{3})/i.exec(e.message ?? '')?.[1] ?? NaN);
  if (Number.isFinite(status)) {
    return new SinkError(`${what}: HTTP ${status}: ${firstLine(e.message)}`, { retryable: isRetryableStatus(status), status, errorClass: status >= 500 ? 'http_5xx' : 'http_4xx', cause: err });
  }
  return new SinkError(`${what}: ${firstLine(e.message ?? String(err))}`, { retryable: true, errorClass: 'network', cause: err });
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0].slice(0, 500);
}
