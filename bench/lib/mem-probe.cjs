// Preloaded with `node -r bench/lib/mem-probe.cjs` (a -r preload runs in every worker thread too,
// an --import one only on the main thread): every 200 ms each isolate writes its
// process.memoryUsage(), v8.getHeapStatistics() and v8 heap spaces, the peak of each figure
// since start, to $BENCH_MEM_PROBE_DIR/<pid>-<threadId>.json. Written on every sample, so a
// process killed by SIGKILL or the OOM killer still leaves its last figures.
'use strict';
const dir = process.env.BENCH_MEM_PROBE_DIR;
if (dir) {
  const { writeFileSync, readFileSync, renameSync } = require('node:fs');
  const v8 = require('node:v8');
  const { threadId, isMainThread } = require('node:worker_threads');
  const file = `${dir}/${process.pid}-${threadId}.json`;
  /** @type {Record<string, number>} */
  const peak = {};
  const sample = () => {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    /** @type {Record<string, number>} */
    const now = {
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      heapSizeLimit: h.heap_size_limit,
      mallocedMemory: h.malloced_memory,
      peakMallocedMemory: h.peak_malloced_memory,
    };
    for (const s of v8.getHeapSpaceStatistics())
      now[`space.${s.space_name}`] = s.space_size;
    if (isMainThread) {
      const st = readFileSync('/proc/self/status', 'utf8');
      now.vmRss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1]) * 1024;
      now.vmHwm = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1]) * 1024;
    }
    for (const [k, v] of Object.entries(now)) peak[k] = Math.max(peak[k] ?? 0, v);
    try {
      // temp + rename: the bench reads these files while they are being rewritten
      writeFileSync(`${file}.tmp`, JSON.stringify({ thread: isMainThread ? 'main' : `worker ${threadId}`, now, peak }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the bench removed the directory
    }
  };
  sample();
  setInterval(sample, 200).unref();
}
