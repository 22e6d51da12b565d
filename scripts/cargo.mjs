#!/usr/bin/env node
// Runs a cargo command with the `fast` profile for the host target, spelled out the way
// `napi build --platform` spells it, so that `cargo test` reuses the artifacts of the addon build
// instead of compiling every dependency a second time. Usage: node scripts/cargo.mjs test [args…]
import { execFileSync, spawnSync } from 'node:child_process'

const [command, ...rest] = process.argv.slice(2)
if (!command) {
  console.error('usage: node scripts/cargo.mjs <cargo command> [args...]')
  process.exit(2)
}
const host = /^host: (.+)$/m.exec(execFileSync('rustc', ['-vV'], { encoding: 'utf8' }))[1]
const r = spawnSync('cargo', [command, '--profile', 'fast', '--target', host, ...rest], { stdio: 'inherit' })
process.exit(r.status ?? 1)
