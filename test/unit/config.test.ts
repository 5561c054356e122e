import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfigText, loadConfig, ConfigError } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

function issuesOf(text: string, env: Record<string, string> = {}) {
  try {
    parseConfigText(text, 'ferry.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills defaults for an empty file (the embedded default)', () => {
    const cfg = parseConfigText('', 'x', {});
    expect(cfg.batch.max_events).toBe(5000);
    expect(cfg.http.ack).toBe('durable');
    expect(cfg.listen.path).toBe('/v1/events');
    expect(cfg.sinks).toEqual([]);
    expect(cfg.workers.threads).toBeGreaterThanOrEqual(1);
    expect(cfg.host_id).not.toBe('');
  });

  it('the shipped example config is valid', () => {
    const cfg = parseConfigText(readFileSync('config/ferry.yaml', 'utf8'), 'config/ferry.yaml', {});
    expect(cfg.state_dir).toBe('/var/lib/ferry');
  });

  it('rejects an unknown key naming its path and line', () => {
    const issues = issuesOf('batch:\n  max_events: 10\n  max_evnets: 20\n');
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'batch.max_evnets',
        line: 3,
        message: 'unknown key "max_evnets"',
      }),
    ]);
  });

  it('rejects a wrong type naming its path and line', () => {
    const issues = issuesOf('listen:\n  port: "eighty"\n');
    expect(issues[0]).toMatchObject({ path: 'listen.port', line: 2 });
    expect(issues[0].message).toMatch(/integer/);
  });

  it('rejects a bad enum with the allowed values', () => {
    const issues = issuesOf('batch:\n  codec: brotli\n');
    expect(issues[0]).toMatchObject({ path: 'batch.codec', line: 2 });
    expect(issues[0].message).toContain('"lz4"');
  });

  it('batch.archive_format: 2 by default, 1 for envelopes (file or env), nothing else', () => {
    expect(parseConfigText('', 'x', {}).batch.archive_format).toBe(2);
    expect(parseConfigText('batch:\n  archive_format: 1\n', 'x', {}).batch.archive_format).toBe(1);
    expect(
      parseConfigText('', 'x', { FERRY_BATCH__ARCHIVE_FORMAT: '1' }).batch.archive_format,
    ).toBe(1);
    const issues = issuesOf('batch:\n  archive_format: 3\n');
    expect(issues[0]).toMatchObject({ path: 'batch.archive_format', line: 2 });
  });

  it('checks sinks by type, with the line of the bad key', () => {
    const issues = issuesOf(
      'sinks:\n  - name: a\n    type: s3\n    bucket: abc\n    endpont: http://x\n',
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'sinks.0.endpont', line: 5 }));
    const missing = issuesOf('sinks:\n  - name: a\n    type: clickhouse\n');
    expect(missing[0].message).toContain('missing required key "url"');
    const badType = issuesOf('sinks:\n  - name: a\n    type: nats\n');
    expect(badType[0].message).toContain('"directory", "s3", "clickhouse"');
  });

  it('rejects duplicate sink names and a body limit the ring cannot hold', () => {
    expect(
      issuesOf(
        'sinks:\n  - {name: a, type: directory, path: /tmp/a}\n  - {name: a, type: directory, path: /tmp/b}\n',
      )[0].message,
    ).toContain('duplicate sink name');
    expect(
      issuesOf('http:\n  max_body_bytes: 9000000\nworkers:\n  ring_bytes: 16777216\n')[0],
    ).toMatchObject({ path: 'http.max_body_bytes', line: 2 });
  });

  it('rejects a bad key template at config time, with its line', () => {
    const issues = issuesOf(
      'sinks:\n  - name: a\n    type: directory\n    path: /tmp/x\n    key_template: "x/{dat}/{batch_id}"\n',
    );
    expect(issues[0]).toMatchObject({ path: 'sinks.0.key_template', line: 5 });
    expect(issues[0].message).toContain('{dat}');
  });

  it('reports YAML syntax errors with a line', () => {
    const issues = issuesOf('batch:\n  max_events: [1,\n');
    expect(issues[0].line).toBeGreaterThanOrEqual(2);
    expect(issues[0].message).toMatch(/^YAML/);
  });

  it('applies env overrides with the schema type, including sinks by name', () => {
    const cfg = parseConfigText(
      'sinks:\n  - {name: warehouse, type: clickhouse, url: "http://h:8123"}\n',
      'x',
      {
        FERRY_BATCH__MAX_EVENTS: '3000',
        FERRY_STATE_DIR: '/tmp/ferry',
        FERRY_SINKS__WAREHOUSE__PASSWORD: 's3cret',
        FERRY_SINKS__WAREHOUSE__COMPRESS: 'false',
      },
    );
    expect(cfg.batch.max_events).toBe(3000);
    expect(cfg.state_dir).toBe('/tmp/ferry');
    const ch = cfg.sinks[0];
    expect(ch.type === 'clickhouse' && ch.password).toBe('s3cret');
    expect(ch.type === 'clickhouse' && ch.compress).toBe(false);
  });

  it('rejects bad env overrides by variable name', () => {
    expect(issuesOf('', { FERRY_BATCH__MAX_EVENTS: 'lots' })[0]).toMatchObject({
      path: 'env FERRY_BATCH__MAX_EVENTS',
    });
    expect(issuesOf('', { FERRY_BATCH__NOPE: '1' })[0].message).toContain('unknown config key');
    expect(issuesOf('', { FERRY_SINKS__GHOST__URL: 'x' })[0].message).toContain(
      'no sink named "ghost"',
    );
  });

  it('an explicit config path must exist; the default path may be missing', () => {
    expect(() => loadConfig('/nonexistent/ferry.yaml', {})).toThrow(/cannot read/);
  });

  it('config/schema.json is the schema ferry validates with', () => {
    expect(JSON.parse(readFileSync('config/schema.json', 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(configSchema)),
    );
  });
});
