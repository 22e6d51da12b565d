// A Rust command-line tool at a pinned version: on PATH if it is there at that version, else
// built once with `cargo install` into build/tools (what a fresh machine and CI do).
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The path (or name) to run `bin` of `crate` at `version` with.
 * @param {{ bin: string, crate: string, version: string, features: string, say?: (msg: string) => void }} tool
 */
export function cargoTool({ bin, crate, version, features, say = console.error }) {
  const local = join(root, 'build', 'tools', 'bin', process.platform === 'win32' ? `${bin}.exe` : bin)
  for (const candidate of [bin, local]) {
    const v = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
    if (v.status === 0 && v.stdout.includes(version)) return candidate
  }
  say(`installing ${crate} ${version} into build/tools (cargo install)`)
  const r = spawnSync(
    'cargo',
    ['install', crate, '--locked', '--version', version, '--no-default-features', '--features', features, '--root', join(root, 'build', 'tools')],
    { stdio: 'inherit' },
  )
  if (r.status !== 0) throw new Error(`cargo install ${crate} failed`)
  return local
}
