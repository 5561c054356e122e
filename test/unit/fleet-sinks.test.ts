import { describe, expect, it } from 'vitest';
import type { BatchLimits, Codec } from '../../src/contracts/batch.js';
import { archiveBytes, splitArchive } from '../../src/sinks/archive-lines.js';
import { checkRoute, createRoute } from '../../src/sinks/kafka/route.js';
import { classifyKafkaError } from '../../src/sinks/kafka/errors.js';
import { classifyHttpError, HttpStatusError, retryAfterMs } from '../../src/sinks/http/errors.js';
import { deliver } from '../../src/sinks/retry.js';
import { partsFor, SINK_KINDS } from '../../src/sinks/kinds.js';
import { SinkError } from '../../src/sinks/errors.js';
import type { Sink } from '../../src/contracts/sink.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { parseBody } from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

/** A real archive part, as the workers build it. */
function archiveOf(lines: string[], codec: Codec) {
  const limits: BatchLimits = {
    maxEvents: 1_000_000,
    maxBytes: 1 << 24,
    maxAgeMs: 60_000,
    codec,
    level: 0,
    archive: true,
    rows: false,
    compressRows: false,
  };
  const sealed: SealedBatch[] = [];
  const b = new Batcher(limits, (s) => sealed.push(s));
  const parsed = parseBody(BodyFormat.Ndjson, new TextEncoder().encode(lines.join('\n')));
  if (!parsed.ok) throw new Error(parsed.message);
  b.appendRequest(1, parsed.events, Date.now(), 'edge-7');
  b.sealIfDue(Date.now(), true);
  expect(sealed.length).toBe(1);
  return sealed[0].batch;
}

describe('archive lines (the Kafka sink cuts a batch into events)', () => {
  it('gives every event with its event_id and its bytes as they arrived, for every codec', () => {
    const lines = [
      '{"event_id":"a1","x":1}',
      '{"x":"no id, ferry hashes it"}',
      '{"event_id":"quo\\"te é","payload":"a field named payload","n":{"payload":1}}',
      '{"event_id":42,"s":"\\u2028 ünïcode"}',
    ];
    for (const codec of ['none', 'gzip', 'lz4', 'zstd'] as const) {
      const batch = archiveOf(lines, codec);
      const evs = splitArchive(archiveBytes(batch.archive!));
      expect(evs.length).toBe(lines.length);
      expect(evs.map((e) => e.payload().toString('utf8'))).toEqual(lines);
      expect(evs[0].eventId).toBe('a1');
      expect(evs[1].eventId).toMatch(/^[0-9a-f]{64}$/);
      expect(evs[2].eventId).toBe('quo"te é');
      expect(evs[3].eventId).toBe('42');
      for (const e of evs) expect(JSON.parse(e.line.toString('utf8')).source).toBe('edge-7');
    }
  });

  it('refuses bytes ferry did not write', () => {
    expect(() => splitArchive(Buffer.from('{"x":1}\n'))).toThrow(/not a ferry envelope/);
  });
});

describe('the Kafka and HTTP sink kinds', () => {
  it('take the archive part, so the workers build it and the DLQ keeps it', () => {
    const kafka = {
      type: 'kafka',
      name: 'bus',
      brokers: ['b:9092'],
      topic: 't',
      topic_values: [],
      default_topic: '',
      key_field: '',
      value: 'envelope',
      compression: 'gzip',
      max_request_bytes: 900000,
      client_id: 'x',
      tls: { enabled: false, ca: '', cert: '', key: '', servername: '', reject_unauthorized: true },
      sasl: { mechanism: 'none', username: '', password: '' },
    } as const;
    const http = {
      type: 'http',
      name: 'core',
      urls: ['http://core/v1/events'],
      token: '',
      ack: 'durable',
      headers: {},
      failover_cooldown_ms: 1,
      probe_path: '/readyz',
      max_retry_after_s: 1,
      tls: { ca: '', cert: '', key: 'k.pem', servername: '', reject_unauthorized: true },
    } as const;
    expect(SINK_KINDS.kafka.part(kafka as never)).toEqual({ takes: 'archive' });
    expect(SINK_KINDS.http.part(http as never)).toEqual({ takes: 'archive' });
    expect(partsFor([kafka as never])).toEqual({ archive: true, rows: false, compressRows: false });
    expect(SINK_KINDS.kafka.check(kafka as never)).toEqual([]);
    expect(SINK_KINDS.http.check(http as never)).toEqual([
      { key: 'tls', message: 'cert and key go together (mutual TLS)' },
    ]);
  });
});

