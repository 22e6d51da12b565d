import { defineConfig } from 'vitest/config'

// `npm run test:vscode`: the example extension inside the real VS Code extension host. One file,
// one code-server: installing (first time only), packaging and starting the host take minutes.
export default defineConfig({
  test: {
    include: ['__test__/vscode/*.spec.mjs'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 15 * 60_000,
  },
})
