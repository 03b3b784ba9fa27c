import { zobristTable } from './hash.js'

/**
 * The set of operations linearized so far, as a bitset, with two properties the search's cache
 * needs:
 *
 * - An incrementally maintained Zobrist hash of the required operations: adding or removing
 *   one is O(1), so the cache can be consulted on every step without rehashing. Two independent
 *   32-bit halves give a 53-bit key. Optional operations are left out of the hash because the
 *   cache compares them by inclusion, not equality (see `covers`).
 * - A compact snapshot. Required operations get bits in call order, and WGL linearizes an
 *   operation only when every required operation that returned before its call is already
 *   linearized. So the required bits are all ones up to a low word and all zeros above a high
 *   word, and only the words in between (about as many as there are concurrent operations)
 *   need storing. Optional operations get words of their own above the required ones.
 */
export class LinearizedSet {
  readonly hashes: { lo: number, hi: number } = { lo: 0, hi: 0 }
  private readonly words: Uint32Array
  private readonly bitOf: Int32Array
  private readonly zobristLo: Uint32Array
  private readonly zobristHi: Uint32Array
  private readonly requiredWords: number
  private readonly lastRequiredMask: number
  /** Invariant: every required word below `low` is full. */
  private low = 0
  /** Invariant: every required word above `high` is empty. */
  private high = -1

  /**
   * @param callOrder op indexes of the required operations in call order, then the optional ones
   * @param requiredCount how many of `callOrder` are required
   */
  constructor (callOrder: readonly number[], requiredCount: number) {
    const size = callOrder.length
    this.requiredWords = Math.ceil(requiredCount / 32)
    const optionalWords = Math.ceil((size - requiredCount) / 32)
    const rest = requiredCount % 32
    this.lastRequiredMask = rest === 0 ? 0xffffffff : ((1 << rest) - 1) >>> 0
    this.words = new Uint32Array(this.requiredWords + optionalWords)
    this.bitOf = new Int32Array(size)
    callOrder.forEach((opIndex, position) => {
      this.bitOf[opIndex] = position < requiredCount ? position : this.requiredWords * 32 + position - requiredCount
    })
    this.zobristLo = zobristTable(size, 0x6a09e667)
    this.zobristHi = zobristTable(size, 0xbb67ae85)
    for (const opIndex of callOrder.slice(requiredCount)) {
      this.zobristLo[opIndex] = 0
      this.zobristHi[opIndex] = 0
    }
  }

  /** Adds or removes an operation: the two are the same operation on the bits and on the hash. */
  flip (opIndex: number): void {
    const bit = this.bitOf[opIndex] ?? 0
    const w = bit >>> 5
    const words = this.words
    words[w] = (words[w] ?? 0) ^ (1 << (bit & 31))
    this.hashes.lo = (this.hashes.lo ^ (this.zobristLo[opIndex] ?? 0)) >>> 0
    this.hashes.hi = (this.hashes.hi ^ (this.zobristHi[opIndex] ?? 0)) >>> 0
    if (w >= this.requiredWords) return
    while (this.low < this.requiredWords && this.isFull(this.low)) this.low++
    if (w < this.low && !this.isFull(w)) this.low = w
    if (words[w] !== 0 && w > this.high) this.high = w
    while (this.high >= 0 && words[this.high] === 0) this.high--
  }

  /** `[low, high, required words low..high, optional words]`. */
  snapshot (): Uint32Array {
    const span = Math.max(0, this.high - this.low + 1)
    const optional = this.words.length - this.requiredWords
    const out = new Uint32Array(2 + span + optional)
    out[0] = this.low
    out[1] = this.high + 1
    if (span > 0) out.set(this.words.subarray(this.low, this.high + 1), 2)
    out.set(this.words.subarray(this.requiredWords), 2 + span)
    return out
  }

  /**
   * True when this set has the same required operations as `snapshot` and at least its
   * optional ones. A configuration that linearized more optional operations to reach the same
   * state has only fewer choices left, so if `snapshot`'s configuration failed, this one fails.
   */
  covers (snapshot: Uint32Array): boolean {
    if (snapshot[0] !== this.low || snapshot[1] !== this.high + 1) return false
    const span = Math.max(0, this.high - this.low + 1)
    const words = this.words
    for (let i = 0; i < span; i++) if (snapshot[2 + i] !== words[this.low + i]) return false
    const optionalAt = 2 + span - this.requiredWords
    for (let i = this.requiredWords; i < words.length; i++) {
      const theirs = snapshot[optionalAt + i] ?? 0
      if ((theirs & (words[i] ?? 0)) !== theirs) return false
    }
    return true
  }

  /** For two snapshots with the same required part: is `a`'s optional part a subset of `b`'s? */
  static optionalSubset (a: Uint32Array, b: Uint32Array): boolean {
    const optionalAt = 2 + Math.max(0, (a[1] ?? 0) - (a[0] ?? 0))
    for (let i = optionalAt; i < a.length; i++) {
      const word = a[i] ?? 0
      if ((word & (b[i] ?? 0)) !== word) return false
    }
    return true
  }

  /** Same required part (the optional parts are then aligned word for word). */
  static sameRequired (a: Uint32Array, b: Uint32Array): boolean {
    if (a[0] !== b[0] || a[1] !== b[1]) return false
    const end = 2 + Math.max(0, (a[1] ?? 0) - (a[0] ?? 0))
    for (let i = 2; i < end; i++) if (a[i] !== b[i]) return false
    return true
  }

  private isFull (w: number): boolean {
    const mask = w === this.requiredWords - 1 ? this.lastRequiredMask : 0xffffffff
    return ((this.words[w] ?? 0) & mask) === mask
  }
}
