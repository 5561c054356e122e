-- The `otel_logs` preset (`preset: otel_logs` on a ClickHouse sink in columns mode): a table
-- shaped like the OpenTelemetry Collector's otel_logs, plus ferry's own columns. Log records
-- as events (Timestamp, SeverityText, Body, ResourceAttributes, …) fill it by column name or by
-- the sink's columns.paths; docs/clickhouse.md has the mapping.
-- Needs a current server (DateTime64, Map, LowCardinality, bloom-filter indexes): ClickHouse 18.16
-- refuses it.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl String,
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl String,
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String),
    event_id String,
    received_at DateTime,
    source LowCardinality(String),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SeverityText, toUnixTimestamp(Timestamp), TraceId);
