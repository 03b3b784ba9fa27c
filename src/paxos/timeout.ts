import { assert } from '../util/assert.js'
import type { RandomSource } from './ready.js'

/**
 * The node's logical clock as its timeouts read it: `now` counts `tick()` calls. The core never
 * reads a wall clock, so every timeout is a number of ticks on this one counter.
 */
export interface TickClock {
  readonly now: number
}

/**
 * Jitter for retries: each start adds a whole number of ticks drawn uniformly from
 * [0, spread], so nodes that began retrying on the same tick (after a partition heals, a
 * leader change) drift apart instead of retrying in lockstep.
 */
export interface Jitter {
  readonly random: RandomSource
  readonly spread: number
}

/** The usual jitter of a retry interval: up to half of it. */
export function retryJitter (random: RandomSource, interval: number): Jitter | undefined {
  const spread = Math.floor(interval / 2)
  return spread > 0 ? { random, spread } : undefined
}

/**
 * One timeout on the node's logical clock: started at some tick, it has expired once
 * `duration` ticks have passed. It replaces the tick counters the core used to keep by hand
 * (election, heartbeat, check-quorum, transfer, accept and prepare retransmission, catch-up
 * retry and expiry, polling), which differed in whether they counted up, compared
 * timestamps, or reset themselves, and so were easy to get subtly wrong.
 *
 * A timeout that was never started (or was stopped) is not running: `due()` is true for it, so
 * "send unless a request went out within the retry interval" is `due()`, and a first request
 * goes out at once.
 */
export class Timeout {
  private readonly clock: TickClock
  private readonly jitter: Jitter | undefined
  /** The duration before jitter. */
  private base: number
  private length: number
  private startedAt: number | undefined

  constructor (clock: TickClock, duration: number, jitter?: Jitter) {
    assertDuration(duration)
    assert(jitter === undefined || (Number.isSafeInteger(jitter.spread) && jitter.spread >= 0), 'jitter spread is a whole number of ticks')
    this.clock = clock
    this.jitter = jitter
    this.base = duration
    this.length = duration
  }

  /** The ticks from the last start to expiry (jitter included). */
  get duration (): number {
    return this.length
  }

  get running (): boolean {
    return this.startedAt !== undefined
  }

  /**
   * (Re)starts from the current tick; with a duration, it replaces the previous one. With
   * jitter, every start draws the extra ticks anew.
   */
  start (duration: number = this.base): this {
    assertDuration(duration)
    this.base = duration
    this.length = this.jitter === undefined ? duration : duration + this.jitter.random.int(0, this.jitter.spread + 1)
    this.startedAt = this.clock.now
    return this
  }

  stop (): void {
    this.startedAt = undefined
  }

  /** Ticks since the last start. Asking a stopped timeout is a bug. */
  elapsed (): number {
    assert(this.startedAt !== undefined, 'elapsed() of a timeout that is not running')
    return this.clock.now - this.startedAt
  }

  /** Running, and `duration` ticks or more have passed since it started. */
  expired (): boolean {
    return this.startedAt !== undefined && this.clock.now - this.startedAt >= this.length
  }

  /** Not running, or expired: what "may we (re)send now?" asks. */
  due (): boolean {
    return this.startedAt === undefined || this.clock.now - this.startedAt >= this.length
  }

  /**
   * For periodic work: if expired, restarts (keeping the duration) and returns true. Called
   * once per tick, it fires every `duration` ticks after the last start.
   */
  fire (): boolean {
    if (!this.expired()) return false
    this.start()
    return true
  }
}

function assertDuration (duration: number): void {
  assert(Number.isSafeInteger(duration) && duration > 0, () => `a timeout lasts a positive whole number of ticks, got ${duration}`)
}
