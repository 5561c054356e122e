import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';
import { until } from '../helpers/stores.js';

/**
 * The `_bulk` door over raw HTTP: the handshake, the answer's shape item by item, and each kind of
 * bad input answered as Elasticsearch answers it (whole-request 400s, per-item 400s, 413, 406, 429)
 * — with only the accepted documents in the archive.
 */
const run = `bd${Date.now().toString(36)}`;
const NDJSON = 'application/x-ndjson';
const COMPAT = 'application/vnd.elasticsearch+x-ndjson; compatible-with=9';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function bulk(
  base: string,
  body: string | Uint8Array,
  opts: { path?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${base}${opts.path ?? '/_bulk'}`, {
    method: opts.method ?? 'POST',
    body: body as string | Uint8Array<ArrayBuffer>,
    headers: { 'content-type': NDJSON, ...opts.headers },
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

const nd = (...lines: unknown[]) =>
  `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;

function esErrorOf(a: Answer): { type: string; reason: string } {
  const e = a.json.error as { type: string; reason: string; root_cause: { type: string }[] };
  expect(a.json.status).toBe(a.status);
  expect(e.root_cause[0].type).toBe(e.type);
  return e;
}

describe('_bulk door', () => {
  let f: FerryProc;
  const out = () => join(f.stateDir, 'out');
  const stored = (tag: string) =>
    envelopesIn(out()).filter((e) => (e.payload as { tag?: string }).tag === tag) as unknown as {
      event_id: string;
      _index?: string;
      source: string;
      payload: Record<string, unknown>;
    }[];

  beforeAll(async () => {
    f = await startFerryProcess({
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
      batch: { max_age_ms: 50 },
      http: { max_body_bytes: 65536, max_decompressed_bytes: 131072 },
      bulk: { version: '8.18.2', cluster_name: 'edge' },
    });
  });
  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
  });

  it('GET / and HEAD /: a cluster/version body and X-Elastic-Product on every answer; _license and _cluster/health', async () => {
    const info = await fetch(`${f.url}/`, {
      headers: { accept: 'application/vnd.elasticsearch+json; compatible-with=8' },
    });
    expect(info.status).toBe(200);
    expect(info.headers.get('x-elastic-product')).toBe('Elasticsearch');
    expect(info.headers.get('content-type')).toBe(
      'application/vnd.elasticsearch+json;compatible-with=8',
    );
    const body = (await info.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      cluster_name: 'edge',
      version: { number: '8.18.2', build_flavor: 'default' },
      tagline: 'You Know, for Search',
    });
    const head = await fetch(`${f.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-elastic-product')).toBe('Elasticsearch');
    const lic = await fetch(`${f.url}/_license`);
    expect(await lic.json()).toMatchObject({ license: { status: 'active', type: 'basic' } });
    const health = await fetch(`${f.url}/_cluster/health`);
    expect(await health.json()).toMatchObject({ cluster_name: 'edge', status: 'green' });
    // rsyslog's omelasticsearch health check (8.2606+ wants a 2xx); cat text, or JSON rows.
    const cat = await fetch(`${f.url}/_cat/health?v`);
    expect(cat.status).toBe(200);
    expect(cat.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await cat.text()).toMatch(
      /^epoch timestamp cluster status .*\n\d+ \d\d:\d\d:\d\d edge green /,
    );
    const catJson = await fetch(`${f.url}/_cat/health?format=json`);
    expect(await catJson.json()).toMatchObject([{ cluster: 'edge', status: 'green' }]);
    for (const path of ['/nope', '/healthz', '/_bulk']) {
      const r = await fetch(`${f.url}${path}`);
      expect(r.headers.get('x-elastic-product'), path).toBe('Elasticsearch');
    }
  });

  it('index/create stored with _index and _id; update/delete/bad documents fail only their item', async () => {
    const tag = `${run}-mix`;
    const body = nd(
      { index: { _index: 'logs-a', _id: `${tag}-1` } },
      { tag, n: 1 },
      { create: {} },
      { tag, n: 2, event_id: `${tag}-own` },
      { index: {} },
      { tag, n: 3 },
      { update: { _id: 'u1' } },
      { doc: { tag } },
      { delete: { _index: 'logs-a', _id: 'd1' } },
      { index: { _id: 'bad-json' } },
      `{"tag":"${tag}", n: 4}`,
      { index: { _id: 'array' } },
      '[1,2]',
      { create: { _index: 'Logs-Upper' } },
      { tag, n: 5 },
      { index: { _id: 'empty' } },
      '',
      { index: { _index: 'logs-b' } },
      { tag, n: 6, nested: { a: [1, 2, { b: 'ü' }] } },
    );
    const a = await bulk(f.url, body, {
      path: '/dflt/_bulk',
      method: 'PUT',
      headers: { 'content-type': COMPAT },
    });
    expect(a.status).toBe(200);
    expect(a.headers.get('x-elastic-product')).toBe('Elasticsearch');
    expect(a.json.errors).toBe(true);
    const items = (a.json.items as Record<string, Record<string, unknown>>[]).map((it) => {
      const [op, v] = Object.entries(it)[0];
      return { op, ...v } as {
        op: string;
        status: number;
        _index: string;
        _id?: string;
        result?: string;
        error?: { type: string; reason: string };
      };
    });
    expect(items.map((i) => [i.op, i.status])).toEqual([
      ['index', 201],
      ['create', 201],
      ['index', 201],
      ['update', 400],
      ['delete', 400],
      ['index', 400],
      ['index', 400],
      ['create', 400],
      ['index', 400],
      ['index', 201],
    ]);
    expect(items[0]).toMatchObject({ _index: 'logs-a', _id: `${tag}-1`, result: 'created' });
    expect(items[1]).toMatchObject({ _index: 'dflt', _id: `${tag}-own` });
    expect(items[2]._id).toMatch(/^[0-9a-f]{64}$/);
    expect(items[3].error?.type).toBe('illegal_argument_exception');
    expect(items[3].error?.reason).toContain('[update]');
    expect(items[4].error?.reason).toContain('[delete]');
    expect(items[5].error?.type).toBe('document_parsing_exception');
    expect(items[6].error?.type).toBe('document_parsing_exception');
    expect(items[7].error).toEqual({
      type: 'invalid_index_name_exception',
      reason: 'Invalid index name [Logs-Upper], must be lowercase',
    });
    expect(items[8].error?.reason).toContain('document is empty');
    const got = await until('4 stored documents', async () => {
      const s = stored(tag);
      return s.length >= 4 ? s : undefined;
    });
    const byN = new Map(got.map((e) => [e.payload.n as number, e]));
    expect([...byN.keys()].sort()).toEqual([1, 2, 3, 6]);
    expect(byN.get(1)).toMatchObject({ event_id: `${tag}-1`, _index: 'logs-a', source: 'bulk' });
    expect(byN.get(2)).toMatchObject({ event_id: `${tag}-own`, _index: 'dflt' });
    expect(byN.get(3)).toMatchObject({ event_id: items[2]._id, _index: 'dflt' });
    expect(byN.get(6)).toMatchObject({ event_id: items[9]._id, _index: 'logs-b' });
    expect(byN.get(6)?.payload.nested).toEqual({ a: [1, 2, { b: 'ü' }] });
  });

  it('filter_path as Filebeat and Logstash send it, and a gzip body', async () => {
    const tag = `${run}-fp`;
    const body = gzipSync(
      nd({ index: { _index: 'x' } }, { tag }, { delete: { _index: 'x', _id: '1' } }),
    );
    const a = await bulk(f.url, body, {
      path: '/_bulk?filter_path=errors,items.*.error,items.*.status',
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    });
    expect(a.status).toBe(200);
    expect(a.json).toEqual({
      errors: true,
      items: [
        { index: { status: 201 } },
        {
          delete: {
            status: 400,
            error: expect.objectContaining({ type: 'illegal_argument_exception' }),
          },
        },
      ],
    });
  });

  it('what Elasticsearch refuses as a whole: 400 in its error shape, nothing stored', async () => {
    const tag = `${run}-whole`;
    const cases: [string, string | Uint8Array, string, RegExp][] = [
      [
        'malformed action line',
        nd({ index: {} }, { tag }, '{"index": oops}', { tag }),
        'illegal_argument_exception',
        /Malformed action\/metadata line \[3\]/,
      ],
      [
        'unknown action',
        nd({ upsert: {} }, { tag }),
        'illegal_argument_exception',
        /expected field \[create\], \[delete\], \[index\] or \[update\] but found \[upsert\]/,
      ],
      [
        'no final newline',
        `${JSON.stringify({ index: { _index: 'x' } })}\n${JSON.stringify({ tag })}`,
        'illegal_argument_exception',
        /must be terminated by a newline/,
      ],
      [
        'no index anywhere',
        nd({ index: {} }, { tag }),
        'action_request_validation_exception',
        /index is missing/,
      ],
      [
        'bad UTF-8 in an action line',
        Buffer.concat([
          Buffer.from('{"index":{"_index":"\xff'),
          Buffer.from([0xff]),
          Buffer.from('"}}\n{}\n'),
        ]),
        'illegal_argument_exception',
        /invalid UTF-8/,
      ],
      [
        'source line missing',
        nd({ index: { _index: 'x' } }),
        'illegal_argument_exception',
        /no source line/,
      ],
    ];
    for (const [what, body, type, reason] of cases) {
      const a = await bulk(f.url, body);
      expect(a.status, what).toBe(400);
      const e = esErrorOf(a);
      expect(e.type, what).toBe(type);
      expect(e.reason, what).toMatch(reason);
      expect(a.headers.get('x-elastic-product')).toBe('Elasticsearch');
    }
    const empty = await bulk(f.url, '');
    expect(empty.status).toBe(400);
    expect(esErrorOf(empty).type).toBe('parse_exception');
    await new Promise((r) => setTimeout(r, 300));
    expect(stored(tag)).toEqual([]);
  });

  it('bad UTF-8 in a source fails its item only', async () => {
    const tag = `${run}-utf8`;
    const body = Buffer.concat([
      Buffer.from(nd({ index: { _index: 'u', _id: `${tag}-ok` } }, { tag })),
      Buffer.from(
        `${JSON.stringify({ index: { _index: 'u', _id: `${tag}-bad` } })}\n{"tag":"${tag}","s":"`,
      ),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]);
    const a = await bulk(f.url, body);
    expect(a.status).toBe(200);
    const items = a.json.items as {
      index: { status: number; error?: { type: string; reason: string } };
    }[];
    expect(items.map((i) => i.index.status)).toEqual([201, 400]);
    expect(items[1].index.error).toMatchObject({ type: 'document_parsing_exception' });
    expect(items[1].index.error?.reason).toMatch(/invalid UTF-8/);
    const got = await until('1 stored', async () =>
      stored(tag).length >= 1 ? stored(tag) : undefined,
    );
    expect(got.map((e) => e.event_id)).toEqual([`${tag}-ok`]);
  });

  it('413 over http.max_body_bytes (and over the decompressed limit), 406 for a foreign Content-Type', async () => {
    const doc = JSON.stringify({ pad: 'x'.repeat(1000) });
    const lines: string[] = [];
    for (let i = 0; i < 80; i++) lines.push('{"index":{"_index":"big"}}', doc);
    const big = `${lines.join('\n')}\n`;
    const a = await bulk(f.url, big);
    expect(a.status).toBe(413);
    expect(esErrorOf(a).type).toBe('content_too_long_exception');
    expect(a.headers.get('x-elastic-product')).toBe('Elasticsearch');
    const bigger = `${Array.from({ length: 2 }, () => big).join('')}`;
    const z = await bulk(f.url, gzipSync(bigger), { headers: { 'content-encoding': 'gzip' } });
    expect(z.status).toBe(413);
    expect(esErrorOf(z).type).toBe('content_too_long_exception');
    const t = await bulk(f.url, nd({ index: { _index: 'x' } }, {}), {
      headers: { 'content-type': 'text/plain' },
    });
    expect(t.status).toBe(406);
    expect(t.json).toEqual({
      error: 'Content-Type header [text/plain] is not supported',
      status: 406,
    });
  });
});

