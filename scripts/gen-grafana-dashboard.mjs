#!/usr/bin/env node
/**
 * Writes config/grafana-dashboard.json: one panel group per layer of ferry, every metric
 * ferry exports (test/integration/grafana-dashboard.test.ts scrapes a running ferry and
 * checks). Regenerate after adding a metric: node scripts/gen-grafana-dashboard.mjs
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const sel = 'job="ferry", instance=~"$instance"';
/**
 * @param {string} name
 * @param {string} [extra] more label matchers
 */
const m = (name, extra = '') => `${name}{${sel}${extra ? `, ${extra}` : ''}}`;
/**
 * @param {string} name
 * @param {string} [by] labels to keep besides instance
 * @param {string} [w] the range
 */
const rate = (name, by = '', w = '$__rate_interval') =>
  `sum by (instance${by ? `, ${by}` : ''}) (rate(${m(name)}[${w}]))`;
/**
 * @param {number} p the quantile
 * @param {string} name a histogram
 * @param {string} [by] labels to keep besides instance
 */
const q = (p, name, by = '') =>
  `histogram_quantile(${p}, sum by (le, instance${by ? `, ${by}` : ''}) (rate(${m(`${name}_bucket`)}[$__rate_interval])))`;

let id = 0;
let y = 0;
/** @type {Record<string, unknown>[]} Grafana panel JSON, written as is */
const panels = [];
/** @param {string} title */
const row = (title) => {
  panels.push({
    type: 'row',
    title,
    id: ++id,
    collapsed: false,
    gridPos: { h: 1, w: 24, x: 0, y: y++ },
    panels: [],
  });
};
let x = 0;
let rowH = 0;
/**
 * @param {number} w
 * @param {number} h
 */
const place = (w, h) => {
  if (x + w > 24) {
    x = 0;
    y += rowH;
    rowH = 0;
  }
  const pos = { h, w, x, y };
  x += w;
  rowH = Math.max(rowH, h);
  return pos;
};
const endRow = () => {
  y += rowH;
  x = 0;
  rowH = 0;
};
const ds = { type: 'prometheus', uid: '${datasource}' };
/** @typedef {[expr: string, legend: string]} Query */

/** @param {Query[]} exprs */
const targets = (exprs) =>
  exprs.map(([expr, legend], i) => ({
    datasource: ds,
    expr,
    legendFormat: legend,
    refId: String.fromCharCode(65 + i),
  }));
/**
 * @param {string} title
 * @param {string} unit
 * @param {Query[]} exprs
 * @param {string} [description]
 * @param {number} [w]
 */
const ts = (title, unit, exprs, description = '', w = 8) =>
  panels.push({
    type: 'timeseries',
    title,
    description,
    id: ++id,
    datasource: ds,
    gridPos: place(w, 8),
    fieldConfig: { defaults: { unit }, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: targets(exprs),
  });
/**
 * @param {string} title
 * @param {string} unit
 * @param {string} expr
 * @param {[value: number, color: string][]} thresholds
 * @param {string} [description]
 */
const stat = (title, unit, expr, thresholds, description = '') =>
  panels.push({
    type: 'stat',
    title,
    description,
    id: ++id,
    datasource: ds,
    gridPos: place(3, 4),
    fieldConfig: {
      defaults: {
        unit,
        thresholds: {
          mode: 'absolute',
          steps: [
            { color: 'green', value: null },
            ...thresholds.map(([value, color]) => ({ value, color })),
          ],
        },
      },
      overrides: [],
    },
    options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'background' },
    targets: targets([[expr, '{{instance}}']]),
  });

