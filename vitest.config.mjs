import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.mjs'],
    // Each file gets its own process: the addon, its engines and its signal handlers load fresh.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
