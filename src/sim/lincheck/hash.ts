/** Small non-cryptographic hashes for the search cache. Collisions cost time, never correctness. */

/** Finaliser of murmur3: spreads the bits of a 32-bit integer. */
export function mix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export function hashString (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32(h)
}

const float = new Float64Array(1)
const words = new Uint32Array(float.buffer)

export function hashNumber (n: number): number {
  float[0] = n
  return mix32((words[0] ?? 0) ^ mix32((words[1] ?? 0) + 0x9e3779b9))
}

/**
 * A deterministic stream of 32-bit words (splitmix32) for Zobrist tables: the same history
 * must always take the same search path, so `maxSteps` results are reproducible.
 */
export function zobristTable (length: number, seed: number): Uint32Array {
  const table = new Uint32Array(length)
  let state = seed >>> 0
  for (let i = 0; i < length; i++) {
    state = (state + 0x9e3779b9) >>> 0
    table[i] = mix32(state)
  }
  return table
}
