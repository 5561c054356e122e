import { describe, it, expect, afterAll } from 'vitest';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { pack } from 'msgpackr';
import { startFerryProcess, post, type FerryProc, type Runtime } from '../helpers/ferry-proc.js';
import { readDirectorySink, decodeObject, linesOf } from '../helpers/archive.js';

/**
 * Issue 18, end to end with the built binary: byte-exact JSON arrays, the same limits for
 * every Content-Type, prompt exit, ferry's own HTTP timeouts, and early answers a client
 * that writes in one go can read.
 */
const procs: FerryProc[] = [];
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
});
const start = async (cfg: Record<string, unknown>, runtime: Runtime = 'node') => {
  const f = await startFerryProcess(
    {
      batch: { max_age_ms: 50, codec: 'none' },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
      ...cfg,
    },
    { runtime },
  );
  procs.push(f);
  return f;
};

/** Every archived payload, as the raw bytes of its envelope line after `"payload":`. */
function archivedPayloads(f: FerryProc): string[] {
  const out: string[] = [];
  for (const [key, raw] of readDirectorySink(join(f.stateDir, 'out')))
    for (const line of linesOf(decodeObject(key, raw)))
      out.push(line.slice(line.indexOf('"payload":') + 10, -1));
  return out;
}

describe.each<Runtime>(['node', 'bun', 'deno'])('on %s', (runtime) => {
  it('exits within 100 ms of "shutdown complete" when idle', async () => {
    const f = await start({}, runtime);
    expect((await post(f.url, '{"a":1}')).status).toBe(200);
    let completeAt = 0;
    f.proc.stdout!.on('data', (d: Buffer) => {
      if (!completeAt && d.toString().includes('"shutdown complete"'))
        completeAt = performance.now();
    });
    const signalled = performance.now();
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
    const exitedAt = performance.now();
    expect(completeAt).toBeGreaterThan(0);
    expect(exitedAt - completeAt).toBeLessThan(100);
    expect(exitedAt - signalled).toBeLessThan(1500);
  });

  it('archives a JSON array element by element as the bytes that arrived', async () => {
    const f = await start({}, runtime);
    const big = '9'.repeat(500);
    const a = `{"event_id":"n1-${runtime}", "a" : 1.0, "x":1e400, "b":${big}, "i":12345678901234567890, "s":"\\u00e9", "d":1, "d":2, "y":-1e-400}`;
    const b = `{"event_id":"n2-${runtime}","e":"é"}`;
    const r = await post(f.url, `[${a},\n  ${b}]`, { type: 'application/json' });
    expect(r).toMatchObject({ status: 200, json: { accepted: 2 } });
    const m = await post(f.url, pack({ event_id: `m-${runtime}`, i: 12345678901234567890n }), {
      type: 'application/msgpack',
    });
    expect(m.status, JSON.stringify(m.json)).toBe(200);
    f.kill('SIGTERM');
    await f.exited;
    const got = archivedPayloads(f);
    expect(got).toContain(a);
    expect(got).toContain(b);
    expect(got).toContain(`{"event_id":"m-${runtime}","i":12345678901234567890}`);
  });

  it('refuses 10^5-deep nesting with the same 400 for every Content-Type', async () => {
    const f = await start({}, runtime);
    const n = 100_000;
    const text = `{"a":${'['.repeat(n)}${']'.repeat(n)}}`;
    const msgpack = Buffer.concat([
      Buffer.from([0x81, 0xa1, 0x61]),
      Buffer.alloc(n, 0x91),
      Buffer.from([0x90]),
    ]);
    for (const [type, body] of [
      ['application/x-ndjson', text],
      ['application/json', text],
      ['application/json', `[${text}]`],
      ['application/msgpack', msgpack],
    ] as const) {
      const r = await post(f.url, body, { type });
      expect(r.status, type).toBe(400);
      expect(String(r.json.message), type).toContain('max_event_depth');
    }
  });
});

/** Write a partial request on a raw socket and read what ferry answers until it closes. */
function sendAndRead(port: number, partial: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(partial));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('HTTP timeouts of ferry own (Node)', () => {
  it('answers 408 to a client that sends its headers too slowly', async () => {
    const f = await start({
      http: { timeouts: { headers_ms: 500, request_ms: 1500, keep_alive_ms: 300 } },
    });
    const t0 = performance.now();
    const answer = await sendAndRead(f.port, 'POST /v1/events HTTP/1.1\r\nHost: x\r\n');
    const took = performance.now() - t0;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(took).toBeGreaterThan(400);
    expect(took).toBeLessThan(2500);
  });

  it('answers 408 to a body that trickles in past request_ms', async () => {
    const f = await start({
      http: { timeouts: { headers_ms: 500, request_ms: 1500, keep_alive_ms: 300 } },
    });
    const t0 = performance.now();
    const answer = await sendAndRead(
      f.port,
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100\r\n\r\n{"a":',
    );
    const took = performance.now() - t0;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(took).toBeGreaterThan(1400);
    expect(took).toBeLessThan(4000);
  });

  it('closes an idle keep-alive connection after keep_alive_ms', async () => {
    const f = await start({
      http: { timeouts: { headers_ms: 500, request_ms: 1500, keep_alive_ms: 300 } },
    });
    // A raw socket: node's own Agent closes early on the server's Keep-Alive hint.
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const body = '{"a":1}';
      const s = connect(f.port, '127.0.0.1', () =>
        s.write(
          `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      let answeredAt = 0;
      s.on('data', (d) => {
        if (!answeredAt && d.toString().includes('"accepted"')) answeredAt = performance.now();
      });
      s.on('close', () => resolve(answeredAt ? performance.now() - answeredAt : -1));
      s.on('error', reject);
    });
    expect(closedAfter).toBeGreaterThan(200);
    expect(closedAfter).toBeLessThan(1500);
  });
});

describe('early rejections a client writing in one go can read (Node)', () => {
  /** node:http's client, the whole body handed over in one write. */
  const send = (
    f: FerryProc,
    body: Buffer,
    headers: Record<string, string>,
  ): Promise<{ status?: number; error?: string }> =>
    new Promise((resolve) => {
      const req = request(`${f.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...headers },
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode });
      });
      req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
      req.end(body);
    });

  it.each([
    ['Content-Length far over the limit', 32 << 20, {}],
    ['chunked, over the limit', 16 << 20, { 'transfer-encoding': 'chunked' }],
  ])('413 for a body %s', async (_label, size, headers) => {
    const f = await start({ http: { max_body_bytes: 1 << 20 } });
    for (let i = 0; i < 3; i++) {
      const r = await send(
        f,
        Buffer.alloc(size as number, 0x20),
        headers as Record<string, string>,
      );
      expect(r).toEqual({ status: 413 });
    }
  });

  it('431 for 100 KB of headers, followed by a body', async () => {
    const f = await start({});
    for (let i = 0; i < 3; i++) {
      const r = await send(f, Buffer.alloc(4 << 20, 0x20), { 'x-big': 'y'.repeat(100_000) });
      expect(r).toEqual({ status: 431 });
    }
  });
});
