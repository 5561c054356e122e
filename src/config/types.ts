/** The validated, defaulted configuration the rest of ferry sees. Keys mirror the YAML (snake_case). */
import type { Codec } from '../contracts/batch.js';

export type AckMode = 'durable' | 'accepted';

export interface RetryConfig {
  /** First backoff delay. */
  initial_ms: number;
  /** Cap on one backoff delay. */
  max_ms: number;
  /** Give up (→ 5xx now, DLQ later) once this much time has passed since the first attempt. */
  max_elapsed_ms: number;
  /** Timeout of one attempt. */
  attempt_timeout_ms: number;
}

export interface DirectorySinkConfig {
  type: 'directory';
  name: string;
  path: string;
  key_template: string;
}

export interface S3SinkConfig {
  type: 's3';
  name: string;
  bucket: string;
  region: string;
  endpoint?: string;
  force_path_style: boolean;
  access_key_id?: string;
  secret_access_key?: string;
  key_template: string;
  multipart_threshold_bytes: number;
  retry?: Partial<RetryConfig>;
}

export interface ClickHouseSinkConfig {
  type: 'clickhouse';
  name: string;
  url: string;
  database: string;
  table: string;
  username: string;
  password: string;
  /** gzip the JSONEachRow body (done on the worker threads). */
  compress: boolean;
  retry?: Partial<RetryConfig>;
}

export type SinkConfig = DirectorySinkConfig | S3SinkConfig | ClickHouseSinkConfig;

export interface FerryConfig {
  host_id: string;
  state_dir: string;
  listen: { host: string; port: number; path: string; tls?: TlsConfig };
  http: {
    ack: AckMode;
    max_body_bytes: number;
    max_decompressed_bytes: number;
    /** Seconds sent in Retry-After with a 503. */
    retry_after_s: number;
  };
  workers: { threads: number; max_inflight_batches: number; ring_bytes: number };
  batch: { max_events: number; max_bytes: number; max_age_ms: number; codec: Codec; level: number };
  retry: RetryConfig;
  sinks: SinkConfig[];
  clickhouse_migrations_dir: string;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' };
  shutdown: { drain_timeout_ms: number };
  auth: AuthConfig;
  dlq: DlqConfig;
  kafka: KafkaConfig;
}

/** Local DLQ segments per sink (docs/dlq.md). */
export interface DlqConfig {
  enabled: boolean;
  /** '' = <state_dir>/dlq */
  dir: string;
  max_bytes: number;
  max_files: number;
  segment_max_bytes: number;
  /** Segments older than this are removed (counted as dropped); 0 = never. */
  ttl_hours: number;
  /** Full: refuse new data (503), or drop the oldest segment (counted, error-logged). */
  policy: 'reject' | 'drop_oldest';
  reupload_events_per_s: number;
  probe_interval_ms: number;
  /** Batches in a row spooled before new batches skip the retries and go straight to the DLQ. */
  breaker_failures: number;
  /** /readyz fails when the DLQ's disk has less free. */
  min_free_bytes: number;
}

/** PEM file paths; re-read on every reload so a renewed certificate is picked up. */
export interface TlsConfig {
  cert: string;
  key: string;
}

export type AuthRoute = 'ingest' | 'metrics';

export interface TokenConfig {
  name: string;
  /** Hex sha256 of the bearer token. */
  sha256: string;
  /** Stamped on the token's events (envelope `source`); defaults to name. */
  source?: string;
  routes: AuthRoute[];
  /** Token bucket over requests. */
  rate_limit?: { requests_per_s: number; burst?: number };
}

export interface AuthConfig {
  enabled: boolean;
  tokens: TokenConfig[];
}

/** Kafka source (docs/kafka.md). */
export interface KafkaConfig {
  enabled: boolean;
  brokers: string[];
  client_id: string;
  group_id: string;
  topics: string[];
  /** A group with no committed offset starts at the earliest message (else the latest). */
  from_beginning: boolean;
  format: 'json' | 'msgpack';
  /** Poison messages go to <topic><suffix>. */
  dlq_topic_suffix: string;
  /** '' = events are the message values as they are. */
  metadata_field: string;
  max_message_bytes: number;
  partitions_concurrently: number;
  /** Message bytes dispatched but not yet durable, per partition; past it the partition pauses. */
  max_inflight_bytes_per_partition: number;
  commit_interval_ms: number;
  session_timeout_ms: number;
  heartbeat_interval_ms: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  init: { partitions: number; replication_factor: number; dlq_partitions: number };
}
