// Debian packages a step needs, installed with apt-get (through sudo unless already root) when
// some are missing. Used by setup.mjs (the C-to-wasm toolchain) and the VS Code host test
// (chromium, libkrb5-dev).
import { spawnSync } from 'node:child_process'

/** The last lines of a finished command's output, for an error message. */
export function outputTail(result, lines = 30) {
  return `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim().split('\n').slice(-lines).join('\n')
}

export const hasAptGet = () => spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0

/** True when dpkg reports every package installed. */
export function debianPackagesInstalled(packages) {
  return packages.every((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status === 0)
}

/**
 * Installs `packages` with apt-get; `why` names what needs them. Without apt-get it throws
 * `withoutApt` when given, else an error naming the packages.
 * @param {string[]} packages
 * @param {string} why
 * @param {{ say?: (msg: string) => void, withoutApt?: string }} [options]
 */
export function aptInstall(packages, why, { say = console.error, withoutApt } = {}) {
  if (!hasAptGet()) {
    throw new Error(withoutApt ?? `${why} needs ${packages.join(', ')}, and apt-get is not available to install them: install them with your package manager`)
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const apt = (...args) => {
    const [cmd, argv] = isRoot ? ['apt-get', args] : ['sudo', ['apt-get', ...args]]
    // dpkg's progress is hundreds of lines: shown only when the step fails.
    const r = spawnSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 256 << 20 })
    if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed with exit code ${r.status}:\n${outputTail(r)}`)
  }
  say(`installing ${packages.join(' ')} (for ${why})`)
  apt('update', '-qq')
  apt('install', '-y', '-qq', ...packages)
}
