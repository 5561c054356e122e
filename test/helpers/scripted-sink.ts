import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { BatchPart, EncodedBatch } from '../../src/contracts/batch.js';
import type { Sink, SinkReceipt } from '../../src/contracts/sink.js';
import { parseConfigText } from '../../src/config/load.js';
import type { FerryConfig } from '../../src/config/types.js';
import { listSegments } from '../../src/dlq/segment-store.js';
import { payloadOf, type RecordHead, scanSegment } from '../../src/dlq/frame.js';
import { listPoison, readPoison, type PoisonMeta } from '../../src/dlq/poison.js';
import { SinkError } from '../../src/sinks/errors.js';

/**
 * Doubles for unit tests of the pipeline's logic (uploader, DLQ re-upload): an in-memory sink that
 * answers as the test scripts it, and readers of what really landed in a DLQ directory on disk.
 */

export const silentLog = pino({ level: 'silent' });

/** What one write returns: success, a thrown error, or full control (e.g. hold until released). */
export type Step =
  | 'ok'
  | Error
  | ((batch: EncodedBatch, signal: AbortSignal | undefined) => Promise<SinkReceipt>);

export interface WriteCall {
  batch: string;
  events: number;
  /** Date.now() when the write started (fake time under vi.useFakeTimers). */
  at: number;
  /** A copy of the bytes the sink was given (the part a sink of its type takes). */
  body: Uint8Array;
  /** Set once the write succeeded. */
  ok?: boolean;
}

export class ScriptedSink implements Sink {
  readonly writes: WriteCall[] = [];
  /** Date.now() of every probe. */
  readonly probes: number[] = [];
  private readonly steps: Step[] = [];
  /** What writes answer once the script is used up. */
  fallback: Step = 'ok';
  /** What probes answer: ok, or an error (a sink that is still down). */
  probeAnswer: 'ok' | Error = new SinkError('probe: connection refused', {
    retryable: true,
    errorClass: 'network',
  });

  readonly type: string;

  constructor(
    readonly name: string,
    /** The part it stores, as a real sink declares it: 'rows' plays ClickHouse. */
    readonly takes: BatchPart = 'archive',
  ) {
    this.type = takes === 'rows' ? 'clickhouse' : 'directory';
  }

  /** The next writes answer these, in order. */
  script(...steps: Step[]): this {
    this.steps.push(...steps);
    return this;
  }

  /** Writes that succeeded, by batch id, in order. */
  get delivered(): string[] {
    return this.writes.filter((w) => w.ok).map((w) => w.batch);
  }

  write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const call: WriteCall = {
      batch: batch.id,
      events: batch.events,
      at: Date.now(),
      body: batch[this.takes]!.body.slice(),
    };
    this.writes.push(call);
    const step = this.steps.shift() ?? this.fallback;
    const p =
      step === 'ok'
        ? Promise.resolve({ location: `${this.name}/${batch.id}` })
        : step instanceof Error
          ? Promise.reject(step)
          : step(batch, signal);
    return p.then((r) => {
      call.ok = true;
      return r;
    });
  }

  async probe(): Promise<void> {
    this.probes.push(Date.now());
    if (this.probeAnswer !== 'ok') throw this.probeAnswer;
  }

  async close(): Promise<void> {}
}

/** A sink's HTTP answer, classified as the SPEC says (5xx, 408, 429 retry; other 4xx do not). */
export function httpError(status: number): SinkError {
  const retryable = status >= 500 || status === 408 || status === 429;
  return new SinkError(`HTTP ${status}`, {
    retryable,
    status,
    errorClass: status === 429 ? 'throttled' : status >= 500 ? 'http_5xx' : 'http_4xx',
  });
}

export function networkError(): SinkError {
  return new SinkError('network error ECONNREFUSED', { retryable: true, errorClass: 'network' });
}

/** A write that waits until the test settles it. */
export function held(): { step: Step; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    step: (b) => p.then(() => ({ location: `held/${b.id}` })),
    resolve,
    reject,
  };
}

export function batchOf(id: string, events = 1, bodyBytes = 64): EncodedBatch {
  const body = new TextEncoder().encode(`${id}\n`.padEnd(bodyBytes, 'x'));
  return {
    id,
    createdAt: Date.UTC(2026, 0, 1),
    events,
    archive: { body, codec: 'none', rawBytes: body.length },
    rows: { body: new TextEncoder().encode(`{"rows":"${id}"}\n`), codec: 'none', rawBytes: 0 },
  };
}

const dirs: string[] = [];
export function tmpDir(prefix = 'ferry-unit-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTmpDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A config built by the project's own loader (schema defaults and checks), from a plain object:
 * JSON is YAML, so the object goes through parseConfigText like a config file would.
 */
export function configOf(raw: Record<string, unknown>): FerryConfig {
  return parseConfigText(JSON.stringify(raw), 'unit-test.yaml', {});
}

export interface OnDisk {
  head: RecordHead;
  payload: Uint8Array;
}

/** Every record in a sink's DLQ segment files, oldest first, read from disk. */
export async function segmentRecords(sinkDir: string): Promise<OnDisk[]> {
  const out: OnDisk[] = [];
  for (const f of await listSegments(sinkDir)) {
    const bytes = new Uint8Array(readFileSync(f.path));
    const scan = scanSegment(bytes);
    if (scan.corrupt.length > 0 || scan.tail !== 'none')
      throw new Error(`${f.path}: not a clean segment (${JSON.stringify(scan.corrupt)})`);
    for (const r of scan.records)
      out.push({ head: r.head, payload: payloadOf(bytes.subarray(r.offset, r.offset + r.length)) });
  }
  return out;
}

/** The poison area of a sink's DLQ: metadata and payload of each entry. */
export async function poisonEntries(
  sinkDir: string,
): Promise<{ meta: PoisonMeta; payload: Uint8Array }[]> {
  const dir = join(sinkDir, 'poison');
  const out: { meta: PoisonMeta; payload: Uint8Array }[] = [];
  for (const name of await listPoison(dir)) {
    const e = await readPoison(dir, name);
    out.push({ meta: e.meta, payload: new Uint8Array(readFileSync(e.payloadPath)) });
  }
  return out;
}
