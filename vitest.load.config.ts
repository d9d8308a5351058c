import { defineConfig } from 'vitest/config';

/**
 * The load tests (test/load) and the soak (test/soak/soak.test.ts): one file at a time, nothing else
 * running beside them, generous timeouts.
 */
export default defineConfig({
  test: {
    include: ['test/load/**/*.test.ts', 'test/soak/soak.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One throwaway PostgreSQL cluster for the run; each test file takes its own database in it.
    globalSetup: ['test/support/postgresSetup.ts'],
    fileParallelism: false,
  },
});
