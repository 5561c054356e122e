/**
 * What changed between the running config and a newly loaded one, and which
 * of those changes a reload can apply. Sinks are compared by name, so
 * reordering them is no change. Only key paths are reported (never values:
 * some are secrets).
 */
import type { FerryConfig, SinkConfig } from './types.js';

export interface ConfigDiff {
  /** Changed keys a reload applies (batch, codec, http limits, auth, sink settings, retry, log level, …). */
  live: string[];
  /** Changed keys only a restart applies; the running values are kept until then. */
  restart: string[];
}

/** Keys (dotted prefixes) whose change needs a restart: they shape sockets, threads, rings or paths on disk. */
const RESTART_PREFIXES = [
  'listen.host',
  'listen.port',
  'listen.path',
  'http.timeouts',
  'workers',
  'state_dir',
  'host_id',
  'dlq.enabled',
  'dlq.dir',
  'wal.enabled',
  'wal.dir',
  'kafka',
  'otlp',
  'bulk.enabled',
];

export function diffConfig(running: FerryConfig, next: FerryConfig): ConfigDiff {
  const changed: string[] = [];
  const { sinks: a, ...restA } = running;
  const { sinks: b, ...restB } = next;
  walk(restA, restB, '', changed);
  const live: string[] = [];
  const restart: string[] = [];
  for (const p of changed) {
    if (RESTART_PREFIXES.some((r) => p === r || p.startsWith(r + '.'))) restart.push(p);
    // Turning TLS on or off changes the protocol of the socket; new paths or renewed files are live.
    else if (p === 'listen.tls') restart.push(p);
    else live.push(p);
  }
  const byName = (list: SinkConfig[]) => new Map(list.map((s) => [s.name, s]));
  const oldSinks = byName(a);
  const newSinks = byName(b);
  for (const [name, s] of newSinks) {
    const o = oldSinks.get(name);
    if (!o) restart.push(`sinks.${name} (added)`);
    else if (o.type !== s.type) restart.push(`sinks.${name}.type`);
    else {
      const sinkChanges: string[] = [];
      walk(o, s, `sinks.${name}`, sinkChanges);
      live.push(...sinkChanges);
    }
  }
  for (const name of oldSinks.keys())
    if (!newSinks.has(name)) restart.push(`sinks.${name} (removed)`);
  return { live, restart };
}

/**
 * The config to run with after a reload: the new file, except that keys
 * needing a restart keep their running values (sockets, threads, rings and
 * the set of sinks stay as they are until then).
 */
export function liveConfig(running: FerryConfig, next: FerryConfig): FerryConfig {
  const out: FerryConfig = structuredClone(next);
  out.listen = {
    ...next.listen,
    host: running.listen.host,
    port: running.listen.port,
    path: running.listen.path,
  };
  if (!running.listen.tls !== !next.listen.tls) {
    if (running.listen.tls) out.listen.tls = running.listen.tls;
    else delete out.listen.tls;
  }
  out.workers = { ...running.workers };
  out.state_dir = running.state_dir;
  out.host_id = running.host_id;
  out.dlq = { ...next.dlq, enabled: running.dlq.enabled, dir: running.dlq.dir };
  out.sinks = running.sinks.map((o) => {
    const n = next.sinks.find((s) => s.name === o.name && s.type === o.type);
    return structuredClone(n ?? o);
  });
  // A body must fit the running rings (their size only changes on restart).
  if (out.http.max_body_bytes + 4096 > running.workers.ring_bytes / 2)
    out.http.max_body_bytes = running.http.max_body_bytes;
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: string[]): void {
  if (Object.is(a, b)) return;
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      walk(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (
    Array.isArray(a) &&
    Array.isArray(b) &&
    a.length === b.length &&
    a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]))
  )
    return;
  out.push(path);
}
