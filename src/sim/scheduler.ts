import { assert } from '../util/assert.js'

/** An opaque reference to a scheduled event, for `Scheduler.cancel`. */
export interface TimerHandle {
  /** Virtual time (ms) the event is due at. */
  readonly timeMs: number
  readonly label: string | undefined
}

/** One queued event. `index` is its heap position, or -1 once it ran or was cancelled. */
class TimerEntry implements TimerHandle {
  index = -1
  constructor (
    readonly timeMs: number,
    readonly seq: number,
    public fn: (() => void) | undefined,
    readonly label: string | undefined
  ) {}
}

/** Strict order of events: by time, then by insertion. Nothing else ever breaks a tie. */
function before (x: TimerEntry, y: TimerEntry): boolean {
  return x.timeMs < y.timeMs || (x.timeMs === y.timeMs && x.seq < y.seq)
}

/**
 * Lets every pending promise callback run. A `setImmediate` callback runs only after the
 * microtask queue is empty, including microtasks queued by other microtasks, so an `async`
 * chain of any depth (await persist → send → await persist …) settles before this resolves.
 * It uses no real time, and with nothing but the simulation on the event loop the order of
 * callbacks is the order they were queued in, so runs stay deterministic.
 */
export function flushMicrotasks (): Promise<void> {
  return new Promise(resolve => { setImmediate(resolve) })
}

/**
 * Virtual time and an event queue (a binary min-heap ordered by time, then insertion sequence).
 *
 * Time advances only by running events; nothing reads a real clock. Events that fall due at the
 * same virtual time run in the order they were scheduled, so a run driven only by a Scheduler
 * and a seeded `Prng` repeats exactly.
 *
 * Two ways to drive it:
 * - `step`/`runUntil`/`runFor`/`runUntilIdle` run events back to back. Use them for code with
 *   no promises (the pure Paxos core, unit tests of timers).
 * - `stepAsync`/`runUntilAsync`/`runForAsync`/`runUntilIdleAsync` flush microtasks after every
 *   event (see `flushMicrotasks`). **Simulation runs use these**: the runtime awaits
 *   `storage.persist` before it sends, and that continuation must finish before the next
 *   message or timer is handled, as it would if the disk were instantaneous.
 *
 * An exception thrown by an event propagates out of the run call; the event counts as run.
 */
export class Scheduler {
  #nowMs = 0
  #seq = 0
  #executed = 0
  readonly #heap: TimerEntry[] = []

  /** Current virtual time in milliseconds. Starts at 0; never decreases. */
  now (): number {
    return this.#nowMs
  }

  /** Number of events still queued (cancelled events are removed at once). */
  pending (): number {
    return this.#heap.length
  }

  /** Number of events run since construction (for statistics and speed measurements). */
  executed (): number {
    return this.#executed
  }

  /** Virtual time of the next queued event, or undefined when the queue is empty. */
  nextTimeMs (): number | undefined {
    return this.#heap[0]?.timeMs
  }

