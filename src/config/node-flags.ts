/**
 * Prints the main thread's Node flags for this node's memory (src/config/memory.ts), for the
 * launcher (packaging/files/ferry) to put on Node's command line: the young generation and the
 * old-space cap can only be set when the isolate is created. It sizes by the memory alone (one
 * worker per vCPU beyond the first, as `workers.threads: 0` does): the flags do not depend on
 * the thread count, and reading the config here would cost a second config parse per start.
 */
import { availableMemory, planMemory } from './memory.js';
import { defaultWorkerThreads } from './vcpus.js';

// One line of words: Node flags (--…) and environment assignments (NAME=value), which the
// launcher exports unless already set.
const plan = planMemory(availableMemory(), defaultWorkerThreads());
process.stdout.write(
  `${[...plan.mainNodeFlags, ...Object.entries(plan.env).map(([k, v]) => `${k}=${v}`)].join(' ')}\n`,
);
