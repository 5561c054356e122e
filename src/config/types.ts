/**
 * The validated, defaulted configuration the rest of ferry sees, derived from the schema
 * (./schema.ts) so the two cannot drift. Keys mirror the YAML (snake_case); what each key means
 * is in the schema's `description`s. A key with a schema `default` is always present here (the
 * loader validates with ajv's useDefaults); a key without one is optional.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { configSchema } from './schema.js';

export type FerryConfig = FromSchema<typeof configSchema>;

export type AckMode = FerryConfig['http']['ack'];

export type RetryConfig = FerryConfig['retry'];

export type SinkConfig = FerryConfig['sinks'][number];
export type DirectorySinkConfig = Extract<SinkConfig, { type: 'directory' }>;
export type S3SinkConfig = Extract<SinkConfig, { type: 's3' }>;
export type ClickHouseSinkConfig = Extract<SinkConfig, { type: 'clickhouse' }>;

/** Local DLQ segments per sink (docs/dlq.md). */
export type DlqConfig = FerryConfig['dlq'];

/** PEM file paths; re-read on every reload so a renewed certificate is picked up. */
export type TlsConfig = NonNullable<FerryConfig['listen']['tls']>;

export type AuthConfig = FerryConfig['auth'];
export type TokenConfig = AuthConfig['tokens'][number];
export type AuthRoute = TokenConfig['routes'][number];

/** Kafka source (docs/kafka.md). */
export type KafkaConfig = FerryConfig['kafka'];
export type KafkaSinkConfig = Extract<SinkConfig, { type: 'kafka' }>;
export type HttpSinkConfig = Extract<SinkConfig, { type: 'http' }>;