  /** Schedules `fn` at virtual time `timeMs` (≥ now). */
  at (timeMs: number, fn: () => void, label?: string): TimerHandle {
    assert(Number.isFinite(timeMs), () => `event time must be finite, got ${timeMs}`)
    assert(timeMs >= this.#nowMs, () => `event time ${timeMs} is before now (${this.#nowMs})${label === undefined ? '' : ` for ${label}`}`)
    const entry = new TimerEntry(timeMs, this.#seq++, fn, label)
    this.#push(entry)
    return entry
  }

  /** Schedules `fn` `delayMs` (≥ 0) after now. */
  after (delayMs: number, fn: () => void, label?: string): TimerHandle {
    assert(delayMs >= 0, () => `delay must be ≥ 0, got ${delayMs}${label === undefined ? '' : ` for ${label}`}`)
    return this.at(this.#nowMs + delayMs, fn, label)
  }

  /**
   * Removes a queued event. Returns false (and does nothing) if it already ran or was cancelled,
   * so a timer may be cancelled from inside its own callback or twice.
   */
  cancel (handle: TimerHandle): boolean {
    assert(handle instanceof TimerEntry, 'cancel: not a handle returned by a Scheduler')
    const index = handle.index
    if (index < 0) return false
    assert(this.#heap[index] === handle, 'cancel: handle belongs to another Scheduler')
    this.#removeAt(index)
    return true
  }

  /** Runs the next event, if any. Returns whether one ran. */
  step (): boolean {
    const entry = this.#pop()
    if (entry === undefined) return false
    this.#run(entry)
    return true
  }

  /** Runs every event due at or before `timeMs`, then sets now to `timeMs`. */
  runUntil (timeMs: number): void {
    assert(timeMs >= this.#nowMs, () => `runUntil(${timeMs}) is before now (${this.#nowMs})`)
    const heap = this.#heap
    while (heap.length > 0 && (heap[0] as TimerEntry).timeMs <= timeMs) {
      this.#run(this.#pop() as TimerEntry)
    }
    this.#nowMs = timeMs
  }

  /** Runs events for `durationMs` of virtual time from now. */
  runFor (durationMs: number): void {
    assert(durationMs >= 0, () => `runFor duration must be ≥ 0, got ${durationMs}`)
    this.runUntil(this.#nowMs + durationMs)
  }

  /**
   * Runs events until none are queued or `maxEvents` have run; returns how many ran. Periodic
   * timers keep a queue from ever emptying, so check `pending()` afterwards when that matters.
   */
  runUntilIdle (maxEvents = 10_000_000): number {
    let count = 0
    while (count < maxEvents && this.step()) count++
    return count
  }

  /** `step`, then lets promise callbacks settle. */
  async stepAsync (): Promise<boolean> {
    const ran = this.step()
    await flushMicrotasks()
    return ran
  }

  /**
   * `runUntil` with a microtask flush after every event: an event may start an async chain
   * (await persist, then send), and it completes before the next event runs. A flush also runs
   * first, so work started before the call settles before virtual time moves.
   */
  async runUntilAsync (timeMs: number): Promise<void> {
    assert(timeMs >= this.#nowMs, () => `runUntilAsync(${timeMs}) is before now (${this.#nowMs})`)
    await flushMicrotasks()
    const heap = this.#heap
    while (heap.length > 0 && (heap[0] as TimerEntry).timeMs <= timeMs) {
      this.#run(this.#pop() as TimerEntry)
      await flushMicrotasks()
    }
    // An async chain may have scheduled an event earlier than `timeMs`, but the loop above
    // re-reads the heap after each flush, so nothing due is skipped.
    this.#nowMs = timeMs
  }

  /** `runFor` with a microtask flush after every event. */
  async runForAsync (durationMs: number): Promise<void> {
    assert(durationMs >= 0, () => `runForAsync duration must be ≥ 0, got ${durationMs}`)
    await this.runUntilAsync(this.#nowMs + durationMs)
  }

  /** `runUntilIdle` with a microtask flush after every event. */
  async runUntilIdleAsync (maxEvents = 10_000_000): Promise<number> {
    await flushMicrotasks()
    let count = 0
    while (count < maxEvents && this.#heap.length > 0) {
      this.#run(this.#pop() as TimerEntry)
      count++
      await flushMicrotasks()
    }
    return count
  }

  #run (entry: TimerEntry): void {
    assert(entry.timeMs >= this.#nowMs, 'time went backwards')
    this.#nowMs = entry.timeMs
    const fn = entry.fn as () => void
    entry.fn = undefined // Let the closure be collected even if the caller keeps the handle.
    this.#executed++
    fn()
  }

  #push (entry: TimerEntry): void {
    const heap = this.#heap
    entry.index = heap.length
    heap.push(entry)
    this.#siftUp(entry.index)
  }

  #pop (): TimerEntry | undefined {
    const heap = this.#heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop() as TimerEntry
    if (last !== top) {
      heap[0] = last
      last.index = 0
      this.#siftDown(0)
    }
    top.index = -1
    return top
  }

  #removeAt (index: number): void {
    const heap = this.#heap
    const removed = heap[index] as TimerEntry
    const last = heap.pop() as TimerEntry
    if (last !== removed) {
      heap[index] = last
      last.index = index
      // The moved entry may belong above or below its new position.
      this.#siftUp(index)
      this.#siftDown(last.index)
    }
    removed.index = -1
    removed.fn = undefined
  }

  #siftUp (start: number): void {
    const heap = this.#heap
    const entry = heap[start] as TimerEntry
    let i = start
    while (i > 0) {
      const parentIndex = (i - 1) >> 1
      const parent = heap[parentIndex] as TimerEntry
      if (!before(entry, parent)) break
      heap[i] = parent
      parent.index = i
      i = parentIndex
    }
    heap[i] = entry
    entry.index = i
  }

  #siftDown (start: number): void {
    const heap = this.#heap
    const length = heap.length
    const entry = heap[start] as TimerEntry
    let i = start
    for (;;) {
      const left = 2 * i + 1
      if (left >= length) break
      const right = left + 1
      let child = left
      if (right < length && before(heap[right] as TimerEntry, heap[left] as TimerEntry)) child = right
      const childEntry = heap[child] as TimerEntry
      if (!before(childEntry, entry)) break
      heap[i] = childEntry
      childEntry.index = i
      i = child
    }
    heap[i] = entry
    entry.index = i
  }
}
