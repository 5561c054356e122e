/** Config rules for `sinks` that JSON Schema cannot say (paths are dotted key paths). */
import { kindOf } from '../sinks/kinds.js';
import type { ConfigIssue } from './load.js';
import type { FerryConfig } from './types.js';

/**
 * Sink names are unique (metrics, DLQ directories and env overrides address sinks by name), and
 * each sink passes its kind's own check (src/sinks/kinds.ts: key templates render, …). The loader
 * is the only caller, so `ferry config check`, `ferry run` and a reload report these with the key
 * and the line; creating the sinks checks nothing again.
 */
export function checkSinks(cfg: FerryConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  cfg.sinks.forEach((s, i) => {
    if (names.has(s.name))
      issues.push({ path: `sinks.${i}.name`, message: `duplicate sink name "${s.name}"` });
    names.add(s.name);
    for (const p of kindOf(s).check(s))
      issues.push({ path: `sinks.${i}.${p.key}`, message: p.message });
  });
  return issues;
}
