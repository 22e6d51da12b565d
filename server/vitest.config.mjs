import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.spec.mjs'],
    // Each file starts its own servers (child processes) with their own runtimes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
