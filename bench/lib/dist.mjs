// Where the benches load ferry's built modules from. They run dist/ (what `npm run build` made),
// but the typecheck runs before the build: so a bench imports dist through a computed URL (which
// tsc does not resolve) and types what it gets from the sources, e.g.
//   /** @type {typeof import('../src/codecs/index.js')} */ (await import(distModule('src/codecs/index.js')))
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** This checkout: the tree whose dist/ a bench runs unless told another. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The file URL of a module of root's build, e.g. distModule('workers/parse.js').
 * @param {string} rel path under dist/
 * @param {string} [root] a checkout of ferry (built)
 */
export function distModule(rel, root = ROOT) {
  return pathToFileURL(join(root, 'dist', rel)).href;
}
