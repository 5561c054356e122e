import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { defaultWorkerThreads } from './vcpus.js';
import { applyMemoryPlan, checkMemoryKeys } from './memory.js';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument, LineCounter, isMap, isSeq, isScalar, type Document, type Node } from 'yaml';
import { configSchema } from './schema.js';
import { checkAuthAndTls } from './check-auth-tls.js';
import { checkCodec } from './check-codec.js';
import { applyKafkaEnv, checkKafka } from './check-kafka.js';
import { checkSinks } from './check-sinks.js';
import type { FerryConfig } from './types.js';

export const DEFAULT_CONFIG_PATH = '/etc/ferry/ferry.yaml';
const ENV_PREFIX = 'FERRY_';
/** FERRY_* variables that are not config keys. */
const RESERVED_ENV = new Set(['FERRY_CONFIG', 'FERRY_NOTIFY_BACKEND', 'FERRY_NATIVE_REQUIRED']);
/** FERRY_* families that are not config keys: the test rig's (FERRY_RIG_PORT_OFFSET), test-only hooks and the packaging scripts' (FERRY_PKG_CACHE). */
const RESERVED_ENV_PREFIXES = ['FERRY_RIG_', 'FERRY_TEST_', 'FERRY_PKG_'];

/** One problem in the config, located by key path and (when it came from the file) line. */
export interface ConfigIssue {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly file: string;
  constructor(file: string, issues: ConfigIssue[]) {
    super(`invalid config ${file}:\n` + issues.map((i) => '  ' + formatIssue(file, i)).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.line
    ? `${file}:${i.line}:${i.column ?? 1}`
    : i.path.startsWith('env ')
      ? 'environment'
      : file;
  return `${where}: ${i.path ? i.path + ': ' : ''}${i.message}`;
}

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, discriminator: true, strict: false });
const validate = ajv.compile(configSchema);

export interface LoadedConfig {
  config: FerryConfig;
  /** Where it came from: a file path, or 'embedded default'. */
  source: string;
}

/**
 * Read, override from the environment, validate and default the config.
 * A missing file is only acceptable for the default path (a fresh install runs
 * on the embedded default: one directory sink); an explicit --config must exist.
 */
export function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const explicit = path ?? env.FERRY_CONFIG;
  const file = explicit ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (explicit || code !== 'ENOENT') {
      throw new ConfigError(file, [
        { path: '', message: `cannot read: ${(err as Error).message}` },
      ]);
    }
    return { config: parseConfigText('{}', 'embedded default', env), source: 'embedded default' };
  }
  return { config: parseConfigText(text, file, env), source: file };
}

export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): FerryConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return {
          path: '',
          line: pos.line,
          column: pos.col,
          message: `YAML: ${e.message.split('\n')[0]}`,
        };
      }),
    );
  }
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [
      { path: '', line: 1, message: 'the top level must be a mapping of keys' },
    ]);
  }
  const envIssues = [...applyEnvOverrides(raw, env), ...applyKafkaEnv(raw, env)];
  if (envIssues.length) throw new ConfigError(file, envIssues);

  if (!validate(raw)) {
    const issues = (validate.errors ?? [])
      .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
      .map((e): ConfigIssue => {
        const segs = e.instancePath.split('/').slice(1).map(unescapePointer);
        let message = e.message ?? 'invalid';
        let keyNode = false;
        if (e.keyword === 'additionalProperties') {
          const extra = (e.params as { additionalProperty: string }).additionalProperty;
          segs.push(extra);
          message = `unknown key "${extra}"`;
          keyNode = true;
        } else if (e.keyword === 'enum') {
          message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
        } else if (e.keyword === 'required') {
          const missing = (e.params as { missingProperty: string }).missingProperty;
          message = `missing required key "${missing}"`;
        } else if (e.keyword === 'discriminator') {
          message = 'sink "type" must be one of "directory", "s3", "clickhouse", "kafka", "http"';
        }
        return { path: segs.join('.'), ...locate(doc, lines, segs, keyNode), message };
      });
    throw new ConfigError(file, dedupeIssues(issues));
  }
  const cfg = raw as unknown as FerryConfig;
  // TLS files are relative to the config file, and read by the semantic check.
  const tls = cfg.listen.tls;
  if (tls && file !== 'embedded default') {
    tls.cert = resolve(dirname(file), tls.cert);
    tls.key = resolve(dirname(file), tls.key);
  }
  const ktls = cfg.kafka.tls;
  if (file !== 'embedded default') {
    for (const k of ['ca', 'cert', 'key'] as const)
      if (ktls[k]) ktls[k] = resolve(dirname(file), ktls[k]);
  }
  // The Kafka and HTTP sinks' TLS files too.
  if (file !== 'embedded default') {
    for (const s of cfg.sinks) {
      if (s.type !== 'kafka' && s.type !== 'http') continue;
      for (const k of ['ca', 'cert', 'key'] as const)
        if (s.tls[k]) s.tls[k] = resolve(dirname(file), s.tls[k]);
    }
  }
  // Memory-sized keys left at 0 (auto) are filled before the checks that relate them.
  const memoryIssues = checkMemoryKeys(cfg);
  if (cfg.workers.threads === 0) cfg.workers.threads = defaultWorkerThreads();
  applyMemoryPlan(cfg);
  const semantic = [...memoryIssues, ...checkSemantics(cfg)];
  if (semantic.length) {
    throw new ConfigError(
      file,
      semantic.map((i) => ({ ...i, ...locate(doc, lines, i.path.split('.'), false) })),
    );
  }
  return finalize(cfg, file);
}

function dedupeIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = i.path + '\0' + i.message;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Line/column of a key path in the YAML source (the key itself for unknown keys, else the value). */
function locate(
  doc: Document,
  lines: LineCounter,
  segs: string[],
  keyNode: boolean,
): { line?: number; column?: number } {
  let node: unknown = doc.contents;
  let found: Node | undefined;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      found = (keyNode && i === segs.length - 1 ? pair.key : (pair.value ?? pair.key)) as Node;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (!item) break;
      found = item as Node;
      node = item;
    } else break;
  }
  const range = found?.range;
  if (!range) return {};
  const pos = lines.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

/** The part of a schema node the env overrides walk: sections by `properties`, leaves by `type`. */
interface SchemaNode {
  type?: string;
  enum?: readonly unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
}

/**
 * FERRY_BATCH__MAX_EVENTS=3000 → batch.max_events; `__` separates levels.
 * Sinks are addressed by name: FERRY_SINKS__ARCHIVE__SECRET_ACCESS_KEY.
 * Values are converted to the schema's type at that key.
 */
function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (
      !name.startsWith(ENV_PREFIX) ||
      RESERVED_ENV.has(name) ||
      RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p)) ||
      value === undefined
    )
      continue;
    const segs = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    const where = `env ${name}`;
    let target: Record<string, unknown> = raw;
    let schema: SchemaNode = configSchema;
    let ok = true;
    for (let i = 0; i < segs.length - 1 && ok; i++) {
      const seg = segs[i];
      if (seg === 'sinks') {
        const sinks = Array.isArray(raw.sinks) ? (raw.sinks as Record<string, unknown>[]) : [];
        const sinkName = segs[i + 1];
        const sink = sinks.find(
          (s) =>
            typeof s?.name === 'string' && s.name.toLowerCase().replace(/-/g, '_') === sinkName,
        );
        if (!sink) {
          issues.push({
            path: where,
            message: `no sink named "${sinkName}" in the config to override`,
          });
          ok = false;
          break;
        }
        const variant = configSchema.properties.sinks.items.oneOf.find(
          (v) => v.properties.type.const === sink.type,
        );
        target = sink;
        schema = variant ?? {};
        i++;
        continue;
      }
      const sub = schema.properties?.[seg];
      if (sub?.type !== 'object') {
        issues.push({
          path: where,
          message: `"${segs.slice(0, i + 1).join('.')}" is not a config section`,
        });
        ok = false;
        break;
      }
      if (typeof target[seg] !== 'object' || target[seg] === null) target[seg] = {};
      target = target[seg] as Record<string, unknown>;
      schema = sub;
    }
    if (!ok) continue;
    const key = segs[segs.length - 1];
    const leaf = schema.properties?.[key];
    if (!leaf) {
      issues.push({ path: where, message: `unknown config key "${segs.join('.')}"` });
      continue;
    }
    const converted = convertEnvValue(value, leaf);
    if (converted === undefined) {
      issues.push({
        path: where,
        message: `"${value}" is not a valid ${leaf.type ?? 'value'} for ${segs.join('.')}`,
      });
      continue;
    }
    target[key] = converted;
  }
  return issues;
}

function convertEnvValue(
  value: string,
  leaf: { type?: string; enum?: readonly unknown[] },
): unknown {
  switch (leaf.type) {
    case 'integer':
      return /^-?\d+$/.test(value.trim()) ? Number(value) : undefined;
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;
    case 'boolean':
      return value === 'true' || value === '1'
        ? true
        : value === 'false' || value === '0'
          ? false
          : undefined;
    default:
      return value;
  }
}

/**
 * Rules JSON Schema cannot say. Paths are dotted key paths. Every such rule runs here and only
 * here, so `ferry config check`, `ferry run` and a reload refuse the same configs with key + line.
 */
function checkSemantics(cfg: FerryConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  issues.push(...checkSinks(cfg));
  issues.push(...checkCodec(cfg));
  // A body must fit in one ring record (header + body), with room for another.
  if (cfg.http.max_body_bytes + 4096 > cfg.workers.ring_bytes / 2) {
    issues.push({
      path: 'http.max_body_bytes',
      message: `must be at most half of workers.ring_bytes minus 4096 (${cfg.workers.ring_bytes / 2 - 4096}); raise workers.ring_bytes or lower the body limit`,
    });
  }
  if (cfg.http.max_decompressed_bytes < cfg.http.max_body_bytes) {
    issues.push({
      path: 'http.max_decompressed_bytes',
      message: 'must be at least http.max_body_bytes',
    });
  }
  if (cfg.retry.max_ms < cfg.retry.initial_ms)
    issues.push({ path: 'retry.max_ms', message: 'must be at least retry.initial_ms' });
  issues.push(...checkAuthAndTls(cfg));
  issues.push(...checkKafka(cfg));
  return issues;
}

/** Fill what depends on the machine or on the file's location. */
function finalize(cfg: FerryConfig, file: string): FerryConfig {
  if (!cfg.host_id) cfg.host_id = hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
  if (cfg.workers.threads === 0) cfg.workers.threads = defaultWorkerThreads();
  if (!cfg.clickhouse_migrations_dir) cfg.clickhouse_migrations_dir = defaultMigrationsDir();
  else if (file !== 'embedded default')
    cfg.clickhouse_migrations_dir = resolve(dirname(file), cfg.clickhouse_migrations_dir);
  return cfg;
}

function defaultMigrationsDir(): string {
  // dist/src/config/load.js → <root>/config/migrations/clickhouse
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', '..', 'config', 'migrations', 'clickhouse');
}
