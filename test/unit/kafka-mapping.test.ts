import { describe, it, expect } from 'vitest';
import { Buffer } from 'node:buffer';
import { mapMessage, type SourceMessage } from '../../src/sources/kafka/mapping.js';
import { dlqPayload } from '../../src/sources/kafka/dlq-topic.js';
import {
  settle,
  tryDispatch,
  type DeliverDeps,
  type Piece,
  type Poisoned,
} from '../../src/sources/kafka/deliver.js';
import { AckTracker } from '../../src/pipeline/acks.js';
import { BodyFormat, type decodeHeader } from '../../src/rings/record.js';
import { parseConfigText, ConfigError } from '../../src/config/load.js';
import { diffConfig } from '../../src/config/diff.js';

const msg = (value: string | Buffer | null, extra: Partial<SourceMessage> = {}): SourceMessage => ({
  topic: 'events',
  partition: 2,
  offset: '41',
  key: Buffer.from('k1'),
  value: typeof value === 'string' ? Buffer.from(value) : value,
  timestamp: '1700000000000',
  headers: { trace: Buffer.from('t-1') },
  ...extra,
});
const cfg = { format: 'json' as const, max_message_bytes: 1000, metadata_field: '' };

describe('mapMessage', () => {
  it('passes a one-line JSON value through untouched', () => {
    const r = mapMessage(msg('{"a":1}'), cfg);
    expect(r.ok && Buffer.from(r.bytes).toString()).toBe('{"a":1}');
  });

  it('re-serialises a value spread over lines so one message stays one NDJSON line', () => {
    const r = mapMessage(msg('{\n  "a": 1,\r\n  "b": "x"\n}'), cfg);
    expect(r.ok && Buffer.from(r.bytes).toString()).toBe('{"a":1,"b":"x"}');
  });

  it('refuses tombstones, blanks, over-size and unparseable multi-line values with a class', () => {
    expect(mapMessage(msg(null), cfg)).toMatchObject({ ok: false, class: 'empty_value' });
    expect(mapMessage(msg('   '), cfg)).toMatchObject({ ok: false, class: 'empty_value' });
    expect(mapMessage(msg('x'.repeat(1001)), cfg)).toMatchObject({
      ok: false,
      class: 'too_large',
      message: expect.stringContaining('1001 bytes'),
    });
    expect(mapMessage(msg('{"a":\n'), cfg)).toMatchObject({ ok: false, class: 'malformed' });
  });

  it('splices Kafka coordinates in under metadata_field', () => {
    const r = mapMessage(msg('{"a":1}'), { ...cfg, metadata_field: '_kafka' });
    expect(r.ok).toBe(true);
    const obj = JSON.parse(Buffer.from((r as { bytes: Uint8Array }).bytes).toString());
    expect(obj).toEqual({
      _kafka: {
        topic: 'events',
        partition: 2,
        offset: '41',
        key: 'k1',
        timestamp: '2023-11-14T22:13:20.000Z',
        headers: { trace: 't-1' },
      },
      a: 1,
    });
    const empty = mapMessage(msg('{}'), { ...cfg, metadata_field: '_kafka' });
    expect(
      JSON.parse(Buffer.from((empty as { bytes: Uint8Array }).bytes).toString())._kafka.offset,
    ).toBe('41');
  });

  it('msgpack values pass as they are', () => {
    const v = Buffer.from([0x81, 0xa1, 0x61, 0x01]);
    const r = mapMessage(msg(v), { ...cfg, format: 'msgpack' });
    expect(r.ok && Buffer.from(r.bytes).equals(v)).toBe(true);
  });
});

describe('dlqPayload', () => {
  it('carries topic, partition, offset, key, headers, error, timestamps and the value in base64', () => {
    const p = dlqPayload(
      msg('not json'),
      'malformed',
      'Unexpected token',
      'edge-1',
      Date.UTC(2026, 0, 1),
    );
    expect(p).toEqual({
      topic: 'events',
      partition: 2,
      offset: '41',
      key: Buffer.from('k1').toString('base64'),
      headers: { trace: Buffer.from('t-1').toString('base64') },
      error: { class: 'malformed', message: 'Unexpected token' },
      timestamp: '2023-11-14T22:13:20.000Z',
      failed_at: '2026-01-01T00:00:00.000Z',
      value: Buffer.from('not json').toString('base64'),
      host_id: 'edge-1',
    });
    expect(dlqPayload(msg(null, { key: null }), 'empty_value', 'x', 'h').value).toBe('');
  });
});

