/**
 * The config schema (JSON Schema, draft 2020-12 subset understood by ajv): the one source of
 * truth for the config. The loader validates and defaults with it, ./types.ts derives the
 * TypeScript types from it (so it stays `as const`), and config/schema.json is generated from it
 * (`npm run gen:schema`; a unit test fails when the committed file differs). Every default lives
 * here; the loader fills only what depends on the machine or the file's location (load.ts).
 */
import { CODECS } from '../contracts/batch.js';
import { ARCHIVE_FORMATS, DEFAULT_ARCHIVE_FORMAT } from '../archive/format.js';
import { DEFAULT_KEY_TEMPLATE } from '../sinks/keys.js';

const retry = {
  type: 'object',
  additionalProperties: false,
  properties: {
    initial_ms: { type: 'integer', minimum: 1, default: 200, description: 'First backoff delay.' },
    max_ms: {
      type: 'integer',
      minimum: 1,
      default: 5000,
      description: 'Cap on one backoff delay.',
    },
    max_elapsed_ms: {
      type: 'integer',
      minimum: 0,
      default: 10000,
      description:
        'Give up (→ 5xx now, DLQ later) once this much time has passed since the first attempt.',
    },
    attempt_timeout_ms: {
      type: 'integer',
      minimum: 100,
      default: 15000,
      description: 'Timeout of one attempt.',
    },
  },
} as const;

/** A sink's own retry: each key missing here is taken from the top-level `retry`. */
/** ClickHouse columns mode (docs/clickhouse.md): rows for the operator's typed table. */
const clickhouseColumns = {
  type: 'object',
  additionalProperties: false,
  description:
    "Write into the table's own typed columns (read from system.columns at start and on reload) instead of the envelope (event_id, received_at, source, payload).",
  properties: {
    paths: {
      type: 'object',
      additionalProperties: { type: 'string', pattern: '^[^.]+(\\.[^.]+)*$' },
      default: {},
      description:
        'column → dotted path in the event (`user.id`); a column not named here takes the top-level field of its own name.',
    },
    event_id_column: {
      type: 'string',
      default: 'event_id',
      description: "Column for ferry's event_id ('' for none).",
    },
    received_at_column: {
      type: 'string',
      default: 'received_at',
      description: "Column for ferry's received_at ('' for none).",
    },
    source_column: {
      type: 'string',
      default: 'source',
      description: "Column for the event's source ('' for none).",
    },
    unknown: {
      enum: ['skip', 'keep'],
      default: 'skip',
      description: 'Fields no column takes: skipped, or kept in catch_all_column.',
    },
    catch_all_column: {
      type: 'string',
      description: 'With unknown: keep — a String, Map(String, String) or JSON column.',
    },
  },
} as const;

/** ClickHouse routing (docs/clickhouse.md "Routing"): each event's row into a table chosen by a value. */
const clickhouseRoute = {
  type: 'object',
  additionalProperties: false,
  required: ['tables'],
  description:
    "Send each event's row to a table chosen by a value of the event (a field, the `_bulk` `_index`, or the token's source), from a bounded set; the workers build one section of rows per table and the sink sends one INSERT per table per batch.",
  properties: {
    by: {
      enum: ['field', 'index', 'source'],
      default: 'field',
      description:
        "What names the table: `field` (a dotted path in the event), `index` (the `_bulk` action's `_index`), `source` (the token's source).",
    },
    field: {
      type: 'string',
      pattern: '^[^.]+(\\.[^.]+)*$',
      description:
        'With by: field — the dotted path whose value (a string, number or boolean) names the table.',
    },
    tables: {
      type: 'object',
      minProperties: 1,
      maxProperties: 256,
      additionalProperties: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      description: "value → table in the sink's database (several values may share a table).",
    },
    unmatched: {
      enum: ['default', 'refuse'],
      default: 'default',
      description:
        'An event no route takes: into default_table, or refused — for this sink a poison row with the reason (the other sinks still store it), counted in clickhouse_unrouted_events_total.',
    },
    default_table: {
      type: 'string',
      pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      description: "With unmatched: default — the table (default: the sink's `table`).",
    },
  },
} as const;

