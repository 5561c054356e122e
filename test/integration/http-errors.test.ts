import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { envelopesIn, readDirectorySink } from '../helpers/archive.js';

/** Every HTTP error path of the acceptor, against a real ferry process on the directory sink. */
describe('HTTP ingest: bad input gets a clear error and changes nothing', () => {
  let f: FerryProc;
  const out = () => join(f.stateDir, 'out');

  beforeAll(async () => {
    f = await startFerryProcess({
      http: { max_body_bytes: 65536, max_decompressed_bytes: 262144 },
      batch: { max_age_ms: 50, codec: 'gzip' },
      workers: { threads: 2 },
    });
  });
  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
  });

  it('accepts NDJSON, a JSON array, one JSON object and msgpack, durably by default', async () => {
    const a = makeEvents(3, 'ok-nd');
    expect(await post(f.url, a.lines.join('\n'))).toMatchObject({
      status: 200,
      json: { accepted: 3, ack: 'durable' },
    });
    const b = makeEvents(2, 'ok-arr');
    expect(
      (await post(f.url, `[${b.lines.join(',')}]`, { type: 'application/json' })).json,
    ).toEqual({ accepted: 2, ack: 'durable' });
    expect(
      (
        await post(f.url, '{"event_id":"ok-one","x":1}', {
          type: 'application/json; charset=utf-8',
        })
      ).status,
    ).toBe(200);
    const { pack } = await import('msgpackr');
    expect(
      (
        await post(f.url, pack([{ event_id: 'ok-mp-1' }, { event_id: 'ok-mp-2' }]), {
          type: 'application/msgpack',
        })
      ).json,
    ).toMatchObject({ accepted: 2 });
    // Durable = fsync'd in the write-ahead log: wait until the log released them all (every
    // batch holding them is in the sink).
    for (const end = Date.now() + 10_000; Date.now() < end; ) {
      const text = await (await fetch(`${f.url}/metrics`)).text();
      if (/^wal_records_pending 0$/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const ids = new Set(envelopesIn(out()).map((e) => e.event_id));
    for (const id of [...a.ids, ...b.ids, 'ok-one', 'ok-mp-1', 'ok-mp-2'])
      expect(ids.has(id), id).toBe(true);
  });

  it('ack=accepted answers 202 once the events are in the pipeline; header works too', async () => {
    const r = await post(f.url, makeEvents(2, 'acc').lines.join('\n'), { ack: 'accepted' });
    expect(r).toMatchObject({ status: 202, json: { accepted: 2, ack: 'accepted' } });
    const h = await post(f.url, makeEvents(1, 'acc-h').lines.join('\n'), {
      headers: { 'x-ferry-ack': 'accepted' },
    });
    expect(h.status).toBe(202);
    const bad = await post(f.url, '{"a":1}', { ack: 'maybe' as 'durable' });
    expect(bad).toMatchObject({ status: 400, json: { error: 'bad_ack_mode' } });
  });

  it('gzip bodies are decoded', async () => {
    const e = makeEvents(5, 'gz');
    const r = await post(f.url, gzipSync(e.lines.join('\n')), { encoding: 'gzip' });
    expect(r).toMatchObject({ status: 200, json: { accepted: 5 } });
  });

  it('malformed NDJSON → 400 naming line and byte offset; nothing of the request is stored', async () => {
    const good = makeEvents(3, 'bad-req');
    const body = `${good.lines[0]}\n${good.lines[1]}\n{"event_id":"bad-req-x",}\n${good.lines[2]}\n`;
    const r = await post(f.url, body);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('malformed_body');
    expect(r.json.line).toBe(3);
    const lineStart = Buffer.byteLength(`${good.lines[0]}\n${good.lines[1]}\n`);
    expect(r.json.offset).toBe(lineStart + '{"event_id":"bad-req-x",'.length);
    expect(String(r.json.message)).toContain(`line 3 (byte offset ${r.json.offset})`);
    // flush with a good request (delivered: answered once it is in the sink), then check none of
    // the bad request's events exist
    await post(f.url, makeEvents(1, 'after-bad').lines[0], {
      headers: { 'x-ferry-ack': 'delivered' },
    });
    const ids = new Set(envelopesIn(out()).map((e) => e.event_id));
    expect(ids.has('after-bad-0')).toBe(true);
    for (const id of good.ids) expect(ids.has(id), id).toBe(false);
  });

  it('bad UTF-8 → 400 with the line', async () => {
    const body = Buffer.concat([
      Buffer.from('{"a":1}\n{"a":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]);
    const r = await post(f.url, body);
    expect(r).toMatchObject({ status: 400, json: { error: 'malformed_body', line: 2 } });
    expect(String(r.json.message)).toContain('invalid UTF-8');
  });

  it('non-object events, an empty body and a bad msgpack body → 400', async () => {
    expect((await post(f.url, '{"a":1}\n42\n')).json).toMatchObject({
      error: 'malformed_body',
      line: 2,
    });
    expect((await post(f.url, '')).status).toBe(400);
    expect(
      (await post(f.url, new Uint8Array([0x92, 0x01]), { type: 'application/msgpack' })).status,
    ).toBe(400);
  });

  it('body over the limit → 413, by Content-Length and by streaming; counted', async () => {
    const big = 'x'.repeat(70000);
    const r = await post(f.url, `{"a":"${big}"}`);
    expect(r).toMatchObject({ status: 413, json: { error: 'body_too_large' } });
    // chunked, no Content-Length: the server must cut it off while reading
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++)
          c.enqueue(new TextEncoder().encode('{"a":"' + 'y'.repeat(10000) + '"}\n'));
        c.close();
      },
    });
    const res = await fetch(`${f.url}/v1/events`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/x-ndjson' },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    const metrics = await (await fetch(`${f.url}/metrics`)).text();
    expect(metrics).toMatch(/^http_requests_rejected_body_too_large_total 2$/m);
  });

  it('a gzip bomb → 413 on the decompressed size', async () => {
    const bomb = gzipSync(Buffer.alloc(5 * 1024 * 1024, 0x20)); // 5 MiB of spaces, ~5 KiB compressed
    expect(bomb.length).toBeLessThan(65536);
    const r = await post(f.url, bomb, { encoding: 'gzip' });
    expect(r).toMatchObject({ status: 413, json: { error: 'body_too_large' } });
  });

  it('corrupt gzip → 400; unknown Content-Type or Content-Encoding → 415', async () => {
    expect(
      (await post(f.url, Buffer.from('not gzip at all'), { encoding: 'gzip' })).json,
    ).toMatchObject({ error: 'bad_encoding' });
    expect((await post(f.url, 'a=b', { type: 'application/x-www-form-urlencoded' })).status).toBe(
      415,
    );
    expect((await post(f.url, '{"a":1}', { encoding: 'br' })).status).toBe(415);
  });

  it('health and readiness endpoints answer; unknown routes 404', async () => {
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${f.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await fetch(`${f.url}/nope`)).status).toBe(404);
  });

  it('archive objects are written atomically: no temp files left behind', () => {
    for (const key of readDirectorySink(out()).keys())
      expect(key).toMatch(/^events\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/.+-[0-9a-f]+\.ndjson\.gz$/);
  });
});
