import { createRequire } from 'node:module';

/**
 * The OTLP messages, from the protobufjs static code the OpenTelemetry JS project generates
 * from the official opentelemetry-proto definitions and ships in
 * `@opentelemetry/otlp-transformer` (pinned to 0.214.0: the last release that ships it with the
 * logs messages; later ones hand-roll an encoder and have no request decoder). Loaded on first
 * use (it is ~700 KB of code), so nodes and workers that never see OTLP never load it.
 */

/** The slice of protobufjs's `Long` we read (fixed64 fields decode to it). */
export interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

export interface PbAnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: LongLike | number | null;
  doubleValue?: number | null;
  arrayValue?: { values: PbAnyValue[] } | null;
  kvlistValue?: { values: PbKeyValue[] } | null;
  bytesValue?: Uint8Array | null;
}
export interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
export interface PbLogRecord {
  timeUnixNano: LongLike | number;
  observedTimeUnixNano: LongLike | number;
  severityNumber: number;
  severityText: string;
  body?: PbAnyValue | null;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
  flags: number;
  traceId: Uint8Array;
  spanId: Uint8Array;
  eventName?: string;
}
export interface PbScopeLogs {
  scope?: {
    name: string;
    version: string;
    attributes: PbKeyValue[];
    droppedAttributesCount: number;
  } | null;
  logRecords: PbLogRecord[];
  schemaUrl: string;
}
export interface PbResourceLogs {
  resource?: { attributes: PbKeyValue[]; droppedAttributesCount: number } | null;
  scopeLogs: PbScopeLogs[];
  schemaUrl: string;
}
export interface PbExportLogsServiceRequest {
  resourceLogs: PbResourceLogs[];
}

interface Codec<T> {
  decode(r: Uint8Array): T;
  encode(m: unknown): { finish(): Uint8Array };
}

export interface OtlpLogsProto {
  ExportLogsServiceRequest: Codec<PbExportLogsServiceRequest>;
  ExportLogsServiceResponse: Codec<{
    partialSuccess?: { rejectedLogRecords: LongLike | number; errorMessage: string } | null;
  }>;
}

let loaded: OtlpLogsProto | undefined;

export function otlpLogsProto(): OtlpLogsProto {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
    opentelemetry: { proto: { collector: { logs: { v1: OtlpLogsProto } } } };
  };
  loaded = root.opentelemetry.proto.collector.logs.v1;
  return loaded;
}

/** protobufjs's Writer, for the one message the generated code lacks (google.rpc.Status). */
export function protobufWriter(): {
  uint32(v: number): ProtoWriter;
  finish(): Uint8Array;
} {
  const require = createRequire(import.meta.url);
  const pb = require('protobufjs/minimal') as { Writer: { create(): ProtoWriter } };
  return pb.Writer.create();
}

export interface ProtoWriter {
  uint32(v: number): ProtoWriter;
  int32(v: number): ProtoWriter;
  string(v: string): ProtoWriter;
  finish(): Uint8Array;
}
