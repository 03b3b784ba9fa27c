/**
 * A small seeded PRNG of our own: xoshiro128** (128-bit state, 32-bit output), seeded through
 * splitmix32. We avoid `Math.random` because the study must be reproducible bit for bit: the
 * same seed and the same parameters must print the same numbers on every run.
 *
 * Only 32-bit integer arithmetic (`Math.imul`, `>>>`) is used, so the stream does not depend on
 * the platform. Doubles are built from 53 random bits, giving every multiple of 2^-53 in [0, 1).
 */

/** splitmix32 step: a good bit mixer used to expand a small seed into the 128-bit state. */
function splitmix32 (state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0
  let z = state.s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a over a string: turns a stream label into 32 bits so sub-streams can be named. */
export function hash32 (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /**
   * `seed` is any integer (taken modulo 2^32, then mixed); `stream` names an independent
   * sub-stream so that, e.g., each grid point gets its own numbers whatever else is in the grid.
   */
  constructor (seed: number, stream = '') {
    const st = { s: (Math.trunc(seed) ^ Math.imul(hash32(stream), 0x27d4eb2d)) | 0 }
    this.a = splitmix32(st)
    this.b = splitmix32(st)
    this.c = splitmix32(st)
    this.d = splitmix32(st)
    // xoshiro must never have an all-zero state; splitmix32 makes that astronomically unlikely,
    // but one cheap check turns "astronomically unlikely" into "impossible".
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextU32 (): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next (): number {
    const hi = this.nextU32() >>> 5 // 27 bits
    const lo = this.nextU32() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Exponential variate with the given rate (mean 1/rate). Uses 1-u so log never sees 0. */
  exp (rate: number): number {
    return -Math.log(1 - this.next()) / rate
  }
}

function rotl (x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
