// The OTLP bench body: one ExportLogsServiceRequest (protobuf) of 100 LogRecords carrying the
// same fields as the W1 events (bench/lib/payload.mjs) as attributes, with trace context, under
// one resource and one scope — what an instrumented service's SDK exports.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { events, EVENTS_PER_REQ } from './payload.mjs';
import { distModule } from './dist.mjs';

const { otlpLogsProto } = /** @type {typeof import('../../src/sources/otlp/proto.js')} */ (
  await import(distModule('src/sources/otlp/proto.js'))
);
const { parseOtlpProtobuf } = /** @type {typeof import('../../workers/otlp-logs.js')} */ (
  await import(distModule('workers/otlp-logs.js'))
);
const { MAX_EVENT_DEPTH, MAX_EVENT_KEYS, MAX_EVENT_BYTES } =
  /** @type {typeof import('../../workers/parse.js')} */ (
    await import(distModule('workers/parse.js'))
  );

/**
 * @param {unknown} v
 * @returns {Record<string, unknown>}
 */
const any = (v) =>
  typeof v === 'string'
    ? { stringValue: v }
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? { intValue: v }
        : { doubleValue: v }
      : Array.isArray(v)
        ? { arrayValue: { values: v.map(any) } }
        : { boolValue: Boolean(v) };

/** The request as protobuf bytes, n records. */
export function otlpRequest(n = EVENTS_PER_REQ, from = 0) {
  const logRecords = events(n, from).map((e, i) => {
    const { ts, kind, ...rest } = e;
    return {
      timeUnixNano: BigInt(ts) * 1_000_000n,
      observedTimeUnixNano: BigInt(ts) * 1_000_000n + 1234n,
      severityNumber: 9,
      severityText: 'INFO',
      body: { stringValue: `${kind} ${rest.path} by ${rest.user}` },
      attributes: Object.entries(rest).map(([key, v]) => ({ key, value: any(v) })),
      flags: 1,
      traceId: Buffer.from(
        `0af7651916cd43dd8448eb211c80${String(1000 + (i % 9000)).padStart(4, '0')}`,
        'hex',
      ),
      spanId: Buffer.from('b7ad6b7169203331', 'hex'),
    };
  });
  const req = {
    resourceLogs: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'checkout' } },
            { key: 'service.version', value: { stringValue: '1.4.2' } },
            { key: 'host.name', value: { stringValue: 'web-17' } },
          ],
        },
        scopeLogs: [{ scope: { name: 'app.logger', version: '2.0.0' }, logRecords }],
      },
    ],
  };
  // protobufjs takes Long-like numbers for fixed64: convert the BigInts.
  for (const r of logRecords) {
    for (const k of /** @type {const} */ (['timeUnixNano', 'observedTimeUnixNano'])) {
      const b = /** @type {bigint} */ (/** @type {unknown} */ (r[k]));
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (r))[k] = {
        low: Number(b & 0xffffffffn) | 0,
        high: Number(b >> 32n) | 0,
        unsigned: true,
      };
    }
  }
  return otlpLogsProto().ExportLogsServiceRequest.encode(req).finish();
}

/**
 * Writes the OTLP body into dir.
 * @param {string} dir
 */
export function writeOtlpBody(dir) {
  const file = join(dir, 'otlp-logs.pb');
  writeFileSync(file, otlpRequest());
  return file;
}

/**
 * Writes the OTLP body's records as ferry maps them (docs/protocols.md), one JSON event a line:
 * the same events, posted to /v1/events (the WO row), so the OTLP row can be read against
 * /v1/events carrying exactly what OTLP carries, apart from the W1 row's smaller events.
 * @param {string} dir
 */
export function writeOtlpMappedBody(dir) {
  const r = parseOtlpProtobuf(otlpRequest(), {
    maxDepth: MAX_EVENT_DEPTH,
    maxKeys: MAX_EVENT_KEYS,
    maxBytes: MAX_EVENT_BYTES,
  });
  if (!r.ok) throw new Error(`the OTLP bench body does not map: ${r.message}`);
  const text =
    r.events.map((e) => e.text ?? Buffer.from(e.bytes ?? []).toString('utf8')).join('\n') + '\n';
  const file = join(dir, 'otlp-mapped.ndjson');
  writeFileSync(file, text);
  return { file, avgEventBytes: Math.round(text.length / r.events.length - 1) };
}