row('Overview');
stat('Up', 'none', `min(up{${sel}})`, [], 'Prometheus can scrape ferry (alert FerryDown).');
stat('Events in /s', 'short', `sum(rate(${m('events_received_total')}[$__rate_interval]))`, []);
stat(
  'Delivered /s',
  'short',
  `sum(rate(${m('sink_events_delivered_total')}[$__rate_interval]))`,
  [],
);
stat(
  'DLQ files',
  'none',
  `sum(${m('dlq_files_current')})`,
  [
    [1000, 'orange'],
    [5000, 'red'],
  ],
  'Seed 001: > 1000 is an alert (FerryDLQFilesHigh).',
);
stat(
  'DLQ dropped (range)',
  'none',
  `sum(increase(${m('dlq_events_dropped_total')}[$__range]))`,
  [[1, 'red']],
  'Must stay 0: dropped events are lost (FerryDLQEventsDropped).',
);
stat(
  '503 queue_full /s',
  'reqps',
  `sum(rate(${m('http_requests_rejected_queue_full_total')}[$__rate_interval]))`,
  [[0.001, 'orange']],
);
stat('Worst ring', 'percentunit', `max(${m('ring_used_bytes')} / ${m('ring_capacity_bytes')})`, [
  [0.5, 'orange'],
  [0.9, 'red'],
]);
stat(
  'Since last reload',
  's',
  `time() - max(${m('config_last_reload_success_timestamp_seconds')})`,
  [],
  'Seconds since the last successful config reload (SIGHUP / systemctl reload ferry).',
);
endRow();

row('Ingest (HTTP)');
ts('Events received /s by source', 'short', [
  [rate('events_received_total', 'source'), '{{instance}} {{source}}'],
]);
ts('HTTP answers /s by status', 'reqps', [
  [rate('http_requests_total', 'status'), '{{instance}} {{status}}'],
]);
ts(
  'Rejected requests /s',
  'reqps',
  [
    [rate('http_requests_rejected_queue_full_total'), '{{instance}} 503 queue_full'],
    [rate('http_requests_rejected_body_too_large_total'), '{{instance}} 413 body_too_large'],
    [rate('http_requests_rejected_malformed_total'), '{{instance}} 400 malformed'],
  ],
  'queue_full rising: sinks or workers slower than input (FerryQueueFullRejections).',
);
ts('Ack latency', 's', [
  [q(0.5, 'http_ack_latency_seconds', 'ack'), 'p50 {{ack}} {{instance}}'],
  [q(0.99, 'http_ack_latency_seconds', 'ack'), 'p99 {{ack}} {{instance}}'],
  [
    `sum by (instance, ack) (rate(${m('http_ack_latency_seconds_sum')}[$__rate_interval])) / sum by (instance, ack) (rate(${m('http_ack_latency_seconds_count')}[$__rate_interval]))`,
    'mean {{ack}} {{instance}}',
  ],
]);
ts('Durable requests waiting', 'short', [[m('http_pending_durable_requests'), '{{instance}}']]);
endRow();

row('Ingest (Elasticsearch _bulk)');
ts('_bulk answers /s by status', 'reqps', [
  [rate('bulk_requests_total', 'status'), '{{instance}} {{status}}'],
]);
ts(
  '_bulk items /s by action and status',
  'short',
  [[rate('bulk_items_total', 'action, status'), '{{instance}} {{action}} {{status}}']],
  '201 = stored as an event; 400 = refused item (update/delete, bad document or index name).',
);
endRow();

row('Pipeline (rings, workers, batches)');
ts(
  'Ring use by worker',
  'percentunit',
  [[`${m('ring_used_bytes')} / ${m('ring_capacity_bytes')}`, '{{instance}} w{{worker}}']],
  '/readyz reports not ready above 90%.',
);
ts('Ring bytes', 'bytes', [
  [m('ring_used_bytes'), 'used {{instance}} w{{worker}}'],
  [m('ring_capacity_bytes'), 'capacity {{instance}} w{{worker}}'],
]);
ts(
  'Worker busy',
  'percentunit',
  [[m('worker_busy_ratio'), '{{instance}} w{{worker}}']],
  'Seed 001 scenario 2: sustained > 90% → lower batch.max_events or add CPU.',
);
ts(
  'Events per batch',
  'short',
  [
    [q(0.5, 'batch_events'), 'p50 {{instance}}'],
    [q(0.99, 'batch_events'), 'p99 {{instance}}'],
    [
      `sum by (instance) (rate(${m('batch_events_sum')}[$__rate_interval])) / sum by (instance) (rate(${m('batch_events_count')}[$__rate_interval]))`,
      'mean {{instance}}',
    ],
  ],
  'Follows batch.max_events: after a reload the new size shows here.',
);
ts('Batch bytes (compressed)', 'bytes', [
  [q(0.5, 'batch_bytes'), 'p50 {{instance}}'],
  [q(0.99, 'batch_bytes'), 'p99 {{instance}}'],
]);
ts('Batches in flight', 'short', [[m('batches_inflight'), '{{instance}}']]);
endRow();

