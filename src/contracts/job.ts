import type { EncodedBatch } from './batch.js';

/** A sealed batch on its way from a worker to the uploader, with the requests it carries. */
export interface BatchJob {
  worker: number;
  seq: number;
  reqIds: number[];
  batch: EncodedBatch;
}
