import { describe, it, expect } from 'vitest'
import { Scheduler } from '../../../src/sim/scheduler.js'
import { SimClock } from '../../../src/sim/sim-clock.js'
import { InvalidSimOptionError } from '../../../src/sim/sim-errors.js'

describe('SimClock', () => {
  it('reports local time as offset + rate × virtual time', () => {
    const s = new Scheduler()
    const clock = new SimClock(s, { rate: 1.5, offsetMs: 1000 })
    expect(clock.nowMs()).toBe(1000)
    s.runFor(100)
    expect(clock.nowMs()).toBe(1150)
  })

  it('a clock at rate 2 fires its periodic timer twice as often in virtual time', () => {
    const s = new Scheduler()
    const normal = new SimClock(s)
    const fast = new SimClock(s, { rate: 2 })
    const normalTimes: number[] = []
    const fastTimes: number[] = []
    normal.every(10, () => normalTimes.push(s.now()))
    fast.every(10, () => fastTimes.push(s.now()))
    s.runUntil(100)
    expect(normalTimes).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    expect(fastTimes.length).toBe(20)
    expect(fastTimes.slice(0, 3)).toEqual([5, 10, 15])
  })

  it('after converts a local delay to virtual time, and its cancel works', () => {
    const s = new Scheduler()
    const slow = new SimClock(s, { rate: 0.5 })
    const fired: number[] = []
    slow.after(10, () => fired.push(s.now()))
    const cancel = slow.after(5, () => fired.push(-1))
    cancel()
    cancel()
    s.runUntilIdle()
    expect(fired).toEqual([20])
    expect(slow.activeTimers).toBe(0)
  })

  it('a periodic timer stops when cancelled, also from inside its own callback', () => {
    const s = new Scheduler()
    const clock = new SimClock(s)
    let count = 0
    const cancel = clock.every(1, () => { if (++count === 3) cancel() })
    s.runUntil(50)
    expect(count).toBe(3)
    expect(s.pending()).toBe(0)
  })

  it('periodic firings do not drift with a fractional rate', () => {
    const s = new Scheduler()
    const clock = new SimClock(s, { rate: 1.1 })
    let count = 0
    clock.every(7, () => count++)
    s.runUntil(70_000 / 1.1)
    expect(count).toBe(10_000)
  })

  it('stopAll cancels every timer (a crash) and the clock stays usable', () => {
    const s = new Scheduler()
    const clock = new SimClock(s)
    let fired = 0
    clock.every(5, () => fired++)
    clock.every(3, () => fired++)
    clock.after(7, () => fired++)
    s.runUntil(4) // One firing of the 3 ms timer.
    clock.stopAll()
    expect(clock.activeTimers).toBe(0)
    expect(s.pending()).toBe(0)
    s.runUntil(100)
    expect(fired).toBe(1)
    clock.after(1, () => fired++)
    s.runUntilIdle()
    expect(fired).toBe(2)
  })

  it('stopAll from inside a periodic callback stops it', () => {
    const s = new Scheduler()
    const clock = new SimClock(s)
    let fired = 0
    clock.every(2, () => { fired++; clock.stopAll() })
    s.runUntil(20)
    expect(fired).toBe(1)
  })

  it('setRate keeps local time continuous and moves pending timers to their local due time', () => {
    const s = new Scheduler()
    const clock = new SimClock(s)
    const times: number[] = []
    clock.every(10, () => times.push(s.now()))
    let oneShot = -1
    clock.after(30, () => { oneShot = s.now() })
    s.runUntil(10)
    clock.setRate(2)
    expect(clock.nowMs()).toBe(10)
    s.runUntil(30)
    expect(clock.nowMs()).toBe(50)
    // Local due times 20, 30, 40, 50 fall at virtual 15, 20, 25, 30 after the change.
    expect(times).toEqual([10, 15, 20, 25, 30])
    expect(oneShot).toBe(20)
  })

  it('rejects a bad rate or offset with a typed error', () => {
    const s = new Scheduler()
    expect(() => new SimClock(s, { rate: 0 })).toThrow(InvalidSimOptionError)
    expect(() => new SimClock(s, { rate: -1 })).toThrow(InvalidSimOptionError)
    expect(() => new SimClock(s, { offsetMs: Number.NaN })).toThrow(InvalidSimOptionError)
  })
})
