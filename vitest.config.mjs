import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.mjs'],
    // The VS Code host test runs on its own: `npm run test:vscode`.
    exclude: ['__test__/vscode/**', '**/node_modules/**'],
    // Each file gets its own process: the addon, its engines and its signal handlers load fresh.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
