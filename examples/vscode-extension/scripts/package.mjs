#!/usr/bin/env node
// Packages the example extension as a platform-specific VSIX:
//   node examples/vscode-extension/scripts/package.mjs --target linux-x64 [--out DIR]
// 1. bundles src/ with esbuild into dist/ (the addon stays external, required from
//    ./wasm-probe-runtime/ next to the bundle);
// 2. copies the addon's JavaScript (index.js, binding.js, lib/compile-worker.js) and exactly one
//    native binary — the target's — into dist/wasm-probe-runtime/, failing if that binary is missing;
// 3. puts the extension's own guests into dist/guests/ as <name>.wasm, each with <name>.cwasm
//    precompiled for the target's triple by the addon of the machine running this script
//    (precompiling cross-compiles: any x86_64 or aarch64 machine makes artifacts for every target);
// 4. runs `vsce package --target <target> --no-dependencies`.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const ext = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(ext, '..', '..')

/** vsce targets: the napi platform suffix of the binary each needs, and the Rust target triple
 *  its guests are precompiled for. */
export const TARGETS = {
  'linux-x64': { binary: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu' },
  'linux-arm64': { binary: 'linux-arm64-gnu', triple: 'aarch64-unknown-linux-gnu' },
  'alpine-x64': { binary: 'linux-x64-musl', triple: 'x86_64-unknown-linux-musl' },
  'alpine-arm64': { binary: 'linux-arm64-musl', triple: 'aarch64-unknown-linux-musl' },
  'darwin-x64': { binary: 'darwin-x64', triple: 'x86_64-apple-darwin' },
  'darwin-arm64': { binary: 'darwin-arm64', triple: 'aarch64-apple-darwin' },
  'win32-x64': { binary: 'win32-x64-msvc', triple: 'x86_64-pc-windows-msvc' },
  'win32-arm64': { binary: 'win32-arm64-msvc', triple: 'aarch64-pc-windows-msvc' },
}

/** The guests that ship with the extension (name -> source, .wasm or .wat). */
export const GUESTS = {
  'word-count': join(root, 'examples', 'guests', 'wat', 'word-count.wat'),
  // A typed component (examples/guests/typed/text-stats.c), built by scripts/build-guests.mjs.
  'text-stats': join(root, 'build', 'guests', 'typed-example', 'text-stats.wasm'),
  // A JavaScript component (examples/guests/js/greet.js, componentize-js, 12 MB): precompiled,
  // it starts in milliseconds instead of the seconds its compile takes.
  greet: join(root, 'build', 'guests', 'js', 'greet.wasm'),
}

/** The addon's JavaScript, as the package lays it out: index.js requires its lib/ files (and
 *  starts lib/compile-worker.js in a child process) from its own directory. */
const ADDON_FILES = [
  'index.js',
  'binding.js',
  ...readdirSync(join(root, 'lib'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => join('lib', f)),
]

/** Writes `dir`/<name>.wasm and <name>.cwasm (precompiled for `triple`) for each guest of
 *  GUESTS named in `names` (default: all); returns their paths. */
export async function precompileGuests(dir, triple, names = Object.keys(GUESTS)) {
  mkdirSync(dir, { recursive: true })
  // The repository's own addon — the binary of the machine running this script, not the target's.
  const { WasmRuntime } = createRequire(import.meta.url)(join(root, 'index.js'))
  let runtime
  try {
    runtime = new WasmRuntime()
  } catch (e) {
    throw new Error(`cannot precompile the guests: the addon does not load on this machine (${e.code}: ${e.message}); build or download the binary for this machine too`)
  }
  const written = []
  try {
    for (const name of names) {
      const source = GUESTS[name]
      if (!source) throw new Error(`no guest ${name} in GUESTS`)
      const wasm = join(dir, `${name}.wasm`)
      if (source.endsWith('.wat')) {
        const { parse } = await import('@bytecodealliance/jco')
        writeFileSync(wasm, await parse(readFileSync(source, 'utf8')))
      } else {
        copyFileSync(source, wasm)
      }
      const cwasm = join(dir, `${name}.cwasm`)
      try {
        writeFileSync(cwasm, await runtime.precompile(wasm, { target: triple }))
      } catch (e) {
        throw new Error(`precompiling ${basename(source)} for ${triple} failed: ${e.code}: ${e.message}`)
      }
      written.push(wasm, cwasm)
    }
  } finally {
    await runtime.close()
  }
  return written
}

// `import 'wasm-probe-runtime'` becomes a require of the copy shipped next to the bundle.
const addonNextToBundle = {
  name: 'addon-next-to-bundle',
  setup(b) {
    b.onResolve({ filter: /^wasm-probe-runtime$/ }, () => ({ path: './wasm-probe-runtime/index.js', external: true }))
  },
}

export async function packageExtension(target, outDir = join(root, 'build', 'vsix')) {
  if (!Object.hasOwn(TARGETS, target)) throw new Error(`unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`)
  const { binary: suffix, triple } = TARGETS[target]
  const binary = `wasm-probe-runtime.${suffix}.node`
  const source = [join(root, binary), join(root, 'npm', suffix, binary)].find(existsSync)
  if (!source) throw new Error(`no ${binary} in the repository root or npm/${suffix}/: build the addon for ${target} first`)

  const dist = join(ext, 'dist')
  rmSync(dist, { recursive: true, force: true })
  const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node18', plugins: [addonNextToBundle], logLevel: 'warning' }
  await build({ ...common, entryPoints: [join(ext, 'src', 'extension.ts')], outfile: join(dist, 'extension.js'), external: ['vscode'] })
  await build({ ...common, entryPoints: [join(ext, 'src', 'probe-runner.ts')], outfile: join(dist, 'probe-runner.js') })

  const addon = join(dist, 'wasm-probe-runtime')
  for (const file of ADDON_FILES) {
    mkdirSync(dirname(join(addon, file)), { recursive: true })
    copyFileSync(join(root, file), join(addon, file))
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(join(addon, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, main: 'index.js' }, null, 2))
  copyFileSync(source, join(addon, binary))
  await precompileGuests(join(dist, 'guests'), triple)

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
