// JSON for values that come out of typed calls: bigint as its decimal string (JSON has no
// 64-bit integers), byte lists as arrays of numbers.
const replacer = (_key, value) =>
  typeof value === 'bigint' ? value.toString() : value instanceof Uint8Array ? Array.from(value) : value

export const toJson = (value) => JSON.stringify(value, replacer)

const WIDE = new Set(['s64', 'u64', 'i64'])
const INTEGER_TEXT = /^-?\d+$/

/** JSON has no bigint: a top-level argument of a 64-bit parameter may come as a decimal string. */
export function widenArgs(fn, args) {
  if (!fn) return args
  return args.map((arg, i) => {
    const param = fn.params[i]
    return param && WIDE.has(param.type) && typeof arg === 'string' && INTEGER_TEXT.test(arg) ? BigInt(arg) : arg
  })
}
