/**
 * config/prometheus-alerts.yaml: valid for Prometheus (`promtool check rules`), the main
 * alerts fire and stay quiet when they should (`promtool test rules` on
 * test/unit/fixtures/prometheus-alerts.rules-test.yaml), they only use metrics ferry exports
 * (or the DLQ/Kafka/reload metrics listed below), and each has a runbook section.
 * promtool comes from Debian's prometheus package (scripts/setup-test-deps.sh).
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observe/metrics.js';
import { EXPECTED_ELSEWHERE } from '../helpers/expected-metrics.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'config', 'prometheus-alerts.yaml');

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error)
    throw new Error(`promtool is missing (bash scripts/setup-test-deps.sh): ${r.error.message}`);
  return r;
}

type Rule = { alert: string; expr: string; annotations: Record<string, string> };
const rules = (
  parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);

describe('config/prometheus-alerts.yaml', () => {
  it('passes promtool check rules', () => {
    const r = promtool('check', 'rules', RULES);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it('promtool check rules is a real check: a bad expression fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-rules-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(RULES, 'utf8').replace(
        'dlq_files_current{job="ferry"} > 1000',
        'dlq_files_current{job="ferry" > 1000',
      ),
    );
    expect(promtool('check', 'rules', bad).status).not.toBe(0);
  });

  it('fires the main alerts on the seed 001 thresholds (promtool test rules)', () => {
    const r = promtool(
      'test',
      'rules',
      join(ROOT, 'test', 'unit', 'fixtures', 'prometheus-alerts.rules-test.yaml'),
    );
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('carries the thresholds of seed 001', () => {
    const expr = (name: string) => rules.find((x) => x.alert === name)?.expr ?? '';
    expect(expr('FerryDLQFilesHigh')).toMatch(/dlq_files_current\{[^}]*\} > 1000/);
    expect(expr('FerryDLQEventsDropped')).toMatch(
      /increase\(dlq_events_dropped_total\{[^}]*\}\[\w+\]\) > 0/,
    );
    expect(expr('FerryQueueFullRejections')).toMatch(
      /rate\(http_requests_rejected_queue_full_total/,
    );
    expect(expr('FerryS3PutErrors')).toMatch(/rate\(s3_put_errors_total/);
    expect(expr('FerryS3StoredStalled')).toMatch(
      /rate\(s3_events_stored_total\{[^}]*\}\[\w+\]\) == 0/,
    );
    for (const name of [
      'FerryClickHouseInsertErrors',
      'FerryKafkaConsumerLag',
      'FerryDown',
      'FerryRestarting',
      'FerryEventLoopLag',
    ])
      expect(expr(name), name).not.toBe('');
  });

  it('uses only metrics ferry exports (or the listed DLQ/Kafka/reload ones)', () => {
    const exported = new Set<string>(EXPECTED_ELSEWHERE);
    const m = createMetrics();
    for (const metric of m.registry.getMetricsAsArray()) exported.add(metric.name);
    const used = new Set(
      rules.flatMap((r) => [...r.expr.matchAll(/([a-z_][a-z0-9_]*)\{/g)].map((x) => x[1])),
    );
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });

  it('links every alert to a runbook section in docs/operations.md', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const anchors = new Set(
      [...doc.matchAll(/^#+ (.+)$/gm)].map((h) =>
        h[1]
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const r of rules) {
      const link = r.annotations.runbook;
      expect(link, r.alert).toMatch(/^docs\/operations\.md#/);
      expect(anchors.has(link.split('#')[1]), `${r.alert}: ${link}`).toBe(true);
    }
  });
});
