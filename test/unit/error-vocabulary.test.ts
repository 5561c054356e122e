import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CodecError, isTooLarge } from '../../src/codecs/errors.js';
import { decompress } from '../../src/codecs/index.js';
import { DlqFullError } from '../../src/dlq/errors.js';
import { ArchiveFormatError } from '../../src/replay/convert.js';
import { ClickHouseServerError } from '../../src/sinks/clickhouse.js';
import { SinkError } from '../../src/sinks/errors.js';
import { Abandoned } from '../../src/sources/kafka/deliver.js';
import { asError, errnoCode, errorMessage, isTimeoutError } from '../../src/util/errors.js';

describe('every error class names itself after its class', () => {
  it.each([
    ['SinkError', new SinkError('m', { retryable: true, errorClass: 'internal' })],
    ['DlqFullError', new DlqFullError('s', 'full', 'm')],
    ['CodecError', new CodecError('corrupt', 'm')],
    ['ClickHouseServerError', new ClickHouseServerError(500, 1, 'Code: 1. m')],
    ['ArchiveFormatError', new ArchiveFormatError('m')],
    ['Abandoned', new Abandoned('m')],
  ] as [string, Error][])('%s', (name, e) => {
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe(name);
    expect(e.constructor.name).toBe(name);
    expect(String(e)).toBe(`${name}: ${e.message}`);
  });
});

describe('isTooLarge: the worker answers 413 for these, 400 for other codec errors', () => {
  it('a body that decompresses beyond the limit', () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    const err = (() => {
      try {
        decompress('gzip', bomb, 1024);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CodecError);
    expect(isTooLarge(err)).toBe(true);
  });

  it('corrupt data, lookalikes and non-errors are not too large', () => {
    const corrupt = (() => {
      try {
        decompress('gzip', new Uint8Array([1, 2, 3, 4]), 1024);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(corrupt).toMatchObject({ code: 'corrupt' });
    expect(isTooLarge(corrupt)).toBe(false);
    // Only a CodecError counts: an object that merely has the code does not.
    expect(isTooLarge({ code: 'too_large' })).toBe(false);
    expect(isTooLarge(undefined)).toBe(false);
  });
});

describe('reading what was thrown', () => {
  it('errorMessage', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('a string')).toBe('a string');
    expect(errorMessage({ message: 'shaped like one' })).toBe('shaped like one');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage(null)).toBe('null');
    expect(errorMessage(42)).toBe('42');
  });

  it('asError keeps an Error and wraps anything else with it as the cause', () => {
    const e = new Error('x');
    expect(asError(e)).toBe(e);
    const w = asError('oops');
    expect(w).toBeInstanceOf(Error);
    expect(w.message).toBe('oops');
    expect(w.cause).toBe('oops');
  });

  it('errnoCode takes only string codes', () => {
    expect(errnoCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('ENOENT');
    expect(errnoCode({ code: 27 })).toBeUndefined();
    expect(errnoCode(null)).toBeUndefined();
  });

  it('isTimeoutError: an AbortSignal.timeout() reason or anything named TimeoutError', async () => {
    const s = AbortSignal.timeout(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(isTimeoutError(s.reason)).toBe(true);
    expect(isTimeoutError(new DOMException('x', 'AbortError'))).toBe(false);
    expect(isTimeoutError(undefined)).toBe(false);
  });
});
