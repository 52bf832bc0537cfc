import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Storage tests do real file I/O and spawn real child processes; give them room on a
    // loaded 2-core machine, but every wait inside a test is bounded on its own.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
