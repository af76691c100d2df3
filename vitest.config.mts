import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/temporal-dev-server.ts'],
    setupFiles: ['test/setup/quiet-runtime.ts'],
    pool: 'forks', // the Temporal native bridge does not survive worker threads (temporal.md §1.5)
    // Most test files spend their time waiting (timers of a rebuild, sshd, a BMC, Chromium), not computing: three at
    // once on two cores. Each has its own Temporal namespace (test/setup/temporal-dev-server.ts, up to 8).
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 90_000,
    reporters: ['default'],
  },
});