row('Sinks');
ts('Delivered events /s by sink', 'short', [
  [rate('sink_events_delivered_total', 'sink'), '{{instance}} {{sink}}'],
]);
ts('Sink errors /s', 'short', [
  [rate('sink_errors_total', 'sink, class'), '{{instance}} {{sink}} {{class}}'],
  [rate('sink_retries_total', 'sink'), 'retries {{instance}} {{sink}}'],
]);
ts('Failed batches', 'short', [
  [
    `sum by (instance, sink, reason) (increase(${m('batches_failed_total')}[$__rate_interval]))`,
    '{{instance}} {{sink}} {{reason}}',
  ],
]);
ts(
  'S3',
  'short',
  [
    [rate('s3_events_stored_total'), 'stored events/s {{instance}}'],
    [rate('s3_put_errors_total'), 'put errors/s {{instance}}'],
  ],
  'Seed 001: stored stalls or put errors surge → FerryS3StoredStalled / FerryS3PutErrors.',
);
ts('ClickHouse insert errors /s', 'short', [
  [rate('clickhouse_insert_errors_total', 'class'), '{{instance}} {{class}}'],
]);
ts(
  'ClickHouse unrouted events /s',
  'short',
  [[rate('clickhouse_unrouted_events_total', 'sink'), '{{instance}} {{sink}}']],
  'Routing with unmatched: refuse — events no route took, kept as poison rows (docs/clickhouse.md "Routing").',
);
ts(
  'Kafka sink',
  'short',
  [
    [rate('kafka_sink_messages_total', 'sink'), 'acked messages/s {{instance}} {{sink}}'],
    [rate('kafka_produce_errors_total', 'class'), 'produce errors/s {{instance}} {{class}}'],
  ],
  'Messages the brokers acknowledged (acks=all) and failed produce attempts (docs/fleet.md).',
);
ts(
  'HTTP sink requests /s',
  'short',
  [
    [
      rate('http_sink_requests_total', 'sink, url, status'),
      '{{instance}} {{sink}} {{url}} {{status}}',
    ],
  ],
  'Answers of the receiving ferry by URL: 503s and "network" on one URL and 200s on the next = a failover (docs/fleet.md).',
);
ts('Sink write duration', 's', [
  [q(0.5, 'sink_write_duration_seconds', 'sink'), 'p50 {{sink}} {{instance}}'],
  [q(0.99, 'sink_write_duration_seconds', 'sink'), 'p99 {{sink}} {{instance}}'],
]);
endRow();

row('DLQ (local disk spill)');
ts(
  'DLQ files',
  'short',
  [[m('dlq_files_current'), '{{instance}}']],
  'Seed 001: the growth rate matters more than the level.',
);
ts('DLQ bytes', 'bytes', [[m('dlq_bytes_current'), '{{instance}}']]);
ts('DLQ flows /s', 'short', [
  [rate('dlq_events_reuploaded_total'), 're-uploaded events {{instance}}'],
  [rate('dlq_events_dropped_total'), 'DROPPED events {{instance}}'],
  [rate('dlq_files_expired_total'), 'expired files {{instance}}'],
  [rate('dlq_corrupt_records_total'), 'corrupt records {{instance}}'],
]);
ts(
  'DLQ events held',
  'short',
  [[`sum by (instance, sink) (${m('dlq_events_current')})`, '{{instance}} {{sink}}']],
  'Events waiting on disk for their sink; drains to 0 once the sink is back.',
);
ts('Spooled vs re-uploaded /s', 'short', [
  [rate('dlq_events_spooled_total', 'sink'), 'spooled {{instance}} {{sink}}'],
  [rate('dlq_events_reuploaded_total', 'sink'), 're-uploaded {{instance}} {{sink}}'],
]);
ts(
  'Sink circuit open',
  'short',
  [[m('dlq_circuit_open'), '{{instance}} {{sink}}']],
  '1 = the sink is failing and new batches go straight to disk; probed in the background.',
);
ts(
  'DLQ refusals and failures /s',
  'short',
  [
    [rate('http_requests_rejected_dlq_full_total'), '503 dlq_full {{instance}}'],
    [rate('dlq_save_failures_total', 'reason'), 'save failed {{instance}} {{reason}}'],
    [rate('dlq_poison_batches_total', 'sink'), 'poison batches {{instance}} {{sink}}'],
  ],
  'dlq_full / save failures: the disk limit or the disk itself refuses; poison: the sink rejected the data itself (see ferry dlq ls --poison).',
);
endRow();

