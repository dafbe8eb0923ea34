import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globals: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests create network namespaces and spawn processes: run files one at a time so that they
    // never compete for the same kernel counters and the 2-core CI machine is not oversubscribed.
    fileParallelism: false,
    pool: 'forks',
  },
});
