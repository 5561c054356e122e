/**
 * What Elasticsearch clients ask before they send (docs/protocols.md, "What is emulated"):
 * `GET /` (the product check of the official clients, Beats, Logstash, Vector's version
 * detection), `GET /_license` (Logstash), `GET /_cluster/health` (Vector's healthcheck) and
 * `GET /_cat/health` (rsyslog's omelasticsearch checks it before sending and to resume after an
 * outage; from rsyslog 8.2606 it needs a 2xx there). Nothing else of the Elasticsearch API is answered.
 */
import { createHash } from 'node:crypto';

export interface ClusterIdentity {
  /** The version ferry reports (bulk.version). */
  version: string;
  clusterName: string;
  nodeName: string;
}

/** Lucene major of each Elasticsearch major: only for clients that print it. */
const LUCENE: Record<string, string> = { '7': '8.11.3', '8': '9.12.0', '9': '10.2.2' };

function uuidOf(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

export function infoBody(id: ClusterIdentity): string {
  const major = id.version.split('.')[0];
  return JSON.stringify({
    name: id.nodeName,
    cluster_name: id.clusterName,
    cluster_uuid: uuidOf(`ferry:${id.clusterName}`),
    version: {
      number: id.version,
      build_flavor: 'default',
      build_type: 'ferry',
      build_hash: 'ferry',
      build_date: '2025-01-01T00:00:00.000Z',
      build_snapshot: false,
      lucene_version: LUCENE[major] ?? LUCENE['8'],
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  });
}

export function licenseBody(id: ClusterIdentity): string {
  return JSON.stringify({
    license: {
      status: 'active',
      uid: uuidOf(`ferry-license:${id.clusterName}`),
      type: 'basic',
      issue_date: '2025-01-01T00:00:00.000Z',
      issue_date_in_millis: 1735689600000,
      max_nodes: 1000,
      max_resource_units: null,
      issued_to: id.clusterName,
      issuer: 'elasticsearch',
      start_date_in_millis: -1,
    },
  });
}

export function healthBody(id: ClusterIdentity, ready: boolean): string {
  return JSON.stringify({
    cluster_name: id.clusterName,
    status: ready ? 'green' : 'red',
    timed_out: false,
    number_of_nodes: 1,
    number_of_data_nodes: 1,
    active_primary_shards: 0,
    active_shards: 0,
    relocating_shards: 0,
    initializing_shards: 0,
    unassigned_shards: 0,
    delayed_unassigned_shards: 0,
    number_of_pending_tasks: 0,
    number_of_in_flight_fetch: 0,
    task_max_waiting_in_queue_millis: 0,
    active_shards_percent_as_number: 100.0,
  });
}

/**
 * `GET /_cat/health`: Elasticsearch's cat table (text with a header line when `v` is given), or
 * its JSON rows for `format=json`.
 */
export function catHealthBody(
  id: ClusterIdentity,
  ready: boolean,
  opts: { json: boolean; header: boolean },
  now: Date = new Date(),
): string {
  const row = {
    epoch: String(Math.floor(now.getTime() / 1000)),
    timestamp: now.toISOString().slice(11, 19),
    cluster: id.clusterName,
    status: ready ? 'green' : 'red',
    'node.total': '1',
    'node.data': '1',
    shards: '0',
    pri: '0',
    relo: '0',
    init: '0',
    unassign: '0',
    pending_tasks: '0',
    max_task_wait_time: '-',
    active_shards_percent: '100.0%',
  };
  if (opts.json) return JSON.stringify([row]);
  const line = `${Object.values(row).join(' ')}\n`;
  return opts.header ? `${Object.keys(row).join(' ')}\n${line}` : line;
}
