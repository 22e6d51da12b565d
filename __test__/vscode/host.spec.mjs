// The example extension end to end inside the real VS Code extension host: code-server 4.139.1
// (VS Code 1.139's server; its extension host is plain Node 24), a headless chromium window, the
// VSIX made by the project's own packaging script, and a test driver extension that runs commands
// in that extension host (scripts/vscode-host/). What is checked: activation and the one .node it
// maps, WAT / C / JS probes with their logs in the output channel VS Code wrote, cancellation from
// the notification's Cancel button, the typed export, deactivate() closing the runtime and the
// extension host exiting.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TARGETS, packageExtension } from '../../examples/vscode-extension/scripts/package.mjs'
import { HOST_DIR, ensureVsCodeHost, unsupportedHere } from '../../scripts/vscode-host/install.mjs'
import { EXAMPLE_ID, HostSession, isAlive, packageDriver, waitFor } from '../../scripts/vscode-host/session.mjs'
import { guest, root, watGuest } from '../helpers.mjs'

const dir = join(HOST_DIR, 'test')
const trace = join(HOST_DIR, 'example-trace.jsonl')
const screenshot = join(HOST_DIR, 'screenshot.png')
let session
let vsix

/**
 * Waits for `predicate` to hold in the window; on a timeout, saves what the window showed.
 * Polled on an interval, not on animation frames: a window chromium deems hidden gets none.
 */
async function inWindow(what, predicate, timeout = 20_000) {
  try {
    return await session.page.waitForFunction(predicate, { timeout, polling: 200 })
  } catch (e) {
    const shot = join(HOST_DIR, `failed-${what.replace(/\W+/g, '-')}.png`)
    await session.page.screenshot({ path: shot }).catch(() => {})
    throw new Error(`the window never showed ${what} (${e.message}); it showed ${shot}`)
  }
}

