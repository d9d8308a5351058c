import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The load tests and the soak run on their own, after the rest (npm run test:load): they take the
    // whole machine.
    exclude: [...configDefaults.exclude, 'test/load/**', 'test/soak/soak.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One throwaway PostgreSQL cluster for the run; each test file takes its own database in it.
    globalSetup: ['test/support/postgresSetup.ts'],
  },
});
