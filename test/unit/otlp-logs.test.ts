import { describe, it, expect } from 'vitest';
import { parseBody, type ParseResult, eventText } from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';
import { isoOfNanos } from '../../workers/otlp-logs.js';
import { otlpLogsProto } from '../../src/sources/otlp/proto.js';
import { exportResponse, otlpAnswer, status } from '../../src/sources/otlp/answers.js';

const proto = otlpLogsProto();
const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

/** One record in both encodings: the OTLP/JSON text and the protobuf bytes of the same request. */
const json = {
  resourceLogs: [
    {
      resource: {
        attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }],
        droppedAttributesCount: 1,
      },
      schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
      scopeLogs: [
        {
          scope: { name: 'lib', version: '1.0', attributes: [] },
          logRecords: [
            {
              timeUnixNano: '1544712660300000000',
              observedTimeUnixNano: '1544712660300000001',
              severityNumber: 10,
              severityText: 'Information',
              traceId: TRACE,
              spanId: SPAN,
              flags: 1,
              eventName: 'login',
              body: {
                kvlistValue: {
                  values: [
                    { key: 'big', value: { intValue: '9223372036854775807' } },
                    { key: 'neg', value: { intValue: '-5' } },
                    { key: 'pi', value: { doubleValue: 3.5 } },
                    { key: 'inf', value: { doubleValue: 'Infinity' } },
                    { key: 'raw', value: { bytesValue: 'AAEC' } },
                    { key: 'list', value: { arrayValue: { values: [{ boolValue: false }, {}] } } },
                  ],
                },
              },
              attributes: [
                { key: 'string.attribute', value: { stringValue: 'some string' } },
                { key: 'dup', value: { intValue: 1 } },
                { key: 'dup', value: { intValue: 2 } },
              ],
              droppedAttributesCount: 2,
            },
          ],
        },
      ],
    },
  ],
};

