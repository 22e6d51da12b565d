#!/usr/bin/env node
// Packages the example extension as a platform-specific VSIX:
//   node examples/vscode-extension/scripts/package.mjs --target linux-x64 [--out DIR]
// 1. bundles src/ with esbuild into dist/ (the addon stays external, required from
//    ./wasm-probe-runtime/ next to the bundle);
// 2. copies the addon's JavaScript and exactly one native binary — the target's — into
//    dist/wasm-probe-runtime/, failing if that binary is missing;
// 3. runs `vsce package --target <target> --no-dependencies`.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const ext = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(ext, '..', '..')

/** vsce targets and the napi platform suffix of the binary each needs. */
export const TARGETS = {
  'linux-x64': 'linux-x64-gnu',
  'linux-arm64': 'linux-arm64-gnu',
  'alpine-x64': 'linux-x64-musl',
  'alpine-arm64': 'linux-arm64-musl',
  'darwin-x64': 'darwin-x64',
  'darwin-arm64': 'darwin-arm64',
  'win32-x64': 'win32-x64-msvc',
  'win32-arm64': 'win32-arm64-msvc',
}

// `import 'wasm-probe-runtime'` becomes a require of the copy shipped next to the bundle.
const addonNextToBundle = {
  name: 'addon-next-to-bundle',
  setup(b) {
    b.onResolve({ filter: /^wasm-probe-runtime$/ }, () => ({ path: './wasm-probe-runtime/index.js', external: true }))
  },
}

export async function packageExtension(target, outDir = join(root, 'build', 'vsix')) {
  const suffix = TARGETS[target]
  if (!suffix) throw new Error(`unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`)
  const binary = `wasm-probe-runtime.${suffix}.node`
  const source = [join(root, binary), join(root, 'npm', suffix, binary)].find(existsSync)
  if (!source) throw new Error(`no ${binary} in the repository root or npm/${suffix}/: build the addon for ${target} first`)

  const dist = join(ext, 'dist')
  rmSync(dist, { recursive: true, force: true })
  const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node18', plugins: [addonNextToBundle], logLevel: 'warning' }
  await build({ ...common, entryPoints: [join(ext, 'src', 'extension.ts')], outfile: join(dist, 'extension.js'), external: ['vscode'] })
  await build({ ...common, entryPoints: [join(ext, 'src', 'probe-runner.ts')], outfile: join(dist, 'probe-runner.js') })

  const addon = join(dist, 'wasm-probe-runtime')
  mkdirSync(addon, { recursive: true })
  for (const file of ['index.js', 'binding.js']) copyFileSync(join(root, file), join(addon, file))
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(join(addon, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, main: 'index.js' }, null, 2))
  copyFileSync(source, join(addon, binary))

  mkdirSync(outDir, { recursive: true })
  const vsix = join(outDir, `wasm-probe-example-${target}.vsix`)
  const vsce = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce')
  execFileSync(vsce, ['package', '--target', target, '--no-dependencies', '--out', vsix], { cwd: ext, stdio: ['ignore', 'pipe', 'inherit'] })
  return vsix
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { target: { type: 'string' }, out: { type: 'string' } } })
  if (!values.target) {
    console.error(`usage: package.mjs --target <${Object.keys(TARGETS).join('|')}> [--out DIR]`)
    process.exit(64)
  }
  packageExtension(values.target, values.out).then(
    (vsix) => console.log(vsix),
    (e) => {
      console.error(e.message)
      process.exit(1)
    },
  )
}
