/**
 * config/grafana-dashboard.json shows every metric a running ferry exports (scraped from
 * /metrics of a real process), plus the DLQ/Kafka/reload metrics the alerts use, and every
 * query in it is valid PromQL (promtool parses them as recording rules).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { EXPECTED_ELSEWHERE } from '../helpers/expected-metrics.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
type Panel = { id: number; type: string; title: string; targets?: { expr: string }[] };
const dashboard = JSON.parse(
  readFileSync(join(ROOT, 'config', 'grafana-dashboard.json'), 'utf8'),
) as {
  panels: Panel[];
  annotations: { list: { expr: string }[] };
};
const exprs = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.annotations.list.map((a) => a.expr),
];
const shown = (name: string) =>
  exprs.some((e) => new RegExp(`\\b${name}(_bucket|_sum|_count)?\\b`).test(e));

let f: FerryProc | undefined;
afterAll(() => f?.kill('SIGKILL'));

describe('config/grafana-dashboard.json', () => {
  it('has a panel for every metric a running ferry exports', async () => {
    f = await startFerryProcess({ workers: { threads: 1 }, batch: { max_age_ms: 50 } });
    expect((await post(f.url, makeEvents(20, `dash-${Date.now()}`).lines.join('\n'))).status).toBe(
      200,
    );
    const text = await (await fetch(`${f.url}/metrics`)).text();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(20);
    expect(names).toContain('s3_events_stored_total');
    expect(names.filter((n) => !shown(n))).toEqual([]);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60_000);

  it('also shows the DLQ, Kafka lag and reload metrics the alerts use', () => {
    expect(EXPECTED_ELSEWHERE.filter((n) => !shown(n))).toEqual([]);
  });

  it('holds only valid PromQL (promtool check rules)', () => {
    const vars: Record<string, string> = {
      $__rate_interval: '1m',
      $__range: '6h',
      $instance: '.*',
      $__interval: '30s',
    };
    const rules = exprs.map((e, i) => ({
      record: `ferry:dashboard:q${i}`,
      expr: e.replace(/\$__rate_interval|\$__range|\$__interval|\$instance/g, (v) => vars[v]),
    }));
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-dash-')), 'rules.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error)
      throw new Error(`promtool is missing (bash scripts/setup-test-deps.sh): ${r.error.message}`);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('is a dashboard Grafana imports: unique panel ids, a datasource variable, every panel has a title', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.panels.every((p) => p.title)).toBe(true);
    const vars = (
      dashboard as unknown as { templating: { list: { name: string; type: string }[] } }
    ).templating.list;
    expect(vars.find((v) => v.name === 'datasource')?.type).toBe('datasource');
  });
});