row('Write-ahead log (ack=durable)');
ts(
  'WAL append bytes /s',
  'Bps',
  [[rate('wal_append_bytes_total'), '{{instance}}']],
  "Bytes written (and fsync'd) to the log: the disk write budget of ack=durable (docs/wal.md).",
);
ts('WAL records appended /s', 'short', [[rate('wal_append_records_total'), '{{instance}}']]);
ts(
  'WAL fsyncs /s',
  'short',
  [[rate('wal_fsyncs_total'), '{{instance}}']],
  'Group commits: one write + one fdatasync shared by every append waiting.',
);
ts(
  'WAL group commit latency',
  's',
  [
    [q(0.5, 'wal_fsync_seconds'), 'p50 {{instance}}'],
    [q(0.99, 'wal_fsync_seconds'), 'p99 {{instance}}'],
  ],
  'A durable answer waits about one group commit; a slow disk shows here first.',
);
ts(
  'WAL records pending',
  'short',
  [[m('wal_records_pending'), '{{instance}}']],
  'Appended but not yet released (their batches not yet delivered or in a DLQ): about one batch age of traffic; growth means sinks and DLQ cannot take it.',
);
ts('WAL bytes on disk', 'bytes', [[m('wal_bytes_current'), 'bytes {{instance}}']]);
ts('WAL files on disk', 'short', [[m('wal_files_current'), '{{instance}}']]);
ts(
  'WAL replays, refusals and corruption /s',
  'short',
  [
    [rate('wal_records_replayed_total', 'reason'), 'replayed {{instance}} {{reason}}'],
    [rate('wal_rejected_full_total'), '503 wal_full {{instance}}'],
    [rate('wal_corrupt_records_total'), 'corrupt records {{instance}}'],
  ],
  'startup: records found after a crash; lost: a batch failed after the ack (DLQ full or off) or its worker died; wal_full: wal.max_bytes reached.',
);
endRow();

row('Kafka');
ts(
  'Consumer lag by topic',
  'short',
  [[`max by (instance, topic) (${m('kafka_consumer_lag')})`, '{{instance}} {{topic}}']],
  'High watermark minus the offset ferry last committed, worst partition (FerryKafkaConsumerLag).',
  12,
);
ts(
  'Consumer lag by partition',
  'short',
  [[m('kafka_consumer_lag'), '{{instance}} {{topic}}/{{partition}}']],
  'One partition far behind the others: a paused or stuck partition.',
  12,
);
ts('Messages in /s by topic', 'short', [
  [rate('kafka_messages_received_total', 'topic'), '{{instance}} {{topic}}'],
]);
ts(
  'Offset commits /s',
  'short',
  [
    [rate('kafka_offset_commits_total'), 'committed {{instance}}'],
    [rate('kafka_offset_commit_errors_total'), 'refused {{instance}}'],
  ],
  'A partition offset is committed only once every message before it is durable (sinks or local DLQ). Refused commits are retried on the next interval.',
);
ts(
  'DLQ topic messages /s',
  'short',
  [[rate('kafka_dlq_messages_total', 'topic, class'), '{{instance}} {{topic}} {{class}}']],
  'Poison messages (malformed, too_large, empty_value, sink_refused) written to <topic>.dlq.',
);
ts(
  'Partition pauses /s by reason',
  'short',
  [[rate('kafka_partition_pauses_total', 'reason'), '{{instance}} {{reason}}']],
  'rings: workers full; inflight: per-partition byte limit; dlq_full: a sink is down and its DLQ is full; retry: a batch is being re-sent; undecodable: a record batch ferry cannot decode.',
);
ts(
  'Undecodable record batches by partition',
  'short',
  [
    [
      `sum by (instance, topic, partition) (increase(${m('kafka_undecodable_batches_total')}[$__rate_interval]))`,
      '{{instance}} {{topic}}/{{partition}}',
    ],
  ],
  'A batch ferry cannot decode (unknown codec, corrupt): its partition is held at that offset, retried with backoff (FerryKafkaUndecodableBatch, docs/kafka.md).',
);
ts('Rebalances and consumer restarts', 'short', [
  [
    `sum by (instance) (increase(${m('kafka_rebalances_total')}[$__rate_interval]))`,
    'group joins {{instance}}',
  ],
  [
    `sum by (instance) (increase(${m('kafka_consumer_restarts_total')}[$__rate_interval]))`,
    'restarts {{instance}}',
  ],
]);
ts(
  'In-flight Kafka bytes',
  'bytes',
  [[m('kafka_inflight_bytes'), '{{instance}}']],
  'Message bytes dispatched but not yet durable (bounded by kafka.max_inflight_bytes_per_partition per partition).',
);
endRow();

