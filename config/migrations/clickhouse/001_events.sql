-- The default events table, one row per event:
--   {"event_id":"…","received_at":<unix seconds>,"source":"http","payload":"<the event JSON as a string>"}
-- received_at is sent as an integer Unix timestamp: a DateTime column reads a JSON
-- number as such on 18.16 and current versions, independent of any timezone.
--
-- ReplacingMergeTree collapses rows with the same event_id on merge (and at query
-- time with FINAL). There is no time partition on purpose: it only deduplicates
-- within a partition, and a re-sent event has a different received_at.
-- The engine syntax below works on ClickHouse 18.16 and current versions.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    event_id String,
    received_at DateTime,
    source String,
    payload String
)
ENGINE = ReplacingMergeTree()
ORDER BY event_id;
