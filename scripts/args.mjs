// Command-line options of the scripts that take numbers (fuzz, soak): `--name N`.

/** The whole number after `name` in the command line, at least `min`; `fallback` when absent. */
export function wholeNumberArg(name, fallback, min = 0) {
  const argv = process.argv.slice(2)
  const at = argv.indexOf(name)
  if (at < 0) return fallback
  const v = Number(argv[at + 1])
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} needs a whole number of at least ${min}, received ${argv[at + 1]}`)
  return v
}