describe('Kafka routes', () => {
  const ev = (payload: object, id = 'id1') => {
    const line = Buffer.from(
      `{"event_id":"${id}","received_at":"2026-01-01T00:00:00Z","source":"s","payload":${JSON.stringify(payload)}}`,
    );
    return splitArchive(line)[0];
  };
  const fieldsOf = (e: ReturnType<typeof ev>) => () => JSON.parse(e.payload().toString());

  it('a fixed topic, keyed by event_id', () => {
    const r = createRoute({ topic: 'logs', topic_values: [], default_topic: '', key_field: '' });
    const e = ev({ app: 'x' });
    expect([r.topicOf(e, fieldsOf(e)), r.keyOf(e, fieldsOf(e)), r.readsFields]).toEqual([
      'logs',
      'id1',
      false,
    ]);
    expect(r.topics).toEqual(['logs']);
  });

  it('a {field} template over a bounded set, else the default; a key field, else event_id', () => {
    const cfg = {
      topic: 'logs.{app}',
      topic_values: ['api', 'web'],
      default_topic: 'logs.other',
      key_field: 'user',
    };
    expect(checkRoute(cfg)).toEqual([]);
    const r = createRoute(cfg);
    expect(r.topics).toEqual(['logs.api', 'logs.web', 'logs.other']);
    const cases: [object, string, string][] = [
      [{ app: 'api', user: 'u1' }, 'logs.api', 'u1'],
      [{ app: 'web', user: 7 }, 'logs.web', '7'],
      [{ app: 'evil/../topic' }, 'logs.other', 'id1'],
      [{ user: '' }, 'logs.other', 'id1'],
    ];
    for (const [p, topic, key] of cases) {
      const e = ev(p);
      expect([r.topicOf(e, fieldsOf(e)), r.keyOf(e, fieldsOf(e))]).toEqual([topic, key]);
    }
  });

  it('config problems name their key', () => {
    const base = { topic_values: [], default_topic: '', key_field: '' };
    expect(checkRoute({ ...base, topic: 'bad topic' })[0].key).toBe('topic');
    expect(checkRoute({ ...base, topic: 'a.{x}' })[0].key).toBe('topic_values');
    expect(checkRoute({ ...base, topic: 'a.{x}', topic_values: ['b'] })[0].key).toBe(
      'default_topic',
    );
    expect(checkRoute({ ...base, topic: '{x}.{y}' })[0].message).toMatch(/one \{field\}/);
    expect(checkRoute({ ...base, topic: 'fixed', topic_values: ['a'] })[0].key).toBe(
      'topic_values',
    );
  });
});

describe('sink error classes', () => {
  it('kafkajs errors: broker-side retriable, auth and size permanent, connection = network', () => {
    const proto = (type: string, retriable: boolean) =>
      Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable });
    const wrapped = (cause: Error) =>
      Object.assign(new Error('retries exceeded', { cause }), {
        name: 'KafkaJSNumberOfRetriesExceeded',
        retriable: false,
      });
    const c = (e: unknown) => {
      const s = classifyKafkaError(e, 'w');
      return [s.errorClass, s.retryable, s.status];
    };
    expect(c(wrapped(proto('NOT_ENOUGH_REPLICAS', true)))).toEqual(['http_5xx', true, undefined]);
    expect(c(proto('TOPIC_AUTHORIZATION_FAILED', false))).toEqual(['auth', false, undefined]);
    expect(c(proto('MESSAGE_TOO_LARGE', false))).toEqual(['rejected', false, undefined]);
    expect(c(proto('UNKNOWN_TOPIC_OR_PARTITION', true))).toEqual(['rejected', false, 404]);
    expect(c(proto('REQUEST_TIMED_OUT', true))).toEqual(['timeout', true, undefined]);
    expect(
      c(
        wrapped(
          Object.assign(new Error('Connection error: connect ECONNREFUSED'), {
            name: 'KafkaJSConnectionError',
            code: 'ECONNREFUSED',
          }),
        ),
      ),
    ).toEqual(['network', true, undefined]);
    expect(c(new Error('something new'))).toEqual(['internal', true, undefined]);
  });

  it('HTTP answers: 5xx/408/429 retry with Retry-After, 401/403 auth, other 4xx permanent', () => {
    const c = (status: number, headers = {}) => {
      const s = classifyHttpError(
        new HttpStatusError(status, headers, '{}'),
        'w',
        undefined,
        60_000,
      );
      return [s.errorClass, s.retryable, s.retryAfterMs];
    };
    expect(c(503, { 'retry-after': '2' })).toEqual(['http_5xx', true, 2000]);
    expect(c(429, { 'retry-after': '600' })).toEqual(['throttled', true, 60_000]);
    expect(c(500)).toEqual(['http_5xx', true, undefined]);
    expect(c(408)).toEqual(['http_4xx', true, undefined]);
    expect(c(401)).toEqual(['auth', false, undefined]);
    expect(c(400, { 'retry-after': '5' })).toEqual(['http_4xx', false, undefined]);
    expect(c(413)).toEqual(['http_4xx', false, undefined]);
    expect(c(301)).toEqual(['http_3xx', false, undefined]);
    const net = classifyHttpError(
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
      'w',
      undefined,
      1,
    );
    expect([net.errorClass, net.retryable]).toEqual(['network', true]);
  });

  it('Retry-After: seconds or an HTTP date, capped, garbage ignored', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', 10_000, now)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', 10_000, now)).toBe(5000);
    expect(retryAfterMs('99', 10_000, now)).toBe(10_000);
    expect(retryAfterMs('soon', 10_000, now)).toBeUndefined();
    expect(retryAfterMs(undefined, 10_000, now)).toBeUndefined();
  });

  it("the retry loop waits at least the server's Retry-After", async () => {
    let calls = 0;
    const times: number[] = [];
    const sink: Sink = {
      name: 'h',
      type: 'http',
      takes: 'archive',
      write: async () => {
        times.push(Date.now());
        if (calls++ === 0)
          throw new SinkError('503', {
            retryable: true,
            status: 503,
            errorClass: 'http_5xx',
            retryAfterMs: 400,
          });
        return { location: 'ok' };
      },
      probe: async () => {},
      close: async () => {},
    };
    const batch = { id: 'b', createdAt: 0, events: 1 };
    await deliver(sink, batch, {
      initial_ms: 1,
      max_ms: 1,
      max_elapsed_ms: 10_000,
      attempt_timeout_ms: 1000,
    });
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(390);
  });
});
