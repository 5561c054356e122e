import type { MetricFactory } from './factory.js';

/** Config loads and SIGHUP reloads. */
export function createConfigMetrics({ c, g }: MetricFactory) {
  return {
    configReloads: c('config_reloads_total', 'SIGHUP reloads, by result (ok | failed).', [
      'result',
    ]),
    configReloadFailures: c(
      'config_reload_failures_total',
      'Reloads refused (invalid file); the running config was kept.',
    ),
    configLastReloadSuccess: g(
      'config_last_reload_success_timestamp_seconds',
      'Unix time of the last successful config load (start or reload).',
    ),
    configRestartRequired: g(
      'config_reload_restart_required',
      '1 while the config file has changes that only a restart applies (listener, workers, state dir, sinks added/removed).',
    ),
  };
}

export type ConfigMetrics = ReturnType<typeof createConfigMetrics>;
