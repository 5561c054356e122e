/** Messages between the main thread and a pipeline worker (typed at the boundary). */
import type { MessagePort } from 'node:worker_threads';
import type { EncodedBatch } from '../src/contracts/batch.js';
import type { BatchLimits } from '../src/contracts/batch.js';
import type { BulkAnswer } from './bulk-answer.js';

export type Verdict =
  | {
      reqId: number;
      ok: true;
      events: number;
      span: number;
      /** Events refused one by one (OTLP partial success); the rest are in `events`. */
      rejected?: number;
      rejectMessage?: string;
      /** A `_bulk` request's answer, rendered by the worker (workers/bulk-answer.ts). */
      bulk?: BulkAnswer;
    }
  | {
      reqId: number;
      ok: false;
      status: 400 | 413 | 415;
      error: string;
      message: string;
      line?: number;
      offset?: number;
    };

export type WorkerToMain =
  | { t: 'verdicts'; items: Verdict[] }
  | { t: 'batch'; worker: number; seq: number; reqIds: number[]; batch: EncodedBatch }
  /** Last message before the task returns: everything sent before it has arrived. */
  | { t: 'done' };

export type MainToWorker = { t: 'limits'; limits: BatchLimits; maxDecompressedBytes?: number };

export interface WorkerTask {
  index: number;
  ring: SharedArrayBuffer;
  /** Int32Array: [inflight batches, heartbeat] per worker; inflight is decremented by the main thread, heartbeat bumped by the worker (watchdog). */
  control: SharedArrayBuffer;
  /** Float64Array: STAT_* slots per worker, written only by that worker. */
  stats: SharedArrayBuffer;
  port: MessagePort;
  limits: BatchLimits;
  maxInflight: number;
  maxDecompressedBytes: number;
}

export const CONTROL_SLOTS = 2;
export const CONTROL_INFLIGHT = 0;
/** Bumped by the worker on every loop turn and request; a value that stops moving means a wedged worker. */
export const CONTROL_HEARTBEAT = 1;
export const STAT_SLOTS = 4;
export const STAT_BUSY_SECONDS = 0;
export const STAT_EVENTS = 1;
export const STAT_BATCHES = 2;
export const STAT_REQUESTS = 3;