function protoOf(j: typeof json): Uint8Array {
  const r = j.resourceLogs[0];
  const lr = r.scopeLogs[0].logRecords[0];
  const long = (s: string) => {
    const b = BigInt(s);
    return { low: Number(b & 0xffffffffn) | 0, high: Number(b >> 32n) | 0, unsigned: true };
  };
  return proto.ExportLogsServiceRequest.encode({
    resourceLogs: [
      {
        ...r,
        scopeLogs: [
          {
            ...r.scopeLogs[0],
            logRecords: [
              {
                ...lr,
                timeUnixNano: long(lr.timeUnixNano),
                observedTimeUnixNano: long(lr.observedTimeUnixNano),
                traceId: Buffer.from(TRACE, 'hex'),
                spanId: Buffer.from(SPAN, 'hex'),
                body: {
                  kvlistValue: {
                    values: [
                      {
                        key: 'big',
                        value: { intValue: { low: -1, high: 0x7fffffff, unsigned: false } },
                      },
                      { key: 'neg', value: { intValue: -5 } },
                      { key: 'pi', value: { doubleValue: 3.5 } },
                      { key: 'inf', value: { doubleValue: Infinity } },
                      { key: 'raw', value: { bytesValue: Buffer.from([0, 1, 2]) } },
                      {
                        key: 'list',
                        value: { arrayValue: { values: [{ boolValue: false }, {}] } },
                      },
                    ],
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  }).finish();
}

const ok = (r: ParseResult) => {
  if (!r.ok) throw new Error(r.message);
  return r;
};

describe('OTLP logs → events (workers/otlp-logs.ts)', () => {
  it('maps every field as docs/protocols.md says, the same from protobuf and from OTLP/JSON', () => {
    const fromJson = ok(parseBody(BodyFormat.OtlpLogsJson, Buffer.from(JSON.stringify(json))));
    const fromProto = ok(parseBody(BodyFormat.OtlpLogsProtobuf, protoOf(json)));
    expect(fromJson.events).toHaveLength(1);
    const text = eventText(fromJson.events[0]);
    expect(eventText(fromProto.events[0])).toBe(text);
    expect(fromProto.events[0].id).toBe(fromJson.events[0].id);
    expect(fromJson.events[0].id).toMatch(/^[0-9a-f]{64}$/);
    expect(text).toContain('"big":9223372036854775807'); // exact digits, not a rounded double
    expect(JSON.parse(text)).toEqual({
      timestamp: '2018-12-13T14:51:00.300000000Z',
      time_unix_nano: '1544712660300000000',
      observed_time_unix_nano: '1544712660300000001',
      severity_number: 10,
      severity_text: 'Information',
      body: {
        // biome-ignore lint/correctness/noPrecisionLoss: JSON.parse of the exact digits gives this same rounded double; the text check above asserts the digits
        big: 9223372036854775807,
        neg: -5,
        pi: 3.5,
        inf: 'Infinity',
        raw: 'AAEC',
        list: [false, null],
      },
      attributes: { 'string.attribute': 'some string', dup: 1 },
      dropped_attributes_count: 2,
      flags: 1,
      trace_id: TRACE,
      span_id: SPAN,
      event_name: 'login',
      resource: {
        attributes: { 'service.name': 'svc' },
        dropped_attributes_count: 1,
        schema_url: 'https://opentelemetry.io/schemas/1.21.0',
      },
      scope: {
        name: 'lib',
        version: '1.0',
        attributes: {},
        dropped_attributes_count: 0,
        schema_url: '',
      },
    });
  });

  it('event_id: the event_id attribute, else log.record.uid, else the hash; an unusable one refuses the record', () => {
    const one = (attributes: unknown[]) =>
      parseBody(
        BodyFormat.OtlpLogsJson,
        Buffer.from(
          JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes }] }] }] }),
        ),
      );
    const uid = { key: 'log.record.uid', value: { stringValue: '01J9' } };
    expect(ok(one([uid])).events[0].id).toBe('01J9');
    expect(ok(one([uid, { key: 'event_id', value: { intValue: '42' } }])).events[0].id).toBe('42');
    const bad = ok(one([{ key: 'event_id', value: { stringValue: '' } }]));
    expect(bad.events).toHaveLength(0);
    expect(bad.rejected).toBe(1);
    expect(bad.rejectMessage).toMatch(/event_id is an empty string/);
  });

  it('undecodable bodies are refused whole; bad records one by one; no records is a valid request', () => {
    expect(parseBody(BodyFormat.OtlpLogsProtobuf, Buffer.from([0x0a, 0xff, 0x01])).ok).toBe(false);
    expect(parseBody(BodyFormat.OtlpLogsJson, Buffer.from('[1]')).ok).toBe(false);
    expect(parseBody(BodyFormat.OtlpLogsJson, Buffer.from('{"resourceLogs":{}}')).ok).toBe(false);
    expect(ok(parseBody(BodyFormat.OtlpLogsProtobuf, new Uint8Array(0))).events).toEqual([]);
    const r = ok(
      parseBody(
        BodyFormat.OtlpLogsJson,
        Buffer.from(
          JSON.stringify({
            resourceLogs: [
              { scopeLogs: [{ logRecords: [{ traceId: 'abc' }, { severityNumber: 'x' }, {}] }] },
            ],
          }),
        ),
      ),
    );
    expect(r.events).toHaveLength(1);
    expect(r.rejected).toBe(2);
    expect(r.rejectMessage).toMatch(
      /^2 log records refused; the first: .*logRecords\[0\]: traceId/,
    );
  });

  it('timestamps: exact RFC 3339 with nine digits', () => {
    expect(isoOfNanos('0')).toBe('1970-01-01T00:00:00.000000000Z');
    expect(isoOfNanos('1')).toBe('1970-01-01T00:00:00.000000001Z');
    expect(isoOfNanos('1700000000007000000')).toBe('2023-11-14T22:13:20.007000000Z');
    expect(isoOfNanos('18446744073709551615')).toBe('2554-07-21T23:34:33.709551615Z');
  });
});

describe('OTLP answers (src/sources/otlp/answers.ts)', () => {
  it('200 with an empty or partial ExportLogsServiceResponse; refusals as google.rpc.Status; 5xx → 503 + Retry-After', () => {
    const full = otlpAnswer({ status: 200, body: { accepted: 3 } }, 'protobuf', 1);
    expect(full).toMatchObject({
      status: 200,
      headers: { 'Content-Type': 'application/x-protobuf' },
    });
    expect(full.body.byteLength).toBe(0);
    const part = otlpAnswer(
      { status: 202, body: { accepted: 2, rejected: 1, rejected_message: 'why' } },
      'json',
      1,
    );
    expect(JSON.parse(Buffer.from(part.body).toString())).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: 'why' },
    });
    const decoded = proto.ExportLogsServiceResponse.decode(exportResponse('protobuf', 4, 'w'));
    expect(Number(decoded.partialSuccess?.rejectedLogRecords)).toBe(4);
    const down = otlpAnswer({ status: 500, body: { error: 'x', message: 'y' } }, 'json', 9);
    expect(down.status).toBe(503);
    expect(down.headers['Retry-After']).toBe('9');
    expect(JSON.parse(Buffer.from(down.body).toString())).toMatchObject({ code: 14 });
    expect(Array.from(status('protobuf', 3, 'hi'))).toEqual([0x08, 3, 0x12, 2, 0x68, 0x69]);
  });
});