const partialRetry = {
  type: 'object',
  additionalProperties: false,
  description: 'Overrides of the top-level retry for this sink.',
  properties: {
    initial_ms: { type: 'integer', minimum: 1 },
    max_ms: { type: 'integer', minimum: 1 },
    max_elapsed_ms: { type: 'integer', minimum: 0 },
    attempt_timeout_ms: { type: 'integer', minimum: 100 },
  },
} as const;

const authSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Bearer tokens (stored as sha256 hashes; `ferry token new` makes one). Off is allowed on a loopback listener; ferry warns when it is off on any other address.',
  properties: {
    enabled: { type: 'boolean', default: false },
    tokens: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'sha256'],
        properties: {
          name: {
            type: 'string',
            pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
            description: 'Names the token in logs and metrics.',
          },
          sha256: {
            type: 'string',
            pattern: '^[0-9a-f]{64}$',
            description: 'Hex sha256 of the token (never the token itself).',
          },
          source: {
            type: 'string',
            minLength: 1,
            maxLength: 200,
            description: "Stamped on this token's events; default = name.",
          },
          routes: {
            type: 'array',
            items: { enum: ['ingest', 'metrics'] },
            uniqueItems: true,
            default: ['ingest'],
          },
          rate_limit: {
            type: 'object',
            additionalProperties: false,
            required: ['requests_per_s'],
            description: 'Token bucket over requests (not events): over it → 429 with Retry-After.',
            properties: {
              requests_per_s: { type: 'number', exclusiveMinimum: 0 },
              burst: {
                type: 'integer',
                minimum: 1,
                description: 'Bucket size; default = max(1, ceil(requests_per_s)).',
              },
            },
          },
        },
      },
    },
  },
} as const;

const sinkName = { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' } as const;
const keyTemplate = { type: 'string', minLength: 1, default: DEFAULT_KEY_TEMPLATE } as const;

/** SASL to Kafka brokers: the Kafka source and the Kafka sink connect alike (src/sources/kafka/client.ts). */
const kafkaSasl = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'SASL authentication for the consumer, the DLQ-topic producer and `ferry kafka init`. Give the password in the environment: FERRY_KAFKA__SASL__PASSWORD (never logged).',
  properties: {
    mechanism: {
      enum: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'],
      default: 'none',
    },
    username: { type: 'string', default: '' },
    password: { type: 'string', default: '' },
  },
} as const;

/** TLS to Kafka brokers (SSL or SASL_SSL listeners), shared by the Kafka source and sink. */
const kafkaTls = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'TLS to the brokers (SSL or SASL_SSL listeners). Paths are relative to the config file.',
  properties: {
    enabled: { type: 'boolean', default: false },
    ca: {
      type: 'string',
      default: '',
      description: "PEM CA bundle to verify the brokers by (default: Node's CA store).",
    },
    cert: {
      type: 'string',
      default: '',
      description: 'PEM client certificate (chain) for mutual TLS; needs key.',
    },
    key: { type: 'string', default: '', description: 'PEM private key of cert.' },
    servername: {
      type: 'string',
      default: '',
      description:
        'Name to verify the broker certificates against (SNI) instead of the broker host.',
    },
    reject_unauthorized: {
      type: 'boolean',
      default: true,
      description: 'false accepts any broker certificate: for tests only.',
    },
  },
} as const;

