import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/temporal-dev-server.ts'],
    setupFiles: ['test/setup/quiet-runtime.ts'],
    pool: 'forks', // the Temporal native bridge does not survive worker threads (temporal.md §1.5)
    testTimeout: 30_000,
    hookTimeout: 90_000,
    reporters: ['default'],
  },
});
