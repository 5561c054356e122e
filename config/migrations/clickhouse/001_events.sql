-- The default events table. ReplacingMergeTree collapses rows with the same
-- event_id on merge (and at query time with FINAL). No time partition on
-- purpose: dedup only happens within a partition, and a re-sent event has a
-- different received_at. Works on ClickHouse 18.16 and current versions.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    event_id String,
    received_at DateTime,
    source String,
    payload String
)
ENGINE = ReplacingMergeTree()
ORDER BY event_id
