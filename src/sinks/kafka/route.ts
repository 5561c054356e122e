/**
 * Where a Kafka sink sends an event and under which key: the topic is fixed, or a template with
 * one `{field}` whose values come from a bounded, configured set (an unbounded set would let the
 * data create topics); the key is the event_id or a configured top-level field. Reading a field
 * parses the event's JSON on the main thread, so that cost is paid only when a field is configured.
 */
import type { KafkaSinkConfig } from '../../config/types.js';
import type { ArchiveLine } from '../archive-lines.js';

/** Kafka's own rule for topic names. */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface KafkaRoute {
  /** The topics this sink can ever produce to (fixed at config time). */
  readonly topics: readonly string[];
  topicOf(ev: ArchiveLine, fields: () => Record<string, unknown>): string;
  keyOf(ev: ArchiveLine, fields: () => Record<string, unknown>): string;
  /** Whether topicOf or keyOf read event fields. */
  readonly readsFields: boolean;
}

type RouteCfg = Pick<KafkaSinkConfig, 'topic' | 'topic_values' | 'default_topic' | 'key_field'>;

/** Config problems (key → message); empty when the route can be built. */
export function checkRoute(cfg: RouteCfg): { key: string; message: string }[] {
  const fields = [...cfg.topic.matchAll(PLACEHOLDER)].map((m) => m[1]);
  const values = cfg.topic_values ?? [];
  if (fields.length === 0) {
    const p: { key: string; message: string }[] = [];
    if (!TOPIC.test(cfg.topic))
      p.push({
        key: 'topic',
        message: `"${cfg.topic}" is not a Kafka topic name (${TOPIC.source})`,
      });
    if (values.length > 0)
      p.push({ key: 'topic_values', message: 'only used with a {field} in topic' });
    return p;
  }
  if (fields.length > 1)
    return [{ key: 'topic', message: 'at most one {field} in the topic template' }];
  if (values.length === 0)
    return [{ key: 'topic_values', message: `list the values of {${fields[0]}} that get a topic` }];
  if (!cfg.default_topic)
    return [
      {
        key: 'default_topic',
        message: `required with a {field}: where events go whose ${fields[0]} is missing or not listed`,
      },
    ];
  const bad = [...values.map((v) => render(cfg.topic, v)), cfg.default_topic].filter(
    (t) => !TOPIC.test(t),
  );
  return bad.length
    ? [{ key: 'topic', message: `not Kafka topic names: ${bad.map((t) => `"${t}"`).join(', ')}` }]
    : [];
}

function render(template: string, value: string): string {
  return template.replace(PLACEHOLDER, value);
}

export function createRoute(cfg: RouteCfg): KafkaRoute {
  const field = [...cfg.topic.matchAll(PLACEHOLDER)].map((m) => m[1])[0];
  const byValue = new Map((cfg.topic_values ?? []).map((v) => [v, render(cfg.topic, v)]));
  const fixed = field === undefined ? cfg.topic : undefined;
  const keyField = cfg.key_field || undefined;
  const scalar = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
  return {
    topics: fixed !== undefined ? [fixed] : [...new Set([...byValue.values(), cfg.default_topic])],
    readsFields: field !== undefined || keyField !== undefined,
    topicOf: (_ev, fields) => {
      if (fixed !== undefined) return fixed;
      const v = scalar(fields()[field!]);
      return (v !== undefined && byValue.get(v)) || cfg.default_topic;
    },
    keyOf: (ev, fields) => {
      if (keyField === undefined) return ev.eventId;
      const v = scalar(fields()[keyField]);
      return v === undefined || v === '' ? ev.eventId : v;
    },
  };
}