row('OTLP (logs door)');
ts(
  'OTLP export requests /s by answer',
  'short',
  [
    [
      rate('otlp_requests_total', 'transport, encoding, status'),
      '{{instance}} {{transport}} {{encoding}} {{status}}',
    ],
  ],
  'OpenTelemetry SDKs and Collectors exporting logs (docs/protocols.md "OTLP"): 200 taken (maybe partially), 400/413/415 refused, 429/503 retried by the exporter.',
  12,
);
ts(
  'OTLP log records refused /s (partial success)',
  'short',
  [[rate('otlp_log_records_rejected_total', 'transport'), '{{instance}} {{transport}}']],
  'Records refused one by one and reported in partial_success (bad trace/span id, unusable event_id, over a per-event limit); the rest of their request was stored.',
  12,
);
endRow();

row('Config reloads and auth');
ts(
  'Reloads',
  'short',
  [
    [
      `changes(${m('config_last_reload_success_timestamp_seconds')}[$__rate_interval])`,
      'reloaded {{instance}}',
    ],
    [`increase(${m('config_reload_failures_total')}[$__rate_interval])`, 'refused {{instance}}'],
    [
      `sum by (instance, result) (increase(${m('config_reloads_total')}[$__rate_interval]))`,
      '{{result}} {{instance}}',
    ],
  ],
  'Refused reloads keep the running config (FerryConfigReloadFailed).',
);
ts(
  'Restart required',
  'short',
  [[m('config_reload_restart_required'), '{{instance}}']],
  '1 = the file on disk has changes a reload cannot apply (listener, workers, sink set): restart ferry.',
);
ts(
  'Auth rejections',
  'reqps',
  [[rate('http_requests_rejected_auth_total', 'reason'), '{{reason}} {{instance}}']],
  '401 missing/unknown token, 403 wrong route, 429 over the rate limit.',
);
endRow();