describe('_bulk door at capacity and with auth', () => {
  it('full rings → 429 es_rejected_execution_exception with Retry-After', async () => {
    // A sink that never answers: batches stay in flight, the ring fills.
    const f = await startFerryProcess({
      workers: { threads: 1, max_inflight_batches: 1, ring_bytes: 65536 },
      http: { max_body_bytes: 16384, max_decompressed_bytes: 16384, retry_after_s: 7 },
      batch: { max_events: 10, max_age_ms: 20 },
      retry: { initial_ms: 1000, max_ms: 5000, max_elapsed_ms: 600000, attempt_timeout_ms: 2000 },
      sinks: [
        {
          name: 'blackhole',
          type: 's3',
          bucket: 'nope',
          endpoint: 'http://127.0.0.1:9',
          force_path_style: true,
          access_key_id: 'x',
          secret_access_key: 'y',
        },
      ],
    });
    try {
      const lines: unknown[] = [];
      for (let i = 0; i < 20; i++)
        lines.push({ index: { _index: 'cap' } }, { i, pad: 'x'.repeat(300) });
      const body = nd(...lines);
      const results: Answer[] = [];
      for (let i = 0; i < 40; i++)
        void bulk(f.url, body, { headers: { 'x-ferry-ack': 'accepted' } }).then(
          (r) => results.push(r),
          () => {},
        );
      const deadline = Date.now() + 20000;
      while (results.length < 30 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const refused = results.filter((r) => r.status === 429);
      expect(refused.length, JSON.stringify(results.map((r) => r.status))).toBeGreaterThan(20);
      expect(refused[0].headers.get('retry-after')).toBe('7');
      expect(refused[0].headers.get('x-elastic-product')).toBe('Elasticsearch');
      expect(esErrorOf(refused[0]).type).toBe('es_rejected_execution_exception');
    } finally {
      f.kill('SIGKILL');
      await f.exited;
    }
  });

  it('Bearer, ApiKey (plain and base64 id:key) and Basic map onto ferry tokens; refusals are security_exception', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      process.execPath,
      ['dist/src/cli.js', 'token', 'new', '--name', 'es', '--source', 'es-src'],
      { encoding: 'utf8' },
    );
    const token = /^token:\s+(\S+)$/m.exec(out)![1];
    const sha256 = /^sha256:\s+([0-9a-f]{64})$/m.exec(out)![1];
    const f = await startFerryProcess({
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
      batch: { max_age_ms: 50 },
      auth: {
        enabled: true,
        tokens: [{ name: 'es', sha256, source: 'es-src', routes: ['ingest'] }],
      },
    });
    try {
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const forms = [
        `Bearer ${token}`,
        `ApiKey ${token}`,
        `ApiKey ${b64(`key-id:${token}`)}`,
        `Basic ${b64(`elastic:${token}`)}`,
      ];
      for (const [i, authorization] of forms.entries()) {
        const a = await bulk(
          f.url,
          nd({ index: { _index: 'auth', _id: `${run}-auth-${i}` } }, { i }),
          {
            headers: { authorization },
          },
        );
        expect(a.status, authorization.split(' ')[0]).toBe(200);
        expect(a.json.errors).toBe(false);
        const info = await fetch(`${f.url}/`, { headers: { authorization } });
        expect(info.status).toBe(200);
      }
      const none = await bulk(f.url, nd({ index: { _index: 'auth' } }, {}));
      expect(none.status).toBe(401);
      expect(esErrorOf(none)).toMatchObject({ type: 'security_exception' });
      expect(none.headers.get('www-authenticate')).toContain('Basic');
      const wrong = await bulk(f.url, nd({ index: { _index: 'auth' } }, {}), {
        headers: { authorization: `Basic ${b64('elastic:nope')}` },
      });
      expect(wrong.status).toBe(401);
      expect(esErrorOf(wrong).reason).toMatch(/unable to authenticate/);
      const infoNone = await fetch(`${f.url}/`);
      expect(infoNone.status).toBe(401);
      const got = await until('4 stored', async () => {
        const e = envelopesIn(join(f.stateDir, 'out'));
        return e.length >= 4 ? e : undefined;
      });
      expect(got.map((e) => e.source)).toEqual(['es-src', 'es-src', 'es-src', 'es-src']);
    } finally {
      f.kill('SIGKILL');
      await f.exited;
    }
  });
});
