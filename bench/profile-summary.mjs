#!/usr/bin/env node
// Self time per function of V8 .cpuprofile files (one per thread, as `node --cpu-prof` writes
// them): the table that goes beside a flame graph. Open the same files in Chrome DevTools or
// speedscope for the graph itself.
//
// usage: node bench/profile-summary.mjs [--top 25] FILE.cpuprofile [...]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt, positionals: files } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});

/**
 * The parts of a V8 .cpuprofile this reads.
 * @typedef {{ functionName: string, url: string, lineNumber: number }} CallFrame
 * @typedef {{ id: number, callFrame: CallFrame }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} CpuProfile
 */

for (const f of files) {
  const p = /** @type {CpuProfile} */ (JSON.parse(readFileSync(f, 'utf8')));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const perNode = new Map();
  for (let i = 0; i < p.samples.length; i++)
    perNode.set(p.samples[i], (perNode.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, t] of perNode) {
    const node = byId.get(id);
    if (!node) throw new Error(`${f}: sample of node ${id}, which is not in the profile`);
    const cf = node.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + t);
    total += t;
    if (cf.functionName === '(idle)') idle += t;
  }
  const busy = total - idle;
  console.log(`\n${f}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`);
  for (const [k, t] of [...self]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(opt.top))) {
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)} %  ${k}`);
  }
}
