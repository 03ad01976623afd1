import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    pool: 'forks',
    // Multi-process suites start real node processes; they must not run side by side on 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
