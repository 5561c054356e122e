import { defineConfig } from 'vitest/config';

// `npm run test:packaging`: builds the .deb and tarballs and installs them into clean
// Debian 12 roots (debootstrap, chroot: needs root). No rig servers; minutes of CPU, so it
// is its own CI step rather than part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/packaging/**/*.test.ts'],
    // Builds the artefacts once for every file (test/packaging/artefacts.ts).
    globalSetup: ['test/packaging/artefacts.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 5 * 60_000,
    hookTimeout: 40 * 60_000,
    teardownTimeout: 60_000,
  },
});
