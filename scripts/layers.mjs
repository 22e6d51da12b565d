#!/usr/bin/env node
// The layer check (.ci/run): the core reads top-down. It reads the `crate::` / `super::` /
// `self::` paths of src/**/*.rs (test code left out: `*_tests.rs` files and `#[cfg(test)]` items)
// and fails on any import circle between files, naming the files and the names that tie them,
// and on a core file over 600 lines. A file naming its own folder's `mod.rs` does not count
// (a child may use what its parent declares). The JavaScript layer likewise: no file of `lib/`
// requires `index.js`, and no circle among the files of `lib/`.
//
// Written by hand: the tools that draw Rust module graphs (cargo-modules and the like) need a
// full rust-analyzer load of the crate and wasmtime — minutes here — and report item-level
// edges, not the file-level circles that this project's layering is about.
//
//   node scripts/layers.mjs [--root DIR] [--graph]
// --graph prints every file with the files it names (for reading, not checked).

import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const MAX_LINES = 600

function walk(dir, ext, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, ext, out)
    else if (name.endsWith(ext)) out.push(path)
  }
  return out
}

const CHAR = /^'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'/

/** Blanks comments and the insides of string and char literals, keeping line breaks. */
export function stripRust(text) {
  let raw
  let char
  let out = ''
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    const d = text[i + 1]
    if (c === '/' && d === '/') {
      while (i < n && text[i] !== '\n') i++
    } else if (c === '/' && d === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') (depth++, (i += 2))
        else if (text[i] === '*' && text[i + 1] === '/') (depth--, (i += 2))
        else {
          if (text[i] === '\n') out += '\n'
          i++
        }
      }
    } else if (c === 'r' && (raw = /^r(#*)"/.exec(text.slice(i, i + 10))) && !/\w/.test(text[i - 1] ?? '')) {
      const end = `"${raw[1]}`
      let j = text.indexOf(end, i + raw[0].length)
      if (j < 0) j = n
      out += '""' + '\n'.repeat((text.slice(i, j).match(/\n/g) ?? []).length)
      i = j + end.length
    } else if (c === '"') {
      i++
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\') i++
        else if (text[i] === '\n') out += '\n'
        i++
      }
      i++
      out += '""'
    } else if (c === "'" && (char = CHAR.exec(text.slice(i, i + 12)))) {
      // A char literal (a lifetime such as 'a has no closing quote).
      i += char[0].length
      out += "' '"
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Removes `#[cfg(test)]` items (a `mod x { … }` block, or a `mod x;` line). */
export function withoutTests(text) {
  const names = []
  let out = text
  for (;;) {
    const at = out.search(/#\[cfg\(test\)\]/)
    if (at < 0) break
    const rest = out.slice(at)
    const decl = /^#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;/.exec(rest)
    if (decl) {
      names.push(decl[1])
      out = out.slice(0, at) + '\n'.repeat((decl[0].match(/\n/g) ?? []).length) + out.slice(at + decl[0].length)
      continue
    }
    // Any other item: through its balanced braces (or to its `;` if it has none first).
    const open = rest.indexOf('{')
    const semi = rest.indexOf(';')
    let end
    if (open < 0 || (semi >= 0 && semi < open)) end = semi + 1
    else {
      let depth = 0
      end = open
      for (; end < rest.length; end++) {
        if (rest[end] === '{') depth++
        else if (rest[end] === '}' && --depth === 0) break
      }
      end++
    }
    out = out.slice(0, at) + '\n'.repeat((rest.slice(0, end).match(/\n/g) ?? []).length) + out.slice(at + end)
  }
  return { text: out, testModules: names }
}

/** Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`. */
export function expandUse(tree) {
  tree = tree.replace(/\s+as\s+\w+/g, '').replace(/\s+/g, '')
  const brace = tree.indexOf('{')
  if (brace < 0) return [tree]
  const prefix = tree.slice(0, brace)
  const inner = tree.slice(brace + 1, tree.lastIndexOf('}'))
  const parts = []
  let depth = 0
  let start = 0
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '{') depth++
    else if (inner[i] === '}') depth--
    else if (inner[i] === ',' && depth === 0) (parts.push(inner.slice(start, i)), (start = i + 1))
  }
  parts.push(inner.slice(start))
  return parts.filter(Boolean).flatMap((p) => expandUse(p).map((q) => (q === 'self' ? prefix.replace(/::$/, '') : prefix + q)))
}

/** The module path (segments under the crate root) that a file stands for. */
function modulePath(srcDir, file) {
  const rel = relative(srcDir, file).split(sep)
  const last = rel.pop().replace(/\.rs$/, '')
  if (last !== 'mod' && last !== 'lib') rel.push(last)
  return rel
}

/** Reads the crate under `srcDir` into files, their module paths and the paths they name. */
export function rustGraph(srcDir) {
  const files = walk(srcDir, '.rs')
  const byModule = new Map()
  const testFiles = new Set()
  const sources = new Map()
  for (const file of files) {
    const { text, testModules } = withoutTests(stripRust(readFileSync(file, 'utf8')))
    sources.set(file, text)
    const mod = modulePath(srcDir, file)
    byModule.set(mod.join('::'), file)
    const base = file.endsWith('mod.rs') || file.endsWith('lib.rs') ? dirname(file) : file.replace(/\.rs$/, '')
    for (const t of testModules) {
      testFiles.add(join(base, `${t}.rs`))
      testFiles.add(join(base, t, 'mod.rs'))
    }
  }
  const nodes = files.filter((f) => !testFiles.has(f) && !/_tests\.rs$|(^|\/)tests\.rs$/.test(f))
  /** Resolves a path's segments to the deepest file that holds it. */
  const resolve = (segments) => {
    for (let k = segments.length; k >= 0; k--) {
      const file = byModule.get(segments.slice(0, k).join('::'))
      if (file) return file
    }
  }
  const edges = new Map() // file -> Map(target file -> Set(names))
  for (const file of nodes) {
    const text = sources.get(file)
    const self = modulePath(srcDir, file)
    const paths = []
    for (const m of text.matchAll(/\buse\s+((?:crate|super|self)::[^;]*);/g)) paths.push(...expandUse(m[1]))
    const withoutUses = text.replace(/\buse\s+(?:crate|super|self)::[^;]*;/g, '')
    for (const m of withoutUses.matchAll(/(?<![:\w])((?:crate|super|self)(?:::(?:\w+))+)/g)) paths.push(m[1])
    const out = new Map()
    for (const p of paths) {
      const segs = p.split('::').filter(Boolean)
      // `self` is the file's own module, each `super` one module up (module paths already
      // stand a mod.rs for its folder).
      let base = segs[0] === 'crate' ? [] : self.slice()
      if (segs[0] === 'crate' || segs[0] === 'self') segs.shift()
      while (segs[0] === 'super') {
        segs.shift()
        base = base.slice(0, -1)
      }
      const full = [...base, ...segs]
      const target = resolve(full)
      if (!target || target === file) continue
      // A file naming its own folder's mod.rs (or the crate root) does not count.
      if (target.endsWith('lib.rs')) continue
      if (target.endsWith('mod.rs') && dirname(target) === dirname(file)) continue
      if (!nodes.includes(target)) continue
      const name = full.slice(modulePath(srcDir, target).length).join('::') || full.at(-1)
      if (!out.has(target)) out.set(target, new Set())
      out.get(target).add(name)
    }
    edges.set(file, out)
  }
  return { nodes, edges, sources }
}

/** Tarjan's strongly connected components of more than one file. */
export function circles(nodes, edges) {
  let index = 0
  const idx = new Map()
  const low = new Map()
  const stack = []
  const on = new Set()
  const found = []
  const visit = (v) => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    on.add(v)
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const scc = []
      let w
      do {
        w = stack.pop()
        on.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1) found.push(scc.sort())
    }
  }
  for (const v of nodes) if (!idx.has(v)) visit(v)
  return found
}

