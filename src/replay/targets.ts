import { S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseSinkConfig, FerryConfig, S3SinkConfig } from '../config/types.js';

/** The archive (an s3 sink of the config) and the ClickHouse target a replay or verify uses. */
export interface Targets {
  s3: S3SinkConfig;
  clickhouse: ClickHouseSinkConfig;
}

function pick<T extends { name: string; type: string }>(
  all: T[],
  type: string,
  name: string | undefined,
  flag: string,
): T {
  const of = all.filter((s) => s.type === type);
  if (name !== undefined) {
    const s = of.find((x) => x.name === name);
    if (!s)
      throw new Error(
        `${flag} ${name}: no ${type} sink of that name in the config (have: ${of.map((x) => x.name).join(', ') || 'none'})`,
      );
    return s;
  }
  if (of.length === 1) return of[0];
  throw new Error(
    of.length === 0
      ? `the config has no ${type} sink: replay reads S3 and writes ClickHouse with the config's sink settings`
      : `the config has several ${type} sinks (${of.map((x) => x.name).join(', ')}): choose one with ${flag}`,
  );
}

/**
 * `--to clickhouse[:table]` or `clickhouse[:database.table]` over the config's ClickHouse sink.
 * The bucket comes from --from, which may differ from the sink's (an archive copied elsewhere).
 */
export function resolveTargets(
  cfg: FerryConfig,
  opts: { to?: string; s3Sink?: string; clickhouseSink?: string },
): Targets {
  const s3 = pick(cfg.sinks, 's3', opts.s3Sink, '--s3-sink') as S3SinkConfig;
  const ch = {
    ...(pick(
      cfg.sinks,
      'clickhouse',
      opts.clickhouseSink,
      '--clickhouse-sink',
    ) as ClickHouseSinkConfig),
  };
  const to = opts.to ?? 'clickhouse';
  const m = /^clickhouse(?::(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*))?$/.exec(to);
  if (!m)
    throw new Error(
      `--to must be clickhouse, clickhouse:TABLE or clickhouse:DATABASE.TABLE, got "${to}"`,
    );
  if (m[1]) ch.database = m[1];
  if (m[2]) ch.table = m[2];
  return { s3, clickhouse: ch };
}

export function s3ClientFor(cfg: S3SinkConfig): S3Client {
  return new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.force_path_style,
    credentials:
      cfg.access_key_id && cfg.secret_access_key
        ? { accessKeyId: cfg.access_key_id, secretAccessKey: cfg.secret_access_key }
        : undefined,
  });
}