row('Process (Node.js)');
ts('CPU', 'percentunit', [
  [rate('process_cpu_seconds_total'), 'total {{instance}}'],
  [rate('process_cpu_user_seconds_total'), 'user {{instance}}'],
  [rate('process_cpu_system_seconds_total'), 'system {{instance}}'],
]);
ts('Memory', 'bytes', [
  [m('process_resident_memory_bytes'), 'rss {{instance}}'],
  [m('process_virtual_memory_bytes'), 'virtual {{instance}}'],
  [m('process_heap_bytes'), 'heap {{instance}}'],
  [m('nodejs_external_memory_bytes'), 'external {{instance}}'],
]);
ts(
  'Event-loop lag',
  's',
  [
    [m('event_loop_lag_seconds'), 'ferry probe {{instance}}'],
    [m('nodejs_eventloop_lag_seconds'), 'node {{instance}}'],
    [m('nodejs_eventloop_lag_min_seconds'), 'min {{instance}}'],
    [m('nodejs_eventloop_lag_max_seconds'), 'max {{instance}}'],
    [m('nodejs_eventloop_lag_mean_seconds'), 'mean {{instance}}'],
    [m('nodejs_eventloop_lag_stddev_seconds'), 'stddev {{instance}}'],
    [m('nodejs_eventloop_lag_p50_seconds'), 'p50 {{instance}}'],
    [m('nodejs_eventloop_lag_p90_seconds'), 'p90 {{instance}}'],
    [m('nodejs_eventloop_lag_p99_seconds'), 'p99 {{instance}}'],
  ],
  'A blocked main thread stops the watchdog pings; systemd then restarts ferry.',
);
ts('V8 heap', 'bytes', [
  [m('nodejs_heap_size_total_bytes'), 'total {{instance}}'],
  [m('nodejs_heap_size_used_bytes'), 'used {{instance}}'],
  [
    `sum by (instance, space) (${m('nodejs_heap_space_size_used_bytes')})`,
    'used {{space}} {{instance}}',
  ],
  [
    `sum by (instance, space) (${m('nodejs_heap_space_size_total_bytes')})`,
    'total {{space}} {{instance}}',
  ],
  [
    `sum by (instance, space) (${m('nodejs_heap_space_size_available_bytes')})`,
    'available {{space}} {{instance}}',
  ],
]);
ts('GC', 's', [
  [
    `sum by (instance, kind) (rate(${m('nodejs_gc_duration_seconds_sum')}[$__rate_interval]))`,
    '{{kind}} {{instance}}',
  ],
  [q(0.99, 'nodejs_gc_duration_seconds', 'kind'), 'p99 {{kind}} {{instance}}'],
]);
ts('Handles, requests, resources, fds', 'short', [
  [m('nodejs_active_handles_total'), 'handles {{instance}}'],
  [`sum by (instance, type) (${m('nodejs_active_handles')})`, 'handles {{type}} {{instance}}'],
  [m('nodejs_active_requests_total'), 'requests {{instance}}'],
  [`sum by (instance, type) (${m('nodejs_active_requests')})`, 'requests {{type}} {{instance}}'],
  [m('nodejs_active_resources_total'), 'resources {{instance}}'],
  [`sum by (instance, type) (${m('nodejs_active_resources')})`, 'resources {{type}} {{instance}}'],
  [m('process_open_fds'), 'open fds {{instance}}'],
  [m('process_max_fds'), 'max fds {{instance}}'],
]);
ts(
  'Uptime and runtime',
  's',
  [
    [`time() - ${m('process_start_time_seconds')}`, 'uptime {{instance}}'],
    [`${m('nodejs_version_info')} * 0`, 'node {{version}} {{instance}}'],
  ],
  "process_* and nodejs_* metrics exist on Node only (Bun and Deno export ferry's own metrics).",
  24,
);
endRow();

const dashboard = {
  __inputs: [
    {
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    },
  ],
  title: 'ferry',
  uid: 'ferry-overview',
  description:
    'ferry edge-to-core ingest: HTTP → rings → workers → sinks, DLQ, Kafka, reloads, process. Scrape job "ferry".',
  tags: ['ferry'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 1,
  editable: true,
  refresh: '30s',
  time: { from: 'now-6h', to: 'now' },
  templating: {
    list: [
      {
        name: 'datasource',
        type: 'datasource',
        query: 'prometheus',
        label: 'Data source',
        current: {},
      },
      {
        name: 'instance',
        type: 'query',
        datasource: ds,
        query: 'label_values(up{job="ferry"}, instance)',
        refresh: 2,
        includeAll: true,
        multi: true,
        allValue: '.*',
        current: { text: 'All', value: '$__all' },
        label: 'Instance',
      },
    ],
  },
  annotations: {
    list: [
      {
        name: 'Config reloads',
        datasource: ds,
        enable: true,
        iconColor: 'blue',
        expr: `changes(${m('config_last_reload_success_timestamp_seconds')}[1m]) > 0`,
        titleFormat: 'config reloaded',
        textFormat: '{{instance}}',
        step: '30s',
      },
      {
        name: 'Restarts',
        datasource: ds,
        enable: true,
        iconColor: 'red',
        expr: `changes(${m('process_start_time_seconds')}[1m]) > 0`,
        titleFormat: 'ferry restarted',
        textFormat: '{{instance}}',
        step: '30s',
      },
    ],
  },
  panels,
};
writeFileSync(
  resolve(import.meta.dirname, '..', 'config', 'grafana-dashboard.json'),
  JSON.stringify(dashboard, null, 2) + '\n',
);
