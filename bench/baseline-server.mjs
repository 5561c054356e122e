// The per-core limit ferry is held against: a bare node:http server that reads each body,
// JSON.parses every line and lz4-compresses the body, nothing else. Usage: node baseline-server.mjs PORT
// lz4 is lz4-napi's block compressor, its fastest (ferry frames the same blocks).
import { createServer } from 'node:http';
import { compressSync } from 'lz4-napi';

const port = Number(process.argv[2] ?? 18900);
createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const text = body.toString('utf8');
    let n = 0;
    for (const line of text.split('\n')) if (line) JSON.parse(line), n++;
    compressSync(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"accepted":${n}}`);
  });
}).listen(port, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'listening', port })));
