/**
 * The embedded default sink: the objects S3 would get (same keys, same bytes),
 * as files under a local root, written with `atomicWrite` (src/fs/durable.ts) so a
 * crash leaves either the whole object or none of it; a re-written batch replaces
 * the old file. Directories are created on demand, durably, so a new
 * `dt=…/hour=…` path survives a power cut too.
 *
 * Only node:fs/promises and node:path: it runs unchanged on Node, Bun and Deno.
 */
import { access, constants, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DirectorySinkConfig } from '../config/types.js';
import { partOf, type EncodedBatch } from '../contracts/batch.js';
import { atomicWrite } from '../fs/durable.js';
import { errnoCode, errorMessage, isTimeoutError } from '../util/errors.js';
import { fsErrorClass, isPermanentFsCode, SinkError } from './errors.js';
import { compileKeyTemplate, type KeyRenderer } from './keys.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';

export class DirectorySink implements Sink {
  readonly type = 'directory' as const;
  readonly takes = 'archive' as const;
  readonly name: string;
  private readonly root: string;
  private readonly render: KeyRenderer;

  constructor(cfg: DirectorySinkConfig, host: string) {
    this.name = cfg.name;
    this.root = resolve(cfg.path);
    this.render = compileKeyTemplate(cfg.key_template, host, cfg.name);
  }

  /** Where a batch goes (also used by tests and `ferry dlq` tooling). */
  pathOf(batch: EncodedBatch): string {
    return join(this.root, ...this.render(batch).split('/'));
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const path = this.pathOf(batch);
    try {
      throwIfAborted(signal);
      // After the rename the object is there; the abort check before it is the last way out.
      await atomicWrite(path, partOf(batch, 'archive').body, {
        beforeRename: () => throwIfAborted(signal),
      });
      return { location: path };
    } catch (err) {
      throw classifyFsError(err, `directory sink ${this.name}: cannot write ${path}`);
    }
  }

  /** The root exists (created if missing, as write would) and is writable. */
  async probe(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (err) {
      throw classifyFsError(
        err,
        `directory sink ${this.name}: ${this.root} is not a writable directory`,
      );
    }
  }

  async close(): Promise<void> {}
}

/** Map a filesystem error (or an abort) to a SinkError; exported for tests. */
export function classifyFsError(err: unknown, what: string): SinkError {
  if (err instanceof SinkError) return err;
  if (err instanceof AbortedError) {
    return new SinkError(`${what}: ${err.message}`, {
      retryable: true,
      errorClass: err.timeout ? 'timeout' : 'aborted',
      cause: err,
    });
  }
  const c = errnoCode(err);
  if (!c) {
    return new SinkError(`${what}: ${errorMessage(err)}`, {
      retryable: true,
      errorClass: 'internal',
      cause: err,
    });
  }
  return new SinkError(`${what}: ${c}: ${errorMessage(err)}`, {
    retryable: !isPermanentFsCode(c),
    errorClass: fsErrorClass(c),
    cause: err,
  });
}

class AbortedError extends Error {
  override readonly name = 'AbortedError';
  constructor(readonly timeout: boolean) {
    super(timeout ? 'attempt timed out' : 'aborted');
  }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError(isTimeoutError(signal.reason));
}
