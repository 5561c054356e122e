import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds, for every latency histogram: 5 ms … 60 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Metric constructors bound to one registry; each subsystem's file builds its own group with them. */
export function metricFactory(registry: Registry) {
  return {
    c: <T extends string>(name: string, help: string, labelNames: readonly T[] = []) =>
      new Counter<T>({ name, help, labelNames, registers: [registry] }),
    g: <T extends string>(name: string, help: string, labelNames: readonly T[] = []) =>
      new Gauge<T>({ name, help, labelNames, registers: [registry] }),
    h: <T extends string>(
      name: string,
      help: string,
      buckets: number[],
      labelNames: readonly T[] = [],
    ) => new Histogram<T>({ name, help, buckets, labelNames, registers: [registry] }),
  };
}

export type MetricFactory = ReturnType<typeof metricFactory>;
