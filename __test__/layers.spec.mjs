// The layer check of .ci/run (scripts/layers.mjs): it passes on this tree, and fails — naming
// the files and the names that tie them — on a deliberate import circle, on a core file over
// 600 lines, and on a lib/ file that requires index.js. Each failing tree is a small copy made
// here, so the check is shown to catch what it is for.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { check, expandUse, stripRust } from '../scripts/layers.mjs'
import { root } from './helpers.mjs'

const script = join(root, 'scripts', 'layers.mjs')
const made = []
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A tree of `files` (path -> text) under a fresh folder, with an index.js. */
function tree(files) {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-layers-'))
  made.push(dir)
  for (const [path, text] of Object.entries({ 'index.js': "require('./lib/a')\n", ...files })) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}

const run = (dir) => spawnSync(process.execPath, [script, '--root', dir], { encoding: 'utf8' })

describe('the layer check', () => {
  test('passes on this tree', () => {
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8' })
    expect(out).toMatch(/read top-down/)
  })

  test('fails on an import circle, naming the files and the names that tie them', () => {
    const dir = tree({
      'src/lib.rs': 'pub mod exec;\npub mod host;\n',
      'src/host/mod.rs': 'pub mod log;\n',
      // The circle goes through a grouped `use` on one side and an inline path on the other.
      'src/host/log.rs': 'use crate::exec::{state::{Store, self}};\npub struct Logs;\n',
      'src/exec/mod.rs': 'pub mod state;\n',
      'src/exec/state.rs': 'pub struct Store { logs: crate::host::log::Logs }\n',
      'lib/a.js': "module.exports = 1\n",
    })
    const r = run(dir)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('an import circle of 2 files: src/exec/state.rs, src/host/log.rs')
    expect(r.stderr).toContain('src/exec/state.rs -> src/host/log.rs: Logs')
    expect(r.stderr).toContain('src/host/log.rs -> src/exec/state.rs: Store')
  })

  test('a child naming its own folder’s mod.rs, comments, strings and test code do not count', () => {
    const dir = tree({
      'src/lib.rs': 'pub mod exec;\n#[cfg(test)]\nmod exec_tests;\n',
      'src/exec/mod.rs': 'pub mod guest;\npub use guest::Guest;\npub struct Request;\n',
      'src/exec/guest.rs': [
        'use super::Request;',
        '// crate::exec::Request in a comment',
        'const S: &str = "crate::exec::guest";',
        'pub struct Guest(Request);',
        '#[cfg(test)]',
        'mod tests {',
        '  use crate::exec::Request;',
        '}',
      ].join('\n'),
      'src/exec_tests.rs': 'use crate::exec::guest::Guest;\n',
      'lib/a.js': "module.exports = 1\n",
    })
    const r = run(dir)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  test('fails on a core file over 600 lines, not on a binding file', () => {
    const long = 'pub fn f() {}\n'.repeat(601)
    const dir = tree({ 'src/lib.rs': 'pub mod big;\nmod binding;\n', 'src/big.rs': long, 'src/binding/mod.rs': long, 'lib/a.js': '' })
    const { problems } = check(dir)
    expect(problems).toEqual(['src/big.rs has 601 lines (a core file keeps to 600)'])
  })

  test('fails on lib/ requiring index.js, and on a require circle in lib/', () => {
    const dir = tree({
      'src/lib.rs': '',
      'lib/a.js': "const { x } = require('../index.js')\nrequire('./b')\n",
      'lib/b.js': "require('./a.js')\n",
    })
    const r = run(dir)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('lib/a.js requires index.js')
    expect(r.stderr).toContain('a require circle of 2 files: lib/a.js, lib/b.js')
  })

  test('reads grouped uses and skips literals', () => {
    expect(expandUse('crate::a::{b, c::{d, self}, e as f}')).toEqual(['crate::a::b', 'crate::a::c::d', 'crate::a::c', 'crate::a::e'])
    expect(stripRust('let s = "crate::x"; // crate::y\nlet c = \'"\';')).not.toMatch(/crate::/)
  })
})