/** A dispatcher that answers like the workers would: a bad line is refused with its number. */
function fakePipeline(opts: { refuseFirst?: number; failRetryable?: number } = {}) {
  const acks = new AckTracker();
  const delivered: string[] = [];
  let refusals = opts.refuseFirst ?? 0;
  let failures = opts.failRetryable ?? 0;
  const dispatcher = {
    tryDispatch(
      header: Parameters<typeof decodeHeader>[0] extends never ? never : { reqId: number },
      body: readonly Uint8Array[],
    ): number {
      if (refusals > 0) {
        refusals--;
        return -1;
      }
      const text = Buffer.concat(body.map((b) => Buffer.from(b))).toString();
      const id = header.reqId;
      setTimeout(() => {
        const lines = text.split('\n').filter((l) => l !== '');
        const bad = lines.findIndex((l) => {
          try {
            JSON.parse(l);
            return false;
          } catch {
            return true;
          }
        });
        if (bad >= 0)
          return acks.onVerdict({
            reqId: id,
            ok: false,
            status: 400,
            error: 'malformed_body',
            message: `line ${bad + 1} (byte offset 0): bad`,
            line: bad + 1,
          });
        acks.onVerdict({ reqId: id, ok: true, events: lines.length, span: 1 });
        if (failures > 0) {
          failures--;
          return acks.onBatchFailed([id], 503, 'dlq_full', 'full');
        }
        delivered.push(...lines);
        acks.onBatchDelivered([id]);
      }, 1);
      return 0;
    },
  };
  return { acks, dispatcher: dispatcher as unknown as DeliverDeps['dispatcher'], delivered };
}

function pieceOf(values: string[]): Piece {
  return {
    msgs: values.map((v, i) => msg(v, { offset: String(i) })),
    lines: values.map((v) => Buffer.from(v)),
  };
}

describe('settle (one piece through the pipeline)', () => {
  it('singles out bad lines into the DLQ and delivers the rest', async () => {
    const p = fakePipeline();
    const poisoned: Poisoned[] = [];
    const deps: DeliverDeps = {
      ...p,
      format: BodyFormat.Ndjson,
      poison: async (items) => void poisoned.push(...items),
      retrying: () => {},
      backoffMs: () => 1,
      stopped: () => false,
    };
    const piece = pieceOf(['{"a":1}', 'nope', '{"a":3}', '{bad', '{"a":5}']);
    await settle(deps, piece, tryDispatch(deps, piece)!);
    expect(poisoned.map((x) => x.msg.offset)).toEqual(['1', '3']);
    expect(poisoned[0]).toMatchObject({ class: 'malformed', message: 'bad' });
    expect(p.delivered.sort()).toEqual(['{"a":1}', '{"a":3}', '{"a":5}']);
  });

  it('bisects when the worker cannot say which message (msgpack)', async () => {
    const p = fakePipeline();
    const poisoned: Poisoned[] = [];
    const deps: DeliverDeps = {
      ...p,
      format: BodyFormat.Msgpack,
      poison: async (items) => void poisoned.push(...items),
      retrying: () => {},
      backoffMs: () => 1,
      stopped: () => false,
    };
    // msgpack values are concatenated as they are: here each ends in a newline so the fake can split them
    const piece = pieceOf(['{"a":1}\n', 'x\n', '{"a":3}\n', '{"a":4}\n']);
    await settle(deps, piece, tryDispatch(deps, piece)!);
    expect(poisoned.map((x) => x.msg.offset)).toEqual(['1']);
  });

  it('retries a piece after a retryable failure (503) until it is delivered, flagging the partition meanwhile', async () => {
    const p = fakePipeline({ failRetryable: 2 });
    const flags: number[] = [];
    const deps: DeliverDeps = {
      ...p,
      format: BodyFormat.Ndjson,
      poison: async () => {},
      retrying: (d) => flags.push(d),
      backoffMs: () => 1,
      stopped: () => false,
    };
    const piece = pieceOf(['{"a":1}', '{"a":2}']);
    await settle(deps, piece, tryDispatch(deps, piece)!);
    expect(p.delivered).toEqual(['{"a":1}', '{"a":2}']);
    expect(flags).toEqual([1, -1]);
  });

  it('gives up (never resolves as done) when ferry stops during a retry', async () => {
    const p = fakePipeline({ failRetryable: 100 });
    let stopped = false;
    const deps: DeliverDeps = {
      ...p,
      format: BodyFormat.Ndjson,
      poison: async () => {},
      retrying: () => {},
      backoffMs: () => 5,
      stopped: () => stopped,
    };
    const piece = pieceOf(['{"a":1}']);
    const done = settle(deps, piece, tryDispatch(deps, piece)!);
    setTimeout(() => (stopped = true), 20);
    await expect(done).rejects.toThrow(/stopping/);
  });

  it('waits for ring space when the dispatcher refuses a retry', async () => {
    const p = fakePipeline({ failRetryable: 1 });
    const deps: DeliverDeps = {
      ...p,
      format: BodyFormat.Ndjson,
      poison: async () => {},
      retrying: () => {},
      backoffMs: () => 1,
      stopped: () => false,
    };
    const piece = pieceOf(['{"a":1}']);
    const first = tryDispatch(deps, piece)!;
    // the next two dispatch attempts are refused (rings full)
    (p.dispatcher as unknown as { tryDispatch: unknown }).tryDispatch = ((orig) => {
      let n = 2;
      return (h: never, b: never) => (n-- > 0 ? -1 : orig(h, b));
    })(
      (p.dispatcher as unknown as { tryDispatch: (h: never, b: never) => number }).tryDispatch.bind(
        p.dispatcher,
      ),
    );
    await settle(deps, piece, first);
    expect(p.delivered).toEqual(['{"a":1}']);
  });
});

