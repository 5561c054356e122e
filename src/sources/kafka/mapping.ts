import { Buffer } from 'node:buffer';
import type { KafkaConfig } from '../../config/types.js';
import { errorMessage } from '../../util/errors.js';

/** The parts of a fetched Kafka message the source uses (kafkajs's KafkaMessage, narrowed). */
export interface SourceMessage {
  topic: string;
  partition: number;
  /** int64 as decimal text, as kafkajs gives it. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since the epoch, as text. */
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** Why a message cannot become an event; the class goes into the DLQ-topic payload. */
export type PoisonClass = 'empty_value' | 'too_large' | 'malformed' | 'sink_refused';

export type Mapped =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; class: PoisonClass; message: string };

const NL = 0x0a;
const CR = 0x0d;

/**
 * Message → the event's bytes as the workers parse them. JSON values become one
 * NDJSON line each (a value spread over lines is re-serialised, so line N of a
 * chunk is always message N — the worker's error line then names the poison
 * message); msgpack values are concatenated as they are. The workers do the real
 * parsing; only what cannot be framed is refused here.
 */
export function mapMessage(
  m: SourceMessage,
  cfg: Pick<KafkaConfig, 'format' | 'max_message_bytes' | 'metadata_field'>,
): Mapped {
  const v = m.value;
  if (v === null || v.length === 0)
    return {
      ok: false,
      class: 'empty_value',
      message: 'message has no value (tombstone or empty)',
    };
  if (v.length > cfg.max_message_bytes) {
    return {
      ok: false,
      class: 'too_large',
      message: `value is ${v.length} bytes, over kafka.max_message_bytes (${cfg.max_message_bytes})`,
    };
  }
  if (cfg.format === 'msgpack') return { ok: true, bytes: v };
  let text: string | undefined;
  if (v.includes(NL) || v.includes(CR)) {
    try {
      text = JSON.stringify(JSON.parse(v.toString('utf8')));
    } catch (err) {
      return {
        ok: false,
        class: 'malformed',
        message: `value is not JSON: ${errorMessage(err)}`,
      };
    }
  }
  if (isBlank(v)) return { ok: false, class: 'empty_value', message: 'value is only whitespace' };
  if (!cfg.metadata_field) return { ok: true, bytes: text === undefined ? v : Buffer.from(text) };
  return withMetadata(text ?? v.toString('utf8'), m, cfg.metadata_field);
}

function isBlank(v: Buffer): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c !== 0x20 && c !== 0x09 && c !== NL && c !== CR) return false;
  }
  return true;
}

/** The Kafka coordinates of a message as a JSON object (key and header values as UTF-8 text). */
export function metadataOf(m: SourceMessage): Record<string, unknown> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, h] of Object.entries(m.headers ?? {})) {
    if (h === undefined) continue;
    headers[k] = Array.isArray(h) ? h.map((x) => x.toString()) : h.toString();
  }
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key ? m.key.toString('utf8') : null,
    timestamp: new Date(Number(m.timestamp)).toISOString(),
    headers,
  };
}

/**
 * Splice `"<field>":{...}` in as the object's first member, without parsing the
 * value (the worker validates it). A value that is not an object is left alone:
 * the worker refuses it and it goes to the DLQ topic as it was.
 */
function withMetadata(text: string, m: SourceMessage, field: string): Mapped {
  const start = text.search(/\S/);
  if (text[start] !== '{') return { ok: true, bytes: Buffer.from(text) };
  const rest = text.slice(start + 1);
  const empty = /^\s*\}\s*$/.test(rest);
  const meta = `${JSON.stringify(field)}:${JSON.stringify(metadataOf(m))}`;
  return { ok: true, bytes: Buffer.from(`{${meta}${empty ? '' : ','}${rest}`) };
}
