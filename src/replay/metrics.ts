import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';

/** What a replay or verify exposes while it runs (`--metrics-port`), for the same dashboards. */
export interface ReplayMetrics {
  registry: Registry;
  objects: Counter;
  events: Counter;
  bytes: Counter;
  skipped: Counter;
  differingHours: Gauge;
}

export function createReplayMetrics(): ReplayMetrics {
  const registry = new Registry();
  return {
    registry,
    objects: new Counter({
      name: 'replay_objects_total',
      help: 'Archive objects replayed into ClickHouse',
      registers: [registry],
    }),
    events: new Counter({
      name: 'replay_events_total',
      help: 'Events replayed into ClickHouse',
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'replay_bytes_total',
      help: 'Compressed archive bytes replayed',
      registers: [registry],
    }),
    skipped: new Counter({
      name: 'replay_objects_skipped_total',
      help: 'Archive objects skipped as unreadable (corrupt, truncated)',
      registers: [registry],
    }),
    differingHours: new Gauge({
      name: 'verify_differing_hours',
      help: 'Hours whose distinct event_id counts differ between archive and table (last verify)',
      registers: [registry],
    }),
  };
}

/** Serve /metrics on 127.0.0.1:port while the command runs. */
export function serveMetrics(m: ReplayMetrics, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    m.registry
      .metrics()
      .then((text) => res.writeHead(200, { 'Content-Type': m.registry.contentType }).end(text));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