export const configSchema = {
  $id: 'https://ferry.invalid/schema/ferry.yaml.json',
  title: 'ferry configuration (/etc/ferry/ferry.yaml)',
  type: 'object',
  additionalProperties: false,
  properties: {
    host_id: {
      type: 'string',
      description: 'Names this node in object keys; empty = the hostname.',
      default: '',
    },
    state_dir: { type: 'string', minLength: 1, default: '/var/lib/ferry' },
    listen: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        path: { type: 'string', pattern: '^/', default: '/v1/events' },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key'],
          description:
            'Serve HTTPS with this PEM certificate (chain) and key (paths relative to the config file); SIGHUP re-reads both files.',
          properties: {
            cert: { type: 'string', minLength: 1 },
            key: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ack: {
          enum: ['durable', 'delivered', 'accepted'],
          default: 'durable',
          description:
            "What a 2xx promises (docs/wal.md): durable = fsync'd in the local write-ahead log (200 in milliseconds); delivered = every sink has it or its DLQ (200; no log write); accepted = validated, in memory (202). A request may ask with ?ack= or X-Ferry-Ack.",
        },
        max_body_bytes: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description:
            '0 = auto from the memory (docs/tuning.md "Memory"): 4 MiB from 1 GiB up, 1 MiB on 256 MiB; else at least 1024',
        },
        max_decompressed_bytes: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description:
            '0 = auto: 4 × http.max_body_bytes (16 MiB from 1 GiB up); else at least 1024',
        },
        retry_after_s: {
          type: 'integer',
          minimum: 1,
          default: 1,
          description: 'Seconds sent in Retry-After with a 503.',
        },
        timeouts: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'The HTTP server timeouts (README "Timeouts and early answers": what each runtime supports). Restart to change.',
          properties: {
            headers_ms: {
              type: 'integer',
              minimum: 100,
              default: 10000,
              description: 'Request line and headers must arrive within this (408 after).',
            },
            request_ms: {
              type: 'integer',
              minimum: 100,
              default: 60000,
              description:
                'The whole request, headers and body, must arrive within this (408 after).',
            },
            keep_alive_ms: {
              type: 'integer',
              minimum: 100,
              default: 5000,
              description: 'An idle keep-alive connection is closed after this.',
            },
          },
        },
      },
    },
    workers: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        threads: {
          type: 'integer',
          minimum: 0,
          maximum: 256,
          default: 0,
          description:
            '0 = one per vCPU beyond the first (at least 1); vCPUs honour cgroup CPU quotas',
        },
        max_inflight_batches: {
          type: 'integer',
          minimum: 0,
          maximum: 1024,
          default: 0,
          description: '0 = auto from the memory: 4 from 1 GiB up, 3 below, 2 under 384 MiB',
        },
        ring_bytes: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description:
            '0 = auto: 1/64 of the memory (cgroup limit or machine) per worker, 1–16 MiB; else at least 65536',
        },
      },
    },
    batch: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_events: { type: 'integer', minimum: 1, default: 5000 },
        max_bytes: { type: 'integer', minimum: 1024, default: 8388608 },
        max_age_ms: { type: 'integer', minimum: 1, default: 1000 },
        codec: { enum: CODECS, default: 'lz4' },
        level: {
          type: 'integer',
          minimum: 0,
          maximum: 22,
          default: 0,
          description: "0 = ferry's default: gzip 1, zstd 1 (the fastest levels; lz4 has none)",
        },
        archive_format: {
          type: 'integer',
          enum: ARCHIVE_FORMATS,
          default: DEFAULT_ARCHIVE_FORMAT,
          description:
            'Archive object format (docs/archive.md): 2 = a header line, then each event as it arrived; 1 = one envelope per event (for readers that parse envelopes)',
        },
      },
    },
    retry: { ...retry, default: {} },
    sinks: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        required: ['type', 'name'],
        discriminator: { propertyName: 'type' },
        oneOf: [
          {
            additionalProperties: false,
            required: ['type', 'name', 'path'],
            properties: {
              type: { const: 'directory' },
              name: sinkName,
              path: { type: 'string', minLength: 1 },
              key_template: keyTemplate,
            },
          },
          {
            additionalProperties: false,
            required: ['type', 'name', 'bucket'],
            properties: {
              type: { const: 's3' },
              name: sinkName,
              bucket: { type: 'string', minLength: 3 },
              region: { type: 'string', default: 'us-east-1' },
              endpoint: { type: 'string' },
              force_path_style: { type: 'boolean', default: false },
              access_key_id: { type: 'string' },
              secret_access_key: { type: 'string' },
              key_template: keyTemplate,
              multipart_threshold_bytes: { type: 'integer', minimum: 5242880, default: 16777216 },
              retry: partialRetry,
            },
          },
          {
            additionalProperties: false,
            required: ['type', 'name', 'url'],
            properties: {
              type: { const: 'clickhouse' },
              name: sinkName,
              url: { type: 'string', pattern: '^https?://' },
              database: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'ferry' },
              table: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'events' },
              username: { type: 'string', default: 'default' },
              password: { type: 'string', default: '' },
              compress: {
                type: 'boolean',
                default: true,
                description: 'gzip the JSONEachRow body (done on the worker threads).',
              },
              columns: clickhouseColumns,
              route: clickhouseRoute,
              preset: {
                enum: ['envelope', 'otel_logs'],
                default: 'envelope',
                description:
                  "The table `ferry migrate` creates: today's envelope table (clickhouse_migrations_dir), or an OpenTelemetry-logs-shaped table for columns mode (current servers only).",
              },
              bisect_max_inserts: {
                type: 'integer',
                minimum: 0,
                default: 64,
                description:
                  'A batch the server refuses for its data is split and re-sent to find the bad rows, with at most this many inserts (0: the whole batch goes to the poison area, as before).',
              },
              retry: partialRetry,
            },
          },
          {
            additionalProperties: false,
            required: ['type', 'name', 'brokers', 'topic'],
            description:
              'Kafka sink (docs/fleet.md): one message per event, acks from all in-sync replicas.',
            properties: {
              type: { const: 'kafka' },
              name: sinkName,
              brokers: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              client_id: { type: 'string', minLength: 1, default: 'ferry-sink' },
              topic: {
                type: 'string',
                minLength: 1,
                description:
                  'The topic, or a template with one {field}: a top-level event field whose value (one of topic_values) names the topic.',
              },
              topic_values: {
                type: 'array',
                items: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,200}$' },
                uniqueItems: true,
                default: [],
                description: 'The values of {field} that get their own topic (a bounded set).',
              },
              default_topic: {
                type: 'string',
                default: '',
                description:
                  'Where an event goes whose {field} is missing or not in topic_values (required with a {field}).',
              },
              key_field: {
                type: 'string',
                default: '',
                description:
                  "The message key: '' = the event_id; else a top-level event field (string or number; the event_id when missing).",
              },
              value: {
                enum: ['envelope', 'payload'],
                default: 'envelope',
                description:
                  'The message value: the archive line {"event_id","received_at","source","payload"} or only the event as it arrived.',
              },
              compression: {
                enum: ['none', 'gzip', 'lz4', 'zstd'],
                default: 'lz4',
                description:
                  'Record-batch compression (ferry codecs; lz4/zstd as on this runtime).',
              },
              max_request_bytes: {
                type: 'integer',
                minimum: 1024,
                default: 900000,
                description:
                  'A batch is produced in requests of at most this many uncompressed value bytes (stay under the topic max.message.bytes).',
              },
              sasl: {
                ...kafkaSasl,
                description:
                  "SASL authentication to the sink's brokers. Put the password in the environment, not the file.",
              },
              tls: kafkaTls,
              retry: partialRetry,
            },
          },
          {
            additionalProperties: false,
            required: ['type', 'name', 'urls'],
            description:
              "HTTP sink (docs/fleet.md): POSTs each batch's archive (NDJSON envelopes) to another ferry's /v1/events.",
            properties: {
              type: { const: 'http' },
              name: sinkName,
              urls: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', pattern: '^https?://' },
                description:
                  'Tried in order; a URL that fails is skipped for failover_cooldown_ms, the next one takes the batch.',
              },
              token: {
                type: 'string',
                default: '',
                description: 'Bearer token (give it in the environment, not the file).',
              },
              ack: {
                enum: ['durable', 'accepted'],
                default: 'durable',
                description:
                  'Sent as ?ack=: durable = delivered only when the receiving ferry answered 200 (its own sinks have the batch).',
              },
              headers: {
                type: 'object',
                additionalProperties: { type: 'string' },
                default: {},
                description: 'Extra request headers.',
              },
              failover_cooldown_ms: { type: 'integer', minimum: 0, default: 10000 },
              probe_path: {
                type: 'string',
                default: '/readyz',
                description:
                  "GET on each URL's origin tells the DLQ the receiver is back (2xx); '' = any answer of the URL itself.",
              },
              max_retry_after_s: {
                type: 'integer',
                minimum: 0,
                default: 60,
                description: "Cap on a receiver's Retry-After the sink waits for.",
              },
              tls: {
                type: 'object',
                additionalProperties: false,
                default: {},
                description: 'For https:// URLs. Paths are relative to the config file.',
                properties: {
                  ca: {
                    type: 'string',
                    default: '',
                    description:
                      "PEM CA bundle to verify the receiver by (default: Node's CA store).",
                  },
                  cert: {
                    type: 'string',
                    default: '',
                    description: 'PEM client certificate (chain) for mutual TLS; needs key.',
                  },
                  key: { type: 'string', default: '', description: 'PEM private key of cert.' },
                  servername: { type: 'string', default: '' },
                  reject_unauthorized: { type: 'boolean', default: true },
                },
              },
              retry: partialRetry,
            },
          },
        ],
      },
    },
    clickhouse_migrations_dir: { type: 'string', default: '' },
    auth: authSchema,
    bulk: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'The Elasticsearch `_bulk` door on the listener (docs/protocols.md): POST/PUT /_bulk and /{index}/_bulk, and the handshake clients make first (GET /).',
      properties: {
        enabled: { type: 'boolean', default: true },
        version: {
          type: 'string',
          pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$',
          default: '8.19.0',
          description:
            'The Elasticsearch version GET / reports: clients check it (Beats refuse a server older than themselves unless allow_older_versions).',
        },
        cluster_name: { type: 'string', minLength: 1, default: 'ferry' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], default: 'info' },
      },
    },
    shutdown: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { drain_timeout_ms: { type: 'integer', minimum: 0, default: 60000 } },
    },
    dlq: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Local DLQ segments per sink (docs/dlq.md).',
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', default: '', description: "'' = <state_dir>/dlq" },
        max_bytes: { type: 'integer', minimum: 1048576, default: 1073741824 },
        max_files: { type: 'integer', minimum: 1, default: 10000 },
        segment_max_bytes: { type: 'integer', minimum: 65536, default: 67108864 },
        ttl_hours: {
          type: 'number',
          minimum: 0,
          default: 168,
          description: 'Segments older than this are removed (counted as dropped); 0 = never.',
        },
        policy: {
          enum: ['reject', 'drop_oldest'],
          default: 'reject',
          description:
            'Full: refuse new data (503), or drop the oldest segment (counted, error-logged).',
        },
        reupload_events_per_s: { type: 'integer', minimum: 1, default: 20000 },
        probe_interval_ms: { type: 'integer', minimum: 50, default: 1000 },
        breaker_failures: {
          type: 'integer',
          minimum: 1,
          default: 1,
          description:
            'Batches in a row spooled before new batches skip the retries and go straight to the DLQ.',
        },
        min_free_bytes: {
          type: 'integer',
          minimum: 0,
          default: 104857600,
          description: "/readyz fails when the DLQ's disk has less free.",
        },
      },
    },
    otlp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'OTLP logs door (docs/protocols.md, "OTLP"): OpenTelemetry SDKs and Collectors export logs to it; one event per LogRecord.',
      properties: {
        enabled: { type: 'boolean', default: false },
        path: {
          type: 'string',
          pattern: '^/',
          default: '/v1/logs',
          description: 'The OTLP/HTTP logs path (protobuf and JSON).',
        },
        port: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          default: 0,
          description:
            '0 = serve the path on the main listener; else its own listener on listen.host (OTLP/HTTP uses 4318), with the same TLS and auth.',
        },
        grpc: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'OTLP/gRPC (LogsService/Export, @grpc/grpc-js) on its own port of listen.host, same TLS and tokens (docs/protocols.md).',
          properties: {
            enabled: { type: 'boolean', default: false },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 4317 },
          },
        },
      },
    },
    wal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        "The local write-ahead log behind ack=durable (docs/wal.md): each durable request's ring record is appended and fsync'd (group commit) before the answer, released once its batches are delivered or in a DLQ, replayed after a crash.",
      properties: {
        enabled: {
          type: 'boolean',
          default: true,
          description:
            'Off: ack=durable means delivered (every sink or its DLQ), as ack=delivered; nothing is written per request. Restart to change.',
        },
        dir: {
          type: 'string',
          default: '',
          description: "'' = <state_dir>/wal. Restart to change.",
        },
        max_bytes: {
          type: 'integer',
          minimum: 1048576,
          default: 536870912,
          description:
            'Segment bytes on disk; full → durable requests get 503 wal_full (Retry-After), Kafka pauses.',
        },
        max_files: { type: 'integer', minimum: 2, default: 10000 },
        segment_max_bytes: {
          type: 'integer',
          minimum: 65536,
          default: 8388608,
          description:
            'A segment is closed past this size, and deleted once all its records are released. A crash replays whole surviving segments: this bounds the duplicates.',
        },
        segment_max_age_ms: {
          type: 'integer',
          minimum: 100,
          default: 2000,
          description:
            'A segment is also closed this long after it was opened, so it can be deleted.',
        },
        commit_delay_ms: {
          type: 'integer',
          minimum: 0,
          maximum: 20,
          default: 1,
          description:
            'Group commit: when the last fsync was shared by several requests, wait this long for the others in flight to join the next one (fewer fsyncs per request at 8–64 producers; 0 = never wait). A lone producer never waits.',
        },
      },
    },
    kafka: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Kafka source (docs/kafka.md): a consumer group whose messages go through the same rings, workers and sinks as HTTP. KAFKA_CONSUMER_ENABLED=false|true in the environment overrides enabled.',
      properties: {
        enabled: { type: 'boolean', default: false },
        brokers: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: ['127.0.0.1:9092'],
        },
        client_id: { type: 'string', minLength: 1, default: 'ferry' },
        group_id: { type: 'string', minLength: 1, default: 'ferry' },
        topics: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 249 },
          default: [],
        },
        from_beginning: {
          type: 'boolean',
          default: true,
          description:
            'A group with no committed offset starts at the earliest message (else the latest).',
        },
        format: { enum: ['json', 'msgpack'], default: 'json' },
        dlq_topic_suffix: {
          type: 'string',
          minLength: 1,
          default: '.dlq',
          description: 'Poison messages go to <topic><suffix>.',
        },
        metadata_field: {
          type: 'string',
          default: '',
          description:
            'When set (e.g. "_kafka"), each JSON event gets this field with topic, partition, offset, key, timestamp and headers.',
        },
        max_message_bytes: { type: 'integer', minimum: 1, default: 1048576 },
        partitions_concurrently: { type: 'integer', minimum: 1, default: 4 },
        max_inflight_bytes_per_partition: {
          type: 'integer',
          minimum: 65536,
          default: 8388608,
          description:
            'Message bytes dispatched but not yet durable, per partition; past it the partition pauses.',
        },
        ack: {
          enum: ['durable', 'delivered'],
          default: 'durable',
          description:
            "When offsets may be committed: durable = the messages are fsync'd in the local write-ahead log; delivered = every sink (or its DLQ) has them.",
        },
        commit_interval_ms: { type: 'integer', minimum: 10, default: 1000 },
        session_timeout_ms: { type: 'integer', minimum: 1000, default: 30000 },
        heartbeat_interval_ms: { type: 'integer', minimum: 100, default: 3000 },
        retry_initial_ms: { type: 'integer', minimum: 1, default: 300 },
        retry_max_ms: { type: 'integer', minimum: 1, default: 30000 },
        sasl: kafkaSasl,
        tls: kafkaTls,
        init: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            '`ferry kafka init`: partitions and replication of the topics and DLQ topics it creates.',
          properties: {
            partitions: { type: 'integer', minimum: 1, default: 6 },
            replication_factor: { type: 'integer', minimum: 1, default: 1 },
            dlq_partitions: { type: 'integer', minimum: 1, default: 1 },
          },
        },
      },
    },
  },
} as const;
