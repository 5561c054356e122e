/**
 * The config has one source of truth (src/config/schema.ts): config/schema.json is generated
 * from it, its defaults are the only defaults, and each rule JSON Schema cannot say runs once,
 * in the loader, so its errors name the key and the line.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfigText, ConfigError } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { configSchemaJson } from '../../src/config/schema-json.js';
import { checkCodec } from '../../src/config/check-codec.js';
import { effectiveSinks } from '../../src/config/effective-sinks.js';
import { CODECS } from '../../src/contracts/batch.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-config-source-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(text: string) {
  try {
    parseConfigText(text, 'ferry.yaml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

/** Every `default` of an object schema's properties, nested, as the loader would fill them. */
function defaultsOf(schema: unknown): unknown {
  const s = schema as { properties?: Record<string, unknown>; default?: unknown };
  if (!s.properties) return s.default;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(s.properties)) {
    const d = (sub as { default?: unknown }).default;
    if (d === undefined) continue;
    out[k] =
      typeof d === 'object' && d !== null && !Array.isArray(d) && Object.keys(d).length === 0
        ? defaultsOf(sub)
        : d;
  }
  return out;
}

describe('config/schema.json', () => {
  it('is byte for byte what scripts/gen-config-schema.mjs writes (run `npm run gen:schema`)', () => {
    expect(readFileSync(join(ROOT, 'config', 'schema.json'), 'utf8')).toBe(configSchemaJson());
  });

  it('is what `ferry config schema` prints', () => {
    const r = spawnSync(process.execPath, [CLI, 'config', 'schema'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'config', 'schema.json'), 'utf8'));
  });

  it('lists the codecs src/codecs knows', () => {
    expect(configSchema.properties.batch.properties.codec.enum).toEqual([...CODECS]);
  });
});

describe('config defaults', () => {
  it('an empty file gets exactly the schema defaults (plus what depends on the machine)', () => {
    const cfg = parseConfigText('', 'x', {}) as unknown as Record<string, unknown>;
    const machine = ['host_id', 'clickhouse_migrations_dir'];
    const expected = defaultsOf(configSchema) as Record<string, Record<string, unknown>>;
    const got = structuredClone(cfg) as Record<string, Record<string, unknown>>;
    for (const k of machine) delete got[k], delete expected[k];
    // workers.threads 0 means one per vCPU: the loader resolves it.
    expect(expected.workers.threads).toBe(0);
    expect(got.workers.threads).toBeGreaterThanOrEqual(1);
    got.workers.threads = 0;
    // The memory-sized keys at 0 follow the node's memory (src/config/memory.ts): resolved too.
    for (const [group, key] of [
      ['workers', 'ring_bytes'],
      ['workers', 'max_inflight_batches'],
      ['http', 'max_body_bytes'],
      ['http', 'max_decompressed_bytes'],
    ] as const) {
      expect(expected[group][key]).toBe(0);
      expect(got[group][key]).toBeGreaterThanOrEqual(1);
      got[group][key] = 0;
    }
    expect(got).toEqual(expected);
  });

  it('a sink gets its type’s schema defaults', () => {
    const cfg = parseConfigText(
      'sinks:\n  - {name: a, type: directory, path: /tmp/a}\n  - {name: b, type: s3, bucket: abc}\n  - {name: c, type: clickhouse, url: "http://h:8123"}\n',
      'x',
      {},
    );
    const variants = configSchema.properties.sinks.items.oneOf;
    expect(cfg.sinks[0]).toEqual({
      name: 'a',
      type: 'directory',
      path: '/tmp/a',
      ...(defaultsOf(variants[0]) as object),
    });
    expect(cfg.sinks[1]).toEqual({
      name: 'b',
      type: 's3',
      bucket: 'abc',
      ...(defaultsOf(variants[1]) as object),
    });
    expect(cfg.sinks[2]).toEqual({
      name: 'c',
      type: 'clickhouse',
      url: 'http://h:8123',
      ...(defaultsOf(variants[2]) as object),
    });
    expect(cfg.sinks[0].type === 'directory' && cfg.sinks[0].key_template).toBe(
      'events/dt={date}/hour={hour}/{host}-{batch_id}{ext}',
    );
  });

  it('with no sink configured ferry runs the embedded directory sink with the schema key template', () => {
    const cfg = parseConfigText('state_dir: /srv/ferry\n', 'x', {});
    expect(cfg.sinks).toEqual([]);
    expect(effectiveSinks(cfg)).toEqual([
      {
        type: 'directory',
        name: 'local',
        path: '/srv/ferry/out',
        key_template: configSchema.properties.sinks.items.oneOf[0].properties.key_template.default,
      },
    ]);
    const two = parseConfigText('sinks:\n  - {name: a, type: directory, path: /tmp/a}\n', 'x', {});
    expect(effectiveSinks(two)).toBe(two.sinks);
  });
});

describe('checks the loader runs once (not again when sinks are created)', () => {
  it('a duplicate sink name names the key and line of the second', () => {
    expect(
      issuesOf(
        'sinks:\n  - {name: a, type: directory, path: /tmp/a}\n  - {name: a, type: directory, path: /tmp/b}\n',
      ),
    ).toEqual([
      expect.objectContaining({
        path: 'sinks.1.name',
        line: 3,
        message: 'duplicate sink name "a"',
      }),
    ]);
  });

  it('an S3 key template is checked too', () => {
    expect(
      issuesOf(
        'sinks:\n  - name: a\n    type: s3\n    bucket: abc\n    key_template: "{nope}"\n',
      )[0],
    ).toMatchObject({ path: 'sinks.0.key_template', line: 5 });
  });

  it('an unavailable codec is a config issue at batch.codec', () => {
    const cfg = parseConfigText('batch:\n  codec: zstd\n', 'x', {});
    expect(checkCodec(cfg)).toEqual([]);
    expect(checkCodec(cfg, (c) => (c === 'zstd' ? 'no zstd here' : undefined))).toEqual([
      { path: 'batch.codec', message: '"zstd" is not available on this runtime: no zstd here' },
    ]);
  });

  it('`ferry config check` reports an unavailable codec with file, line and key', () => {
    // lz4-napi fails to load in this process, as on a runtime without its native module.
    const preload = join(dir, 'no-lz4.cjs');
    writeFileSync(
      preload,
      `const M = require('node:module');
const orig = M._resolveFilename;
M._resolveFilename = function (req, ...rest) {
  if (req === 'lz4-napi') throw new Error('lz4-napi hidden by the test');
  return orig.call(this, req, ...rest);
};
`,
    );
    const file = join(dir, 'lz4.yaml');
    writeFileSync(file, 'state_dir: /tmp/ferry\nbatch:\n  codec: lz4\n');
    const r = spawnSync(
      process.execPath,
      ['--require', preload, CLI, 'config', 'check', '-c', file],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `${file}:3:10: batch.codec: "lz4" is not available on this runtime: lz4-napi does not load on this runtime: lz4-napi hidden by the test`,
    );
    writeFileSync(file, 'state_dir: /tmp/ferry\nbatch:\n  codec: gzip\n');
    const ok = spawnSync(
      process.execPath,
      ['--require', preload, CLI, 'config', 'check', '-c', file],
      { encoding: 'utf8' },
    );
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
  });
});
