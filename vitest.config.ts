import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    // Integration tests only: `npm test` runs the unit tests first, as their own stage
    // (vitest.unit.config.ts); the packaging tests are `npm run test:packaging`.
    // Starts ClickHouse, MinIO and Kafka on 127.0.0.1 (scripts/rig/up.sh); a server that
    // cannot start fails the run, nothing is skipped.
    globalSetup: ['test/setup/global.ts'],
    pool: 'forks',
    // Integration tests share those servers and some stop and restart them to simulate
    // outages: one test file at a time (vitest 4: this also sets maxWorkers to 1).
    fileParallelism: false,
    testTimeout: 60_000,
    // Generous: a hook may wait for a server restart.
    hookTimeout: 10 * 60_000,
    teardownTimeout: 60_000,
  },
});
