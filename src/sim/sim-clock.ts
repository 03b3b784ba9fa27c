import type { Clock } from '../contracts/index.js'
import { assert } from '../util/assert.js'
import type { Scheduler, TimerHandle } from './scheduler.js'
import { InvalidSimOptionError } from './sim-errors.js'

export interface SimClockOptions {
  /**
   * How fast this node's clock runs against virtual time: 1 is real speed, 1.1 means its local
   * milliseconds pass 10% faster, so its timers fire 10% sooner in virtual time. Models the
   * tick-rate skew between machines that timeouts must tolerate. Default 1.
   */
  rate?: number
  /** Local time at virtual time 0, so nodes need not agree on the absolute time. Default 0. */
  offsetMs?: number
}

/** One live timer of this clock: its next firing, in local time and as a scheduler entry. */
interface ClockTimer {
  targetLocalMs: number
  readonly fire: () => void
  readonly label: string
  handle: TimerHandle | undefined
}

/**
 * A node's `Clock` in the simulator: local time is `offsetMs + rate × virtual time`, and timers
 * given in local milliseconds become scheduler events at the matching virtual time.
 *
 * `stopAll()` is what a crash does to a node's timers: none of them fires again, including a
 * periodic one whose callback is running right now. A restarted node gets a new SimClock (or
 * keeps this one; it stays usable after `stopAll`).
 */
export class SimClock implements Clock {
  readonly #scheduler: Scheduler
  #rate: number
  #offsetMs: number
  readonly #timers = new Set<ClockTimer>()

  constructor (scheduler: Scheduler, options: SimClockOptions = {}) {
    this.#scheduler = scheduler
    const rate = options.rate ?? 1
    const offsetMs = options.offsetMs ?? 0
    checkRate(rate)
    if (!Number.isFinite(offsetMs)) {
      throw new InvalidSimOptionError(`clock offsetMs must be finite, got ${offsetMs}`, 'offsetMs')
    }
    this.#rate = rate
    this.#offsetMs = offsetMs
  }

  get rate (): number {
    return this.#rate
  }

  /** Number of timers that may still fire (for tests and leak checks). */
  get activeTimers (): number {
    return this.#timers.size
  }

  nowMs (): number {
    return this.#offsetMs + this.#rate * this.#scheduler.now()
  }

  /**
   * Changes the rate from now on (clock drift that varies during a run). Local time stays
   * continuous, and every pending timer is moved so that it still fires at its local due time.
   */
  setRate (rate: number): void {
    checkRate(rate)
    const localMs = this.nowMs()
    this.#rate = rate
    this.#offsetMs = localMs - rate * this.#scheduler.now()
    // Set iteration follows insertion order, so the rescheduling is deterministic.
    for (const timer of this.#timers) {
      if (timer.handle !== undefined) this.#scheduler.cancel(timer.handle)
      this.#schedule(timer)
    }
  }

  after (delayMs: number, fn: () => void): () => void {
    assert(delayMs >= 0 && Number.isFinite(delayMs), () => `clock delay must be finite and ≥ 0, got ${delayMs}`)
    const timer: ClockTimer = {
      targetLocalMs: this.nowMs() + delayMs,
      fire: () => {
        this.#timers.delete(timer)
        timer.handle = undefined
        fn()
      },
      label: 'clock.after',
      handle: undefined
    }
    this.#schedule(timer)
    this.#timers.add(timer)
    return () => { this.#stop(timer) }
  }

  every (intervalMs: number, fn: () => void): () => void {
    assert(intervalMs > 0 && Number.isFinite(intervalMs), () => `clock interval must be finite and > 0, got ${intervalMs}`)
    // Firings are due at start + k × interval in local time. Computing each target from the
    // start (not from the previous firing) keeps rounding error from accumulating over a run.
    const startMs = this.nowMs()
    let firings = 0
    const timer: ClockTimer = {
      targetLocalMs: startMs + intervalMs,
      fire: () => {
        firings++
        timer.targetLocalMs = startMs + (firings + 1) * intervalMs
        this.#schedule(timer)
        fn() // After rescheduling, so a cancel() from inside fn stops the next firing.
      },
      label: 'clock.every',
      handle: undefined
    }
    this.#schedule(timer)
    this.#timers.add(timer)
    return () => { this.#stop(timer) }
  }

  /** Cancels every timer of this clock (a crash). The clock can be used again afterwards. */
  stopAll (): void {
    for (const timer of this.#timers) {
      if (timer.handle !== undefined) this.#scheduler.cancel(timer.handle)
      timer.handle = undefined
    }
    this.#timers.clear()
  }

  #schedule (timer: ClockTimer): void {
    // Rounding can put the virtual target a hair before now; never schedule into the past.
    const targetVirtualMs = Math.max(this.#scheduler.now(), (timer.targetLocalMs - this.#offsetMs) / this.#rate)
    timer.handle = this.#scheduler.at(targetVirtualMs, timer.fire, timer.label)
  }

  #stop (timer: ClockTimer): void {
    if (!this.#timers.delete(timer)) return
    if (timer.handle !== undefined) this.#scheduler.cancel(timer.handle)
    timer.handle = undefined
  }
}

function checkRate (rate: number): void {
  if (!(rate > 0) || !Number.isFinite(rate)) {
    throw new InvalidSimOptionError(`clock rate must be finite and > 0, got ${rate}`, 'rate')
  }
}
