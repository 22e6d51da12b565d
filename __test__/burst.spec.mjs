// Outcomes from the pool arrive in bursts when many calls finish together (issue 14). Node runs up
// to 1000 threadsafe-function callbacks in one turn of the event loop; the runtime handles a
// burst for a bounded time per turn (lib/dispatch.js), so timers still run between its parts.
// Observed through the order of events — how many outcomes settle between two timer ticks — never
// through a timed assertion.
import { expect, test } from 'vitest'
import { WasmRuntime, watGuest } from './helpers.mjs'

/** Keeps the JS thread busy for `ms`, as a caller's continuation doing real work would. */
function busy(ms) {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

test('a burst of outcomes lets timers run between its parts, and settles every call in order', async () => {
  const rt = new WasmRuntime({ inline: false })
  const m = await rt.loadModule(watGuest('echo.wat'))
  const events = []
  const ticker = setInterval(() => events.push('tick'), 1)
  const settled = []
  const calls = Array.from({ length: 1500 }, (_, i) =>
    rt.executeProbe(m, { i }).then((r) => {
      settled.push(r.output.i)
      events.push('settled')
      busy(0.2)
    }),
  )
  await Promise.all(calls)
  clearInterval(ticker)
  // Every call settled exactly once, with its own output.
  expect(settled.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 1500 }, (_, i) => i))
  // The longest run of outcomes with no timer tick between them: about a turn's budget (1 ms of
  // 0.2 ms continuations), where one turn of the threadsafe function alone would hold ~1000.
  let run = 0
  let longest = 0
  for (const e of events) {
    run = e === 'tick' ? 0 : run + 1
    longest = Math.max(longest, run)
  }
  expect(events.filter((e) => e === 'tick').length).toBeGreaterThan(10)
  expect(longest).toBeLessThan(100)
  await rt.close()
})
