import { zobristTable } from './hash.ts'

/**
 * The set of operations linearized so far, as a bitset with an incrementally maintained
 * Zobrist hash: adding or removing one operation is O(1), so the search can consult its cache
 * on every step without rehashing n/32 words. Two independent 32-bit halves give a 53-bit key.
 */
export class LinearizedSet {
  readonly words: Uint32Array
  private readonly zobristLo: Uint32Array
  private readonly zobristHi: Uint32Array
  hashLo = 0
  hashHi = 0

  constructor (size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32))
    this.zobristLo = zobristTable(size, 0x6a09e667)
    this.zobristHi = zobristTable(size, 0xbb67ae85)
  }

  /** Adds or removes `index`: the two are the same operation on the bits and on the hash. */
  flip (index: number): void {
    const w = index >>> 5
    this.words[w] = (this.words[w] ?? 0) ^ (1 << (index & 31))
    this.hashLo = (this.hashLo ^ (this.zobristLo[index] ?? 0)) >>> 0
    this.hashHi = (this.hashHi ^ (this.zobristHi[index] ?? 0)) >>> 0
  }

  has (index: number): boolean {
    return (((this.words[index >>> 5] ?? 0) >>> (index & 31)) & 1) === 1
  }

  sameBits (other: Uint32Array): boolean {
    const words = this.words
    for (let i = 0; i < words.length; i++) if (words[i] !== other[i]) return false
    return true
  }
}
