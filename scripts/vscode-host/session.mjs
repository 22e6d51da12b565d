// One run of the real VS Code extension host: code-server (VS Code's server) with an isolated home,
// user-data and extensions directory, the given VSIXes installed, and a headless chromium window
// connected (the extension host starts only when a window does). The test driver extension
// (driver/) lets the caller run commands inside that extension host over a loopback port.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import puppeteer from 'puppeteer-core'
import { cleanEnv } from './install.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
export const EXAMPLE_ID = 'wasm-probe-runtime.wasm-probe-example'
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
/** How long one driver op may take before the caller gives up on it. */
const CALL_TIMEOUT_MS = 120_000

/** Polls `probe` every 200 ms until it returns something truthy; throws naming `what` after `ms`. */
export async function waitFor(what, probe, ms, failed = () => undefined) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value
    const reason = failed()
    if (reason) throw new Error(`${reason} while waiting for ${what}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(200)
  }
}

/** Packages the driver extension (driver/ plus echo-loop.js) into `dir`; returns the .vsix. */
export function packageDriver(dir) {
  const src = join(dir, 'driver-src')
  rmSync(src, { recursive: true, force: true })
  mkdirSync(src, { recursive: true })
  for (const f of readdirSync(join(here, 'driver'))) copyFileSync(join(here, 'driver', f), join(src, f))
  copyFileSync(join(here, 'echo-loop.js'), join(src, 'echo-loop.js'))
  writeFileSync(join(src, 'LICENSE'), 'MIT\n')
  writeFileSync(join(src, 'README.md'), '# Test driver of the VS Code host test\n')
  const vsix = join(dir, 'wasm-probe-host-driver.vsix')
  execFileSync(join(root, 'node_modules', '.bin', 'vsce'), ['package', '--no-dependencies', '--out', vsix], { cwd: src, stdio: ['ignore', 'pipe', 'pipe'] })
  return vsix
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** State and process group of process `pid` from /proc/<pid>/stat, or undefined when it is gone. */
function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state: fields[0], pgid: Number(fields[2]) }
  } catch {
    return undefined
  }
}

/** Process ids of the live processes of process group `pgid`. */
function processGroup(pgid) {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const stat = procStat(pid)
      return stat && stat.pgid === pgid && stat.state !== 'Z'
    })
    .map(Number)
}

/** True while process `pid` runs (a zombie does not). */
export const isAlive = (pid) => {
  const stat = procStat(pid)
  return stat !== undefined && stat.state !== 'Z'
}

/** SIGTERMs process group `pgid`, waits up to `ms` for it to be gone, SIGKILLs what is left;
 *  returns the pids that had to be killed. */
async function endProcessGroup(pgid, ms) {
  if (processGroup(pgid).length === 0) return []
  try {
    process.kill(-pgid, 'SIGTERM')
  } catch {
    return []
  }
  const deadline = Date.now() + ms
  while (processGroup(pgid).length > 0 && Date.now() < deadline) await sleep(200)
  const left = processGroup(pgid)
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
  return left
}

export class HostSession {
  /**
   * @param {{ host: { node: string, codeServer: string, chromium: string }, vsixes: string[], dir: string, env?: Record<string, string> }} options
   */
  static async start({ host, vsixes, dir, env: extra = {} }) {
    rmSync(dir, { recursive: true, force: true })
    const d = (name) => {
      mkdirSync(join(dir, name), { recursive: true })
      return join(dir, name)
    }
    const home = d('home')
    const userData = d('user-data')
    const driverDir = d('driver')
    const workspace = d('workspace')
    mkdirSync(join(userData, 'User'), { recursive: true })
    writeFileSync(
      join(userData, 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'workbench.tips.enabled': false,
        'extensions.ignoreRecommendations': true,
        // The session's directories may lie inside a git checkout (build/ of this repository).
        'git.enabled': false,
        // Reloading the window must not stop at "leave the page with unsaved changes?".
        'window.confirmBeforeClose': 'never',
        // VS Code's built-in chat would otherwise start its own runtime process beside the test.
        'chat.disableAIFeatures': true,
      }),
    )
    const port = await freePort()
    writeFileSync(join(dir, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`)
    // npm's test environment must not leak into the host (npm_config_* would steer its Node).
    const env = cleanEnv({
      PATH: `${dirname(host.node)}:${process.env.PATH}`,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CACHE_HOME: join(home, '.cache'),
      WASM_PROBE_VSCODE_DRIVER: driverDir,
      ...extra,
    })
    const args = ['--config', join(dir, 'config.yaml'), '--user-data-dir', userData, '--extensions-dir', d('extensions')]
    for (const vsix of vsixes) {
      execFileSync(host.codeServer, [...args, '--force', '--install-extension', vsix], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    }
    const logFile = join(dir, 'code-server.log')
    const log = openSync(logFile, 'w')
    const server = spawn(
      host.codeServer,
      [
        ...args,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        // A window that goes without saying goodbye (a reload can race its own farewell) keeps its
        // extension host waiting for it to reconnect: 3 hours by default, 5 s here.
        '--reconnection-grace-time',
        '5',
        workspace,
      ],
      { env, stdio: ['ignore', log, log], detached: true },
    )
    closeSync(log)
    // code-server failing to start, or exiting at any time, ends every wait on it.
    let gone
    server.once('error', (e) => (gone = `code-server could not start: ${e.message}`))
    server.once('exit', (code, signal) => (gone = `code-server exited (${signal ?? `code ${code}`})`))
    const session = new HostSession({ dir, port, server, driverDir, userData, workspace, gone: () => gone })
    try {
      await waitFor('code-server to answer /healthz', () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false), 60_000, session.gone)
      session.browser = await puppeteer.launch({
        executablePath: host.chromium,
        headless: true,
        userDataDir: d('chromium'),
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      })
      session.page = await session.browser.newPage()
      // A beforeunload prompt (an unsaved editor, once the page had a click) would hold a reload.
      session.page.on('dialog', (dialog) => dialog.accept().catch(() => {}))
      await session.page.setViewport({ width: 1280, height: 800 })
      await session.page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded' })
      await session.page.waitForSelector('.monaco-workbench', { timeout: 120_000 })
      await session.waitForDriver()
    } catch (e) {
      await session.stop()
      throw new Error(`${e.message} (code-server's log: ${logFile})`)
    }
    return session
  }

  constructor({ dir, port, server, driverDir, userData, workspace, gone }) {
    Object.assign(this, { dir, port, server, driverDir, userData, workspace, gone })
    /** The current extension host's driver: { port, pid }. */
    this.driver = undefined
  }

  /** Waits for an extension host (other than the one with pid `exceptPid`) to report its driver. */
  async waitForDriver(exceptPid) {
    this.driver = await waitFor(
      'the extension host to start the test driver',
      () =>
        readdirSync(this.driverDir)
          .filter((f) => f.startsWith('ready-'))
          .map((f) => JSON.parse(readFileSync(join(this.driverDir, f), 'utf8')))
          .filter((r) => r.pid !== exceptPid && isAlive(r.pid))
          .sort((a, b) => b.time - a.time)[0],
      120_000,
      this.gone,
    )
    return this.driver
  }

  /** Runs driver op `op` in the extension host; throws with the host's error when it failed. */
  async call(op, body = {}) {
    const response = await fetch(`http://127.0.0.1:${this.driver.port}/`, {
      method: 'POST',
      body: JSON.stringify({ op, ...body }),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    })
    const answer = await response.json()
    if (!answer.ok) throw new Error(`${op} failed in the extension host: ${answer.error}`)
    return answer
  }

  /** `vscode.commands.executeCommand(command, ...args)` in the extension host; its value. */
  async command(command, ...args) {
    return (await this.call('command', { command, args })).value
  }

  /**
   * Reloads the window: code-server shuts the window's extension host down (its extensions
   * deactivate) and starts a new process for the reloaded window, where extensions activate
   * afresh. (The web workbench has no workbench.action.restartExtensionHost.) Returns the new driver.
   */
  async reloadWindow() {
    const old = this.driver.pid
    await this.page.reload({ waitUntil: 'domcontentloaded' })
    await this.page.waitForSelector('.monaco-workbench', { timeout: 120_000 })
    await waitFor(`the old extension host (pid ${old}) to exit`, () => !isAlive(old), 30_000, this.gone)
    return this.waitForDriver(old)
  }

  /** The text VS Code wrote for output channel `name` (its log files, newest session last). */
  outputChannel(name) {
    const found = []
    const walk = (dir) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (entry.name.endsWith(`-${name}.log`)) found.push(path)
      }
    }
    if (existsSync(join(this.userData, 'logs'))) walk(join(this.userData, 'logs'))
    return found
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
      .map((f) => readFileSync(f, 'utf8'))
      .join('')
  }

  /**
   * Closes the window (chromium, then its process group), then SIGTERMs code-server's process
   * group — code-server ends its extension hosts without deactivating their extensions — and
   * waits for every process of it to exit. Returns the processes that had to be killed after
   * 30 s (none when all went by themselves).
   */
  async stop() {
    if (this.browser) {
      const chromium = this.browser.process()
      await Promise.race([this.browser.close().catch(() => {}), sleep(10_000)])
      // puppeteer starts chromium detached: its helpers are in its own process group.
      if (chromium) await endProcessGroup(chromium.pid, 5_000)
      this.browser = undefined
    }
    return endProcessGroup(this.server.pid, 30_000)
  }
}
