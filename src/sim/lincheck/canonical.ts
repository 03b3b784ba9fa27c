/**
 * A canonical text form of plain data, for the generic model checker's defaults: two values
 * get the same string exactly when they hold the same data. Unlike `JSON.stringify`, object
 * keys are sorted (key order is an accident of construction, not data), `Map` and `Set` keep
 * their contents (JSON would print `{}` for both, merging distinct states, which would make the
 * search prune orders it never explored), and `undefined`, `NaN`, `-0` and bigints stay
 * distinct from their look-alikes.
 *
 * Class instances are compared by their own enumerable fields; a model whose state needs more
 * (private `#fields`, cycles) supplies `stateKey` / `equal` instead.
 */
export function canonical (value: unknown): string {
  return write(value, new Set())
}

function write (value: unknown, path: Set<object>): string {
  switch (typeof value) {
    case 'undefined': return 'undefined'
    case 'boolean': return value ? 'true' : 'false'
    case 'string': return JSON.stringify(value)
    case 'bigint': return `${value}n`
    case 'number':
      // String() already tells NaN and ±Infinity apart; only -0 prints like 0.
      return Object.is(value, -0) ? '-0' : String(value)
    case 'symbol': return value.toString()
    case 'function': return `function ${value.name}`
    case 'object': break
  }
  if (value === null) return 'null'
  const object = value as object
  if (path.has(object)) throw new TypeError('canonical: the value contains a cycle; supply stateKey/equal on the model')
  path.add(object)
  try {
    if (Array.isArray(object)) return `[${object.map(item => write(item, path)).join(',')}]`
    if (object instanceof Uint8Array) return `bytes(${Array.from(object).join(',')})`
    if (object instanceof Map) {
      const entries = [...object].map(([k, v]) => `${write(k, path)}=>${write(v, path)}`).sort()
      return `Map{${entries.join(',')}}`
    }
    if (object instanceof Set) return `Set{${[...object].map(item => write(item, path)).sort().join(',')}}`
    const keys = Object.keys(object).sort()
    return `{${keys.map(k => `${JSON.stringify(k)}:${write((object as Record<string, unknown>)[k], path)}`).join(',')}}`
  } finally {
    path.delete(object)
  }
}
