// A JavaScript probe from source: no build step. `npm run demo` loads it with loadModule (a .mjs
// path is a script); run it alone with `npx wasm-probe run examples/guests/scripts/summary.mjs
// --input '{"text":"one two three"}'`.
export async function execute(input) {
  const words = input.text.split(/\s+/).filter(Boolean)
  console.log(`summarising ${words.length} words`)
  const longest = words.reduce((a, b) => (b.length > a.length ? b : a), '')
  return { words: words.length, longest, upper: longest.toUpperCase() }
}
