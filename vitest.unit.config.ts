import { defineConfig } from 'vitest/config';

// Unit tests only: no servers needed (`npm run test:unit`). `npm test` runs everything.
export default defineConfig({
  test: { include: ['test/unit/**/*.test.ts'], pool: 'forks', testTimeout: 60_000 },
});
