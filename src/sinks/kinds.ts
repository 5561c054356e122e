import type {
  ClickHouseSinkConfig,
  DirectorySinkConfig,
  FerryConfig,
  HttpSinkConfig,
  KafkaSinkConfig,
  S3SinkConfig,
  SinkConfig,
} from '../config/types.js';
import type { BatchPart } from '../contracts/batch.js';
import type { Sink } from '../contracts/sink.js';
import type { Logger } from '../observe/log.js';
import type { SinkMetrics } from '../observe/metrics.js';
import { validateKeyTemplate } from './keys.js';
import { errorMessage } from '../util/errors.js';
import { codecUnavailableReason } from '../codecs/index.js';
import { checkRoute } from './kafka/route.js';
import { routeConfigProblems } from './clickhouse/route-plan.js';

/** What every sink constructor may use besides its own config. */
export interface SinkContext {
  host: string;
  log: Logger;
  /** The sink's own metrics (seed 001's s3_* names, ClickHouse insert errors); absent in tools. */
  metrics?: SinkMetrics;
  attemptTimeoutMs: number;
}

/** A problem with one key of a sink's config (the loader reports it with its line). */
export interface SinkConfigProblem {
  key: string;
  message: string;
}

/** The part a sink of this config takes, and how the worker encodes it. */
export type PartSpec = { takes: 'archive' } | { takes: 'rows'; codec: 'gzip' | 'none' };

/**
 * One kind of sink, as the rest of ferry sees it before any client is loaded: which part of a
 * batch it takes (the workers build only the parts some sink takes), what its config needs checked
 * beyond the schema, and how to load its client module on demand (the S3 and ClickHouse clients
 * cost ~25 and ~10 MiB of RSS: a node pays only for the sinks it names).
 */
export interface SinkKind<C extends SinkConfig> {
  part(cfg: C): PartSpec;
  /** Checks the schema cannot express: the problems, each at the sink's key it is about. */
  check(cfg: C): SinkConfigProblem[];
  load(): Promise<(cfg: C, ctx: SinkContext) => Sink>;
}

type Kinds = { [T in SinkConfig['type']]: SinkKind<Extract<SinkConfig, { type: T }>> };

const checkKeyTemplate = (cfg: DirectorySinkConfig | S3SinkConfig): SinkConfigProblem[] => {
  try {
    validateKeyTemplate(cfg.key_template);
    return [];
  } catch (err) {
    return [{ key: 'key_template', message: errorMessage(err) }];
  }
};

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Columns mode: what the schema cannot say (the table's own columns are checked at start). */
function checkClickHouseColumns(cfg: ClickHouseSinkConfig): SinkConfigProblem[] {
  const c = cfg.columns;
  if (!c) return [];
  const out: SinkConfigProblem[] = [];
  if (c.unknown === 'keep' && !c.catch_all_column)
    out.push({
      key: 'columns.catch_all_column',
      message: 'unknown: keep needs a catch_all_column',
    });
  for (const k of [
    'event_id_column',
    'received_at_column',
    'source_column',
    'catch_all_column',
  ] as const) {
    const v = c[k];
    if (v && !IDENT.test(v))
      out.push({ key: `columns.${k}`, message: `"${v}" must match ${IDENT.source}` });
  }
  for (const col of Object.keys(c.paths ?? {})) {
    if (!IDENT.test(col))
      out.push({
        key: `columns.paths.${col}`,
        message: `column "${col}" must match ${IDENT.source}`,
      });
  }
  return out;
}

/** Every kind of sink ferry has. Adding one: its config in the schema, its client, an entry here. */
export const SINK_KINDS: Kinds = {
  directory: {
    part: () => ({ takes: 'archive' }),
    check: checkKeyTemplate,
    load: async () => {
      const { DirectorySink } = await import('./directory.js');
      return (cfg: DirectorySinkConfig, ctx) => new DirectorySink(cfg, ctx.host);
    },
  },
  s3: {
    part: () => ({ takes: 'archive' }),
    check: checkKeyTemplate,
    load: async () => {
      const { S3Sink } = await import('./s3.js');
      return (cfg: S3SinkConfig, ctx) => new S3Sink(cfg, ctx.host, ctx.metrics);
    },
  },
  clickhouse: {
    part: (cfg) => ({ takes: 'rows', codec: cfg.compress ? 'gzip' : 'none' }),
    check: (cfg) => [
      ...checkClickHouseColumns(cfg),
      ...(cfg.route
        ? routeConfigProblems(cfg.route).map((p) => ({ key: `route.${p.key}`, message: p.message }))
        : []),
    ],
    load: async () => {
      const { ClickHouseSink } = await import('./clickhouse.js');
      return (cfg: ClickHouseSinkConfig, ctx) =>
        new ClickHouseSink(
          cfg,
          ctx.log.child({ sink: cfg.name }),
          ctx.attemptTimeoutMs,
          ctx.metrics,
        );
    },
  },
  kafka: {
    part: () => ({ takes: 'archive' }),
    check: (cfg) => {
      const p = checkRoute(cfg);
      const why = codecUnavailableReason(cfg.compression);
      if (why) p.push({ key: 'compression', message: why });
      if (Boolean(cfg.tls.cert) !== Boolean(cfg.tls.key))
        p.push({ key: 'tls', message: 'cert and key go together (mutual TLS)' });
      return p;
    },
    load: async () => {
      const { KafkaSink } = await import('./kafka/sink.js');
      return (cfg: KafkaSinkConfig, ctx) =>
        new KafkaSink(cfg, ctx.log.child({ sink: cfg.name }), ctx.attemptTimeoutMs, ctx.metrics);
    },
  },
  http: {
    part: () => ({ takes: 'archive' }),
    check: (cfg) => {
      const p: SinkConfigProblem[] = [];
      if (Boolean(cfg.tls.cert) !== Boolean(cfg.tls.key))
        p.push({ key: 'tls', message: 'cert and key go together (mutual TLS)' });
      cfg.urls.forEach((u, i) => {
        try {
          new URL(u);
        } catch {
          p.push({ key: `urls.${i}`, message: `"${u}" is not a URL` });
        }
      });
      return p;
    },
    load: async () => {
      const { HttpSink } = await import('./http/sink.js');
      return (cfg: HttpSinkConfig, ctx) =>
        new HttpSink(cfg, ctx.log.child({ sink: cfg.name }), ctx.metrics);
    },
  },
};

export function kindOf<C extends SinkConfig>(cfg: C): SinkKind<C> {
  return SINK_KINDS[cfg.type] as unknown as SinkKind<C>;
}

/** Which parts the workers must build for these sinks. */
export function partsFor(sinks: readonly SinkConfig[]): {
  archive: boolean;
  rows: boolean;
  compressRows: boolean;
} {
  const specs = sinks.map((s) => kindOf(s).part(s));
  const takes = (p: BatchPart) => specs.some((s) => s.takes === p);
  return {
    archive: takes('archive'),
    rows: takes('rows'),
    compressRows: specs.some((s) => s.takes === 'rows' && s.codec === 'gzip'),
  };
}

/** ferry's own default timeout for a sink's attempts: its retry override, else the global one. */
export function attemptTimeoutOf(s: SinkConfig, cfg: FerryConfig): number {
  return ('retry' in s ? s.retry?.attempt_timeout_ms : undefined) ?? cfg.retry.attempt_timeout_ms;
}