describe('kafka config', () => {
  it('is off by default; KAFKA_CONSUMER_ENABLED turns it on or off', () => {
    expect(parseConfigText('', 'x', {}).kafka.enabled).toBe(false);
    const on = parseConfigText('kafka: { topics: [events] }', 'x', {
      KAFKA_CONSUMER_ENABLED: 'true',
    });
    expect(on.kafka).toMatchObject({
      enabled: true,
      topics: ['events'],
      dlq_topic_suffix: '.dlq',
      format: 'json',
      group_id: 'ferry',
    });
    expect(
      parseConfigText('kafka: { enabled: true, topics: [events] }', 'x', {
        KAFKA_CONSUMER_ENABLED: '0',
      }).kafka.enabled,
    ).toBe(false);
  });

  it('rejects a bad switch value, no topics, and a topic that is its own DLQ', () => {
    expect(() => parseConfigText('', 'x', { KAFKA_CONSUMER_ENABLED: 'maybe' })).toThrow(
      /KAFKA_CONSUMER_ENABLED.*true or false/,
    );
    expect(() => parseConfigText('kafka: { enabled: true }', 'x', {})).toThrow(ConfigError);
    expect(() => parseConfigText('kafka: { enabled: true }', 'x', {})).toThrow(/kafka\.topics/);
    expect(() => parseConfigText('kafka: { enabled: true, topics: [a.dlq] }', 'x', {})).toThrow(
      /consume its own DLQ/,
    );
    expect(() => parseConfigText('kafka: { format: csv }', 'x', {})).toThrow(/kafka\.format/);
  });

  it('a reload that changes the kafka section asks for a restart (the running consumer keeps its settings)', () => {
    const a = parseConfigText('kafka: { enabled: true, topics: [events] }', 'x', {});
    const b = parseConfigText(
      'kafka: { enabled: true, topics: [events, more], commit_interval_ms: 500 }',
      'x',
      {},
    );
    const d = diffConfig(a, b);
    expect(d.restart).toEqual(expect.arrayContaining(['kafka.topics', 'kafka.commit_interval_ms']));
    expect(d.live.filter((p) => p.startsWith('kafka'))).toEqual([]);
  });
});
