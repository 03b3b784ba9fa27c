import { assert } from '../util/assert.js'
import { InvalidSimOptionError } from './sim-errors.js'
import { shuffleInPlace } from '../util/shuffle.js'

const TWO_POW_32 = 0x1_0000_0000
const TWO_POW_53 = 2 ** 53
const TWO_POW_21 = 0x20_0000

/**
 * A 32-bit finalizer (xorshift-multiply, in the family of MurmurHash3's `fmix32`). It is a
 * bijection on 32-bit words, so distinct seed words always give distinct generator states.
 */
function mix32 (value: number): number {
  let z = value | 0
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d)
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * Hashes a label into a 32-bit word, starting from `basis`. FNV-1a over UTF-16 code units, then
 * `mix32` so that labels differing in one character still differ in every output bit.
 */
function hashLabel (label: string, basis: number): number {
  let h = (basis ^ 0x811c9dc5) >>> 0
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32(h ^ label.length)
}

/**
 * A seeded pseudo-random generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" generator,
 * 128 bits of state, passes PractRand to terabytes), seeded from a non-negative safe integer.
 *
 * Every random choice of a simulation comes from one of these, so a run is reproduced exactly by
 * its seed. Subsystems take their own stream with `fork(label)`: a child depends only on the
 * parent's seed and the label, never on how many values the parent has drawn, so adding a draw
 * to the network model does not change which node the crash model picks.
 *
 * Not for cryptography.
 */
export class Prng {
  readonly #seed: number
  #a: number
  #b: number
  #c: number
  #d: number

  /** `seed` must be a safe integer in [0, 2^53), so it can be printed and typed back in. */
  constructor (seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new InvalidSimOptionError(`seed must be an integer in [0, 2^53), got ${seed}`, 'seed')
    }
    this.#seed = seed
    const lo = seed >>> 0
    const hi = Math.floor(seed / TWO_POW_32) >>> 0
    // Three words from bijections of the seed halves (distinct seeds ⇒ distinct states); the
    // counter word starts at 1 as sfc32 recommends.
    this.#a = mix32(lo ^ 0x9e3779b9)
    this.#b = mix32(hi ^ 0x7f4a7c15)
    this.#c = mix32((lo + 0x6a09e667) ^ Math.imul(hi, 0x3c6ef372))
    this.#d = 1
    // sfc32 needs a few rounds before nearby seeds decorrelate.
    for (let i = 0; i < 15; i++) this.next()
  }

  /** The seed this stream was created from (for a child, the one `fork` derived). */
  get seed (): number {
    return this.#seed
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  next (): number {
    const a = this.#a
    const b = this.#b
    const c = this.#c
    const t = (((a + b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = b ^ (b >>> 9)
    this.#b = (c + (c << 3)) | 0
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0
    return t >>> 0
  }

  /** A uniform float in [0, 1) with 53 random bits (two draws). */
  float (): number {
    const hi = this.next() >>> 5 // 27 bits
    const lo = this.next() >>> 6 // 26 bits
    return (hi * 0x400_0000 + lo) / TWO_POW_53
  }

  /** A uniform integer in [minInclusive, maxExclusive), without modulo bias. */
  int (minInclusive: number, maxExclusive: number): number {
    assert(Number.isSafeInteger(minInclusive) && Number.isSafeInteger(maxExclusive),
      () => `int bounds must be safe integers, got [${minInclusive}, ${maxExclusive})`)
    const range = maxExclusive - minInclusive
    assert(range > 0 && Number.isSafeInteger(range),
      () => `int range must be non-empty and below 2^53, got [${minInclusive}, ${maxExclusive})`)
    if (range <= TWO_POW_32) {
      // Rejection sampling: accept only draws below the largest multiple of `range`, so every
      // residue is equally likely. At most half the draws are rejected, usually almost none.
      const limit = TWO_POW_32 - (TWO_POW_32 % range)
      let x = this.next()
      while (x >= limit) x = this.next()
      return minInclusive + (x % range)
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % range)
    let x = this.#next53()
    while (x >= limit) x = this.#next53()
    return minInclusive + (x % range)
  }

  /** True with probability `p` (0 ≤ p ≤ 1). Always draws, so `p` never shifts later draws. */
  chance (p: number): boolean {
    assert(p >= 0 && p <= 1, () => `probability must be in [0, 1], got ${p}`)
    return this.float() < p
  }

  /** A uniformly chosen element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty list')
    return items[this.int(0, items.length)] as T
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    return shuffleInPlace(items, this)
  }

  /** An exponentially distributed value with the given mean (≥ 0); always finite. */
  exponential (mean: number): number {
    assert(mean >= 0 && Number.isFinite(mean), () => `exponential mean must be finite and ≥ 0, got ${mean}`)
    // 1 - float() is in (0, 1], so the logarithm is finite.
    return -mean * Math.log(1 - this.float())
  }

  /**
   * An independent child stream, derived from this stream's seed and `label` only. The same
   * label always yields the same child (and drawing from the child never moves the parent), so
   * give each subsystem or node its own label: `prng.fork('network')`, `prng.fork('node:n1')`.
   */
  fork (label: string): Prng {
    const lo = this.#seed >>> 0
    const hi = Math.floor(this.#seed / TWO_POW_32) >>> 0
    const basis = mix32(lo ^ mix32(hi ^ 0x243f6a88))
    const h1 = hashLabel(label, basis)
    const h2 = hashLabel(label, mix32(basis ^ 0xb7e15162))
    return new Prng((h1 % TWO_POW_21) * TWO_POW_32 + h2)
  }

  #next53 (): number {
    return (this.next() % TWO_POW_21) * TWO_POW_32 + this.next()
  }
}