/** The `require`d / imported local files of the JavaScript layer. */
export function jsGraph(root) {
  const lib = join(root, 'lib')
  const nodes = [join(root, 'index.js'), ...(existsSync(lib) ? walk(lib, '.js') : [])]
  const edges = new Map()
  for (const file of nodes) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|(^|[^:])\/\/.*$/gm, '$1')
    const out = new Map()
    for (const m of text.matchAll(/require\(\s*['"](\.[^'"]+)['"]\s*\)|from\s+['"](\.[^'"]+)['"]/g)) {
      let target = join(dirname(file), m[1] ?? m[2])
      if (!target.endsWith('.js')) target = existsSync(`${target}.js`) ? `${target}.js` : join(target, 'index.js')
      if (!nodes.includes(target) || target === file) continue
      if (!out.has(target)) out.set(target, new Set())
      out.get(target).add(m[1] ?? m[2])
    }
    edges.set(file, out)
  }
  return { nodes, edges }
}

/** Every problem of the tree under `root`, as lines of text (empty when the layering holds). */
export function check(root) {
  const problems = []
  const srcDir = join(root, 'src')
  const rel = (f) => relative(root, f)
  const rust = rustGraph(srcDir)
  for (const scc of circles(rust.nodes, rust.edges)) {
    const ties = []
    for (const a of scc) {
      for (const [b, names] of rust.edges.get(a)) if (scc.includes(b)) ties.push(`  ${rel(a)} -> ${rel(b)}: ${[...names].sort().join(', ')}`)
    }
    problems.push(`an import circle of ${scc.length} files: ${scc.map(rel).join(', ')}\n${ties.join('\n')}`)
  }
  for (const file of rust.nodes) {
    if (file.startsWith(join(srcDir, 'binding') + sep)) continue
    const lines = readFileSync(file, 'utf8').split('\n').length - 1
    if (lines > MAX_LINES) problems.push(`${rel(file)} has ${lines} lines (a core file keeps to ${MAX_LINES})`)
  }
  const js = jsGraph(root)
  const index = join(root, 'index.js')
  for (const [file, out] of js.edges) {
    if (file !== index && out.has(index)) problems.push(`${rel(file)} requires index.js (lib/ never names the layer above it)`)
  }
  const libEdges = new Map([...js.edges].filter(([f]) => f !== index).map(([f, out]) => [f, new Map([...out].filter(([t]) => t !== index))]))
  for (const scc of circles([...libEdges.keys()], libEdges)) {
    const ties = []
    for (const a of scc) for (const [b, names] of libEdges.get(a)) if (scc.includes(b)) ties.push(`  ${rel(a)} -> ${rel(b)}: ${[...names].join(', ')}`)
    problems.push(`a require circle of ${scc.length} files: ${scc.map(rel).join(', ')}\n${ties.join('\n')}`)
  }
  return { problems, rust, js }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--root')
  const root = at >= 0 ? args[at + 1] : join(dirname(fileURLToPath(import.meta.url)), '..')
  const { problems, rust } = check(root)
  if (args.includes('--graph')) {
    for (const [file, out] of rust.edges) {
      console.log(`${relative(root, file)}: ${[...out].map(([t, n]) => `${relative(root, t)} (${[...n].join(', ')})`).join('; ')}`)
    }
  }
  if (problems.length) {
    console.error(`layer check: ${problems.length} problem(s)\n${problems.join('\n')}`)
    process.exit(1)
  }
  console.log(`layer check: ${rust.nodes.length} Rust files and the JavaScript layer read top-down; none over ${MAX_LINES} lines`)
}