/** Clicks `element` once it has stayed in place for 100 ms (toasts slide while they settle). */
async function clickWhenStill(element) {
  let last
  for (let i = 0; i < 100; i++) {
    const box = await element.boundingBox()
    if (box && last && box.x === last.x && box.y === last.y) return element.click()
    last = box
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('the element never stopped moving')
}

const traced = () => (existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [])

// Elsewhere than Linux the whole file is skipped, saying why (install.mjs prints the same).
if (unsupportedHere()) console.warn(`[vscode] skipped: ${unsupportedHere()}`)
const linuxOnly = describe.skipIf(unsupportedHere() !== undefined)

beforeAll(async () => {
  if (unsupportedHere()) return
  const host = ensureVsCodeHost()
  vsix = await packageExtension(`linux-${process.arch}`, join(HOST_DIR, 'vsix'))
  const driver = packageDriver(join(HOST_DIR, 'driver-vsix'))
  rmSync(trace, { force: true })
  session = await HostSession.start({ host, vsixes: [vsix, driver], dir, env: { WASM_PROBE_EXAMPLE_TRACE: trace } })
})

afterAll(async () => {
  await session?.stop()
})

linuxOnly('the example extension in the real VS Code extension host', () => {
  test('activates on its first command and maps the one .node of its VSIX', async () => {
    const { versions, vscode, execPath } = await session.call('process')
    expect(vscode).toBe('1.139.1')
    expect(versions.node).toMatch(/^24\./)
    expect(versions.electron).toBeUndefined()
    expect(await session.call('extension', { id: EXAMPLE_ID })).toMatchObject({ isActive: false })

    const first = await session.call('firstResult', { id: EXAMPLE_ID, command: 'wasmProbe.runBundled', args: ['word-count', { text: 'one two three' }] })
    expect(first.wasActive).toBe(false)
    expect(first.value).toMatchObject({ ok: true, result: { output: { words: 3 } } })
    expect(first.value.loadedFrom).toMatch(/dist\/guests\/word-count\.cwasm$/)
    const { extensionPath } = await session.call('extension', { id: EXAMPLE_ID })
    expect(extensionPath.startsWith(join(dir, 'extensions'))).toBe(true)
    const natives = (await session.call('nativeModules')).paths
    console.log(`[vscode] extension host: node ${versions.node} (${execPath}), modules ${versions.modules}, napi ${versions.napi}; first result ${first.totalMs.toFixed(0)} ms`)
    const binary = `wasm-probe-runtime.${TARGETS[`linux-${process.arch}`].binary}.node`
    expect(natives.filter((p) => p.includes('wasm-probe-runtime'))).toEqual([join(extensionPath, 'dist', 'wasm-probe-runtime', binary)])
  })
})

linuxOnly('its commands in the real extension host', () => {
  const run = (file, input) => session.command('wasmProbe.run', file, input)

  test('"Run a probe…" runs a WAT, a C and a JavaScript probe; their logs reach the output channel', async () => {
    const wat = await run(join(root, 'examples', 'guests', 'wat', 'word-count.wat'), { text: 'three small words' })
    expect(wat).toMatchObject({ ok: true, result: { success: true, output: { words: 3 } } })
    const c = await run(guest('c/greet.wasm'), { name: 'Ada' })
    expect(c).toMatchObject({ ok: true, result: { output: { greeting: 'hello, Ada', language: 'c' } } })
    // The 12 MB componentize-js guest, compiled in the host (a compile-worker child of its Node).
    const js = await run(guest('js/greet.wasm'), { name: 'Grace' })
    expect(js).toMatchObject({ ok: true, result: { output: { greeting: 'hello, Grace', language: 'javascript' } } })
    const bundled = await session.command('wasmProbe.runBundled', 'greet', { name: 'Linus' })
    expect(bundled).toMatchObject({ ok: true, result: { output: { greeting: 'hello, Linus' } } })
    expect(bundled.loadedFrom).toMatch(/dist\/guests\/greet\.cwasm$/)
    const failed = await run(guest('js/greet.wasm'), {})
    expect(failed).toMatchObject({ ok: false, result: { success: false, error: 'input has no "name"' } })
    console.log(`[vscode] in the host: WAT ${wat.result.latencyMs.toFixed(2)} ms, C ${c.result.latencyMs.toFixed(2)} ms, JS (compiled here) ${js.result.latencyMs.toFixed(1)} ms, JS bundled ${bundled.result.latencyMs.toFixed(1)} ms`)

    // What VS Code itself wrote for the "Wasm Probe" output channel.
    const channel = await waitFor('the output channel to hold the JavaScript probe’s result', () => {
      const text = session.outputChannel('Wasm Probe')
      return text.includes('hello, Linus') && text
    }, 20_000)
    expect(channel).toMatch(/guest\/info: counted words$/m)
    expect(channel).toMatch(/word-count\.wat: \{"words":3\} \([\d.]+ ms\)$/m)
    expect(channel).toMatch(/guest\/info: c probe done$/m)
    expect(channel).toMatch(/stdout\/info: greeting Ada from C$/m)
    expect(channel).toMatch(/guest\/info: js probe greeting "Grace"$/m)
    expect(channel).toMatch(/greet\.wasm: \{"greeting":"hello, Grace","language":"javascript"/m)
    expect(channel).toMatch(/greet\.wasm reported failure: input has no "name"/)
  })

  test('cancelling the progress notification (its Cancel button) cancels the running probe', async () => {
    // The earlier commands' notifications would stack over the new one, and move it as they go.
    await session.command('notifications.clearAll')
    await inWindow('no notifications', () => document.querySelectorAll('.notification-toast').length === 0)
    const running = run(watGuest('loop.wat'), null)
    // Settled (and checked below) even when the wait for the button fails first.
    running.catch(() => {})
    // The notification VS Code shows for withProgress({ cancellable: true }), clicked in the window.
    // Found once its toast has faded in: a click during the animation can land beside it.
    const cancel = await inWindow('the progress notification’s Cancel button', () => {
      for (const toast of document.querySelectorAll('.notification-toast.notification-fade-in-done')) {
        if (!toast.textContent.includes('Running probe')) continue
        return [...toast.querySelectorAll('.monaco-button')].find((b) => b.textContent.trim() === 'Cancel')
      }
    })
    await clickWhenStill(cancel.asElement())
    const summary = await running
    expect(summary).toMatchObject({ ok: false, code: 'ERR_WASM_CANCELLED' })
    // The runtime is not left busy: the next probe runs at once.
    expect(await run(join(root, 'examples', 'guests', 'wat', 'word-count.wat'), { text: 'after' })).toMatchObject({ ok: true })
  })

  test('"Count the words of this document" calls the typed export with the document’s text', async () => {
    await session.call('openDocument', { content: 'one two\nthree four\nfive' })
    const summary = await session.command('wasmProbe.documentStats')
    expect(summary).toEqual({ ok: true, value: { words: 5, lines: 3, longestWord: 'three' } })
    // The notification the command showed, as the window renders it: as a toast, or — when VS
    // Code did not show it as one (a toast can be hidden again after a while, and a busy window
    // may never have shown it) — in the notification center, which lists every notification.
    const shown = () =>
      [...document.querySelectorAll('.notification-list-item-message')].some((m) => m.textContent.includes('5 words, 3 lines, longest word: three'))
    const asToast = await session.page.waitForFunction(shown, { timeout: 10_000, polling: 200 }).then(
      () => true,
      () => false,
    )
    if (!asToast) {
      console.warn('[vscode] the word-count notification was not seen as a toast; looking in the notification center')
      await session.command('notifications.showList')
      await inWindow('the word-count notification', shown)
      await session.command('notifications.hideList')
    }
    await session.command('wasmProbe.showLog')
    await waitFor('the output channel to hold the word count', () => session.outputChannel('Wasm Probe').includes('5 words, 3 lines'), 20_000)
    await inWindow('the word count in the output panel', () => document.querySelector('.part.panel')?.innerText.replace(/\s+/g, ' ').includes('Untitled-1: 5 words, 3 lines'))
    await session.command('workbench.action.closeAuxiliaryBar')
    await session.page.mouse.move(600, 300) // no hover tooltip in the picture
    await session.page.screenshot({ path: screenshot })
    expect(statSync(screenshot).size).toBeGreaterThan(10_000)
  })

  test('deactivate() closes the runtime and the extension host exits', async () => {
    const old = session.driver.pid
    // reloadWindow() waits for the old extension host's process to be gone.
    await session.reloadWindow()
    const events = traced().filter((e) => e.pid === old)
    expect(events.map((e) => e.event)).toEqual(['activated', 'deactivated'])
    // The new extension host works the same; the example activates there again on its command.
    expect(await session.command('wasmProbe.runBundled', 'word-count', { text: 'again' })).toMatchObject({ ok: true })
    const now = session.driver.pid
    expect(traced().filter((e) => e.pid === now).map((e) => e.event)).toEqual(['activated'])
    // Stopping code-server: every process of it, the extension host with the addon loaded
    // included, exits by itself (none had to be killed). (code-server ends its extension hosts
    // on SIGTERM without deactivating their extensions: only a window's end runs deactivate().)
    const killed = await session.stop()
    session = undefined
    expect(killed).toEqual([])
    expect(isAlive(now)).toBe(false)
  })
})
