/**
 * Elasticsearch's `filter_path` response filter, the inclusive form the shippers send
 * (`errors,items.*.error,items.*.status`): comma-separated dotted paths, `*` within a name,
 * `**` for any depth; arrays are transparent. Exclusions (`-path`) are not supported and ignored.
 */
type Path = readonly string[];

export function parseFilterPath(spec: string | undefined): Path[] | undefined {
  if (!spec) return undefined;
  const paths = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0 && !p.startsWith('-'))
    .map((p) => p.split('.'));
  return paths.length > 0 ? paths : undefined;
}

/** The parts of value the paths select; undefined when nothing matched. */
export function filterValue(value: unknown, paths: readonly Path[]): unknown {
  const expanded = expand(paths);
  if (expanded.some((p) => p.length === 0)) return value;
  if (Array.isArray(value)) {
    const out = value.map((v) => filterValue(v, expanded)).filter((v) => v !== undefined);
    return out.length > 0 ? out : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [key, v] of Object.entries(value)) {
    const next: Path[] = [];
    for (const p of expanded) {
      if (p[0] === '**') next.push(p);
      else if (matches(p[0], key)) next.push(p.slice(1));
    }
    if (next.length === 0) continue;
    const f = filterValue(v, next);
    if (f !== undefined) {
      out[key] = f;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** `**` may also match no level at all. */
function expand(paths: readonly Path[]): Path[] {
  const out: Path[] = [];
  const add = (p: Path) => {
    out.push(p);
    if (p[0] === '**') add(p.slice(1));
  };
  for (const p of paths) add(p);
  return out;
}

function matches(pattern: string, key: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === key;
  const re = new RegExp(`^${pattern.split('*').map(escapeRe).join('.*')}$`);
  return re.test(key);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
