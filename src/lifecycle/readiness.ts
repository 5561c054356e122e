import type { Dlq } from '../dlq/dlq.js';
import type { WorkerPool } from '../pipeline/pool.js';
import type { SinkHealth } from './sink-health.js';

/** Ring use above which /readyz says no: producers should go elsewhere before they get 503s. */
const RING_SATURATED = 0.9;

/** Why ferry is not ready (/readyz); empty when it is. */
export function readinessProblems(p: {
  stopping: boolean;
  pool: Pick<WorkerPool, 'saturation'>;
  health: Pick<SinkHealth, 'problems'>;
  dlq: Pick<Dlq, 'problems'> | undefined;
}): string[] {
  const problems: string[] = [];
  if (p.stopping) problems.push('shutting down');
  if (p.pool.saturation() > RING_SATURATED) problems.push('rings over 90% full');
  problems.push(...p.health.problems());
  if (p.dlq) problems.push(...p.dlq.problems());
  return problems;
}
