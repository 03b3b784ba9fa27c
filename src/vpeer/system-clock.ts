import { performance } from 'node:perf_hooks'
import type { Clock } from '../contracts/index.js'
import { CodedError, InvalidArgumentError } from '../util/errors.js'

/** `every`/`after` on a clock after its `stop()`: the timer would outlive the owner's shutdown. */
export class ClockStoppedError extends CodedError {
  static override name = 'ClockStoppedError'
  constructor (message = 'the clock is stopped') {
    super(message, 'ERR_CLOCK_STOPPED')
  }
}

export interface SystemClockOptions {
  /**
   * Receives what a timer callback threw. The timer itself stays scheduled (an interval keeps
   * firing). Default: rethrow asynchronously with `queueMicrotask`, which makes the error an
   * `uncaughtException` — as loud as a throw from a bare `setInterval` callback (by default the
   * process exits), and never swallowed. Pass a handler to log and carry on instead.
   */
  readonly onError?: (error: unknown) => void
}

// Node's timers hold a signed 32-bit millisecond count; a larger delay is silently replaced by
// 1 ms (with only a process warning), which would turn "in 30 days" into "now".
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * `Clock` over real time, for production and real-time examples (the simulator injects its
 * virtual `SimClock` instead).
 *
 * `nowMs()` is `performance.now()`: milliseconds since the process started, from a monotonic
 * source. The runtime only ever subtracts two readings (how long a proposal or read has waited);
 * `Date.now()` follows the wall clock, which NTP or an administrator can step backwards or
 * forwards, and a step would make waits look negative or huge — stalling retries or firing them
 * all at once. A monotonic reading never goes back and is unaffected by wall-clock changes.
 */
export class SystemClock implements Clock {
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly onError: (error: unknown) => void
  private stopped = false

  constructor (options: SystemClockOptions = {}) {
    this.onError = options.onError ?? rethrowAsync
  }

  nowMs (): number {
    return performance.now()
  }

  /**
   * The epoch time at which this process started plus the monotonic time since: epoch-aligned
   * like `Date.now()`, but never stepped backwards by NTP while the process runs.
   */
  wallMs (): number {
    return performance.timeOrigin + performance.now()
  }

  /** Calls `fn` every `intervalMs` (a positive finite number of ms, at most 2³¹−1). */
  every (intervalMs: number, fn: () => void): () => void {
    checkDelay('intervalMs', intervalMs, false)
    checkCallback(fn)
    this.checkRunning()
    const timer = setInterval(() => { this.call(fn) }, intervalMs)
    return this.track(timer, () => { clearInterval(timer) })
  }

  /**
   * Calls `fn` once after `delayMs`. Zero is accepted (next timers phase, like `setTimeout(fn, 0)`):
   * "as soon as possible" is a meaningful delay, while a zero interval would be a busy loop.
   */
  after (delayMs: number, fn: () => void): () => void {
    checkDelay('delayMs', delayMs, true)
    checkCallback(fn)
    this.checkRunning()
    const timer = setTimeout(() => {
      // Fired: forget it before calling, so `fn` may safely call `stop()` or `after()` again.
      this.timers.delete(timer)
      this.call(fn)
    }, delayMs)
    return this.track(timer, () => { clearTimeout(timer) })
  }

  /** Cancels every timer this clock created; later `every`/`after` throw ClockStoppedError. Idempotent. */
  stop (): void {
    this.stopped = true
    // clearTimeout and clearInterval are interchangeable in Node; clearInterval is used for both.
    for (const timer of this.timers) clearInterval(timer)
    this.timers.clear()
  }

  /** Timers scheduled and not yet fired (one-shot) or cancelled; for tests and diagnostics. */
  get activeTimers (): number {
    return this.timers.size
  }

  private track (timer: NodeJS.Timeout, clear: () => void): () => void {
    this.timers.add(timer)
    // Idempotent, and harmless after stop() or after a one-shot timer fired.
    return () => {
      if (this.timers.delete(timer)) clear()
    }
  }

  private call (fn: () => void): void {
    try {
      fn()
    } catch (error) {
      this.onError(error)
    }
  }

  private checkRunning (): void {
    if (this.stopped) throw new ClockStoppedError()
  }
}

function rethrowAsync (error: unknown): void {
  queueMicrotask(() => { throw error })
}

function checkDelay (name: string, ms: number, zeroAllowed: boolean): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || (ms === 0 && !zeroAllowed) || ms > MAX_TIMER_MS) {
    const range = zeroAllowed ? `0 ≤ ${name} ≤ ${MAX_TIMER_MS}` : `0 < ${name} ≤ ${MAX_TIMER_MS}`
    throw new InvalidArgumentError(`${name} must be a finite number of milliseconds with ${range}, got ${String(ms)}`)
  }
}

function checkCallback (fn: unknown): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`fn must be a function, got ${typeof fn}`)
}
