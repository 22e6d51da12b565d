#!/usr/bin/env node
// Installs what running the real VS Code extension host here takes, once, under build/vscode-host/
// or WASM_PROBE_VSCODE_HOST_DIR (each step is skipped when a stamp says it finished at the pinned
// version):
//   1. Debian's chromium (the headless client whose window makes code-server start an extension
//      host; CHROMIUM names another Chromium or Chrome instead, e.g. on Ubuntu, whose chromium
//      package is a snap) and libkrb5-dev (code-server's kerberos dependency builds from source);
//   2. Node 24 from the npm registry (the package node-<os>-<arch>, which ships bin/node and the
//      headers in include/node): code-server's postinstall refuses any other major version;
//   3. code-server, installed by npm running under that Node, with npm_config_nodedir pointing at
//      it so node-gyp builds the native modules against its headers instead of downloading them.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { aptInstall, debianPackagesInstalled, outputTail } from '../apt.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const HOST_DIR = process.env.WASM_PROBE_VSCODE_HOST_DIR || join(root, 'build', 'vscode-host')
/** code-server 4.139.1 is VS Code 1.139.1's server: its extension host is plain Node 24. */
export const CODE_SERVER_VERSION = '4.139.1'
export const NODE_VERSION = '24.22.3'
/** Why the VS Code host test cannot run on this machine, or undefined when it can. */
export function unsupportedHere() {
  return process.platform === 'linux' ? undefined : `the VS Code host test runs on Linux (it installs Debian's chromium and code-server there); this is ${process.platform}`
}

/**
 * Our environment without what `npm run` puts in it (`npm_*`, vitest's markers), plus `extra`.
 * An inherited npm_config_user_agent, say, is read as configuration by an npm started from it
 * and names the Node of the outer npm: code-server's postinstall then refuses to install.
 */
export function cleanEnv(extra = {}) {
  const env = { ...process.env }
  for (const key of Object.keys(env)) if (key.startsWith('npm_') || key === 'VITEST' || key.startsWith('VITEST_')) delete env[key]
  return { ...env, ...extra }
}

/** True when `npmInstall(dir, spec)` finished (the stamp it writes last names `spec`). */
const installed = (dir, spec) => existsSync(join(dir, '.installed')) && readFileSync(join(dir, '.installed'), 'utf8') === spec

/** `npm install spec` into `dir` (a private package of its own), in environment `env`; a
 *  stamp written last records that it finished. */
function npmInstall(dir, spec, env = cleanEnv()) {
  mkdirSync(dir, { recursive: true })
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{ "private": true }\n')
  const log = join(dir, 'install.log')
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', spec], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 })
  writeFileSync(log, `${r.stdout ?? ''}\n${r.stderr ?? ''}`)
  if (r.status !== 0) throw new Error(`npm install ${spec} failed (exit ${r.status}; the whole log is ${log}):\n${outputTail(r)}`)
  writeFileSync(join(dir, '.installed'), spec)
}

/**
 * Makes sure chromium, Node 24 and code-server are installed; returns where they are.
 * @param {{ say?: (msg: string) => void }} [options]
 */
export function ensureVsCodeHost({ say = (m) => console.error(`[vscode-host] ${m}`) } = {}) {
  const unsupported = unsupportedHere()
  if (unsupported) throw new Error(unsupported)
  const debianPackages = process.env.CHROMIUM ? ['libkrb5-dev'] : ['chromium', 'libkrb5-dev']
  if (!debianPackagesInstalled(debianPackages)) aptInstall(debianPackages, 'the VS Code extension host test', { say })

  const nodePackage = `node-${process.platform}-${process.arch}`
  const nodeSpec = `${nodePackage}@${NODE_VERSION}`
  const nodeDir = join(HOST_DIR, 'node24', 'node_modules', nodePackage)
  if (!installed(join(HOST_DIR, 'node24'), nodeSpec)) {
    say(`installing Node ${NODE_VERSION} (${nodePackage} from npm)`)
    npmInstall(join(HOST_DIR, 'node24'), nodeSpec)
  }
  const node = join(nodeDir, 'bin', 'node')

  const codeServerDir = join(HOST_DIR, 'code-server')
  const codeServerSpec = `code-server@${CODE_SERVER_VERSION}`
  if (!installed(codeServerDir, codeServerSpec)) {
    say(`installing code-server ${CODE_SERVER_VERSION} (about 6 minutes on 2 cores and 620 MB)`)
    npmInstall(codeServerDir, codeServerSpec, cleanEnv({ PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: nodeDir }))
  }
  const codeServer = join(codeServerDir, 'node_modules', '.bin', 'code-server')
  const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium'
  for (const [what, path] of [['node', node], ['code-server', codeServer], ['chromium', chromium]]) {
    if (!existsSync(path)) throw new Error(`${what} is not at ${path} after installing it`)
  }
  return { node, nodeDir, codeServer, chromium }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (unsupportedHere()) {
    // `npm test` goes on without it elsewhere; the test file says the same and skips.
    console.error(`[vscode-host] skipped: ${unsupportedHere()}`)
    process.exit(0)
  }
  try {
    console.log(JSON.stringify(ensureVsCodeHost(), null, 2))
  } catch (e) {
    console.error(`[vscode-host] ${e.message}`)
    process.exit(1)
  }
}
