#!/usr/bin/env node
// Before/after: the same per-vCPU rows from two builds of ferry, interleaved (A, B, A, B, …) so
// that a shared machine's drift hits both alike; prints the median events per CPU-second of each.
// Each tree needs its own `npm run build` (e.g. a `git worktree add ../before <commit>`).
//
// usage: node bench/ab.mjs --a ../before --b . --only "W1 1 vCPU lz4 → directory" [--rounds 3] [--duration 10]
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
  },
});
if (!opt.a || !opt.b || !opt.only)
  throw new Error(
    'usage: node bench/ab.mjs --a DIR --b DIR --only TEXT [--rounds N] [--duration S]',
  );

/**
 * row name → list of events per CPU-second, per side.
 * @type {{ a: Map<string, number[]>, b: Map<string, number[]> }}
 */
const runs = { a: new Map(), b: new Map() };
const dirs = { a: opt.a, b: opt.b };
for (let round = 0; round < Number(opt.rounds); round++) {
  for (const side of /** @type {const} */ (['a', 'b'])) {
    const script = resolve(dirs[side], 'bench', 'per-vcpu.mjs');
    const out = execFileSync(
      process.execPath,
      [script, '--only', opt.only, '--duration', opt.duration],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    for (const line of out.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      if (cells.length < 5 || !/^[\d,]+$/.test(cells[3])) continue;
      const name = cells[1].startsWith('baseline') ? 'baseline' : cells[1];
      const list = runs[side].get(name) ?? [];
      runs[side].set(name, list);
      list.push(Number(cells[3].replace(/,/g, '')));
    }
    process.stderr.write(`ab: round ${round + 1} ${side} done\n`);
  }
}
/** @param {number[]} xs */
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(`| row | A (${opt.a}) ev/CPU-s | B (${opt.b}) ev/CPU-s | B / A | runs |`);
console.log('| --- | ---: | ---: | ---: | --- |');
for (const [name, a] of runs.a) {
  const b = runs.b.get(name) ?? [];
  const ma = median(a);
  const mb = median(b);
  console.log(
    `| ${name} | ${ma.toLocaleString('en-US')} | ${mb.toLocaleString('en-US')} | ${(mb / ma).toFixed(2)}× | A ${a.join(' ')}; B ${b.join(' ')} |`,
  );
}
