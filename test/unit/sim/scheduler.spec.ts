import { describe, it, expect } from 'vitest'
import { Scheduler, flushMicrotasks } from '../../../src/sim/scheduler.js'
import { Prng } from '../../../src/sim/prng.js'
import { AssertionError } from '../../../src/util/assert.js'

describe('Scheduler', () => {
  it('runs events by time, then by insertion order', () => {
    const s = new Scheduler()
    const order: string[] = []
    s.at(5, () => order.push('b5'))
    s.at(1, () => order.push('a1'))
    s.at(5, () => order.push('c5'))
    s.after(5, () => order.push('d5'))
    s.at(3.5, () => order.push('e3.5'))
    expect(s.pending()).toBe(5)
    s.runUntilIdle()
    expect(order).toEqual(['a1', 'e3.5', 'b5', 'c5', 'd5'])
    expect(s.now()).toBe(5)
    expect(s.pending()).toBe(0)
  })

  it('runs an event scheduled for now after the events already queued for now', () => {
    const s = new Scheduler()
    const order: string[] = []
    s.at(1, () => { order.push('first'); s.after(0, () => order.push('third')) })
    s.at(1, () => order.push('second'))
    s.runUntilIdle()
    expect(order).toEqual(['first', 'second', 'third'])
  })

  it('keeps heap order under many random inserts and cancels', () => {
    const s = new Scheduler()
    const prng = new Prng(1)
    const expected: Array<[number, number]> = []
    const handles = []
    const ran: Array<[number, number]> = []
    for (let i = 0; i < 2000; i++) {
      const t = prng.int(0, 100)
      const id = i
      handles.push({ handle: s.at(t, () => ran.push([t, id])), t, id })
    }
    for (const { handle, t, id } of handles) {
      if (prng.chance(0.3)) expect(s.cancel(handle)).toBe(true)
      else expected.push([t, id])
    }
    expected.sort((x, y) => x[0] - y[0] || x[1] - y[1])
    expect(s.pending()).toBe(expected.length)
    s.runUntilIdle()
    expect(ran).toEqual(expected)
  })

  it('cancel removes an event; cancelling twice or after it ran is a no-op', () => {
    const s = new Scheduler()
    let ran = 0
    const h = s.after(10, () => ran++, 'timer')
    expect(h.timeMs).toBe(10)
    expect(h.label).toBe('timer')
    expect(s.cancel(h)).toBe(true)
    expect(s.cancel(h)).toBe(false)
    const h2 = s.after(1, () => ran++)
    s.runFor(20)
    expect(ran).toBe(1)
    expect(s.cancel(h2)).toBe(false)
    const self: { h?: ReturnType<Scheduler['after']> } = {}
    self.h = s.after(1, () => { expect(s.cancel(self.h!)).toBe(false); ran++ })
    s.runUntilIdle()
    expect(ran).toBe(2)
  })

  it('rejects a handle of another scheduler and times in the past', () => {
    const a = new Scheduler()
    const b = new Scheduler()
    b.after(1, () => {})
    const h = a.after(1, () => {})
    expect(() => b.cancel(h)).toThrow(AssertionError)
    a.runFor(5)
    expect(() => a.at(4, () => {})).toThrow(AssertionError)
    expect(() => a.after(-1, () => {})).toThrow(AssertionError)
    expect(() => a.runUntil(3)).toThrow(AssertionError)
  })

  it('runUntil runs events due at or before the time and sets now to it', () => {
    const s = new Scheduler()
    const ran: number[] = []
    for (const t of [1, 10, 10.5, 11, 20]) s.at(t, () => ran.push(s.now()))
    s.runUntil(10.5)
    expect(ran).toEqual([1, 10, 10.5])
    expect(s.now()).toBe(10.5)
    expect(s.nextTimeMs()).toBe(11)
    s.runFor(4)
    expect(ran).toEqual([1, 10, 10.5, 11])
    expect(s.now()).toBe(14.5)
    s.runUntil(100)
    expect(s.now()).toBe(100)
    expect(s.executed()).toBe(5)
  })

  it('step runs exactly one event', () => {
    const s = new Scheduler()
    let n = 0
    s.after(1, () => n++)
    s.after(2, () => n++)
    expect(s.step()).toBe(true)
    expect(n).toBe(1)
    expect(s.now()).toBe(1)
    expect(s.step()).toBe(true)
    expect(s.step()).toBe(false)
  })

  it('runUntilIdle stops at maxEvents even with a periodic timer', () => {
    const s = new Scheduler()
    const tick = (): void => { s.after(1, tick) }
    s.after(1, tick)
    expect(s.runUntilIdle(50)).toBe(50)
    expect(s.pending()).toBe(1)
    expect(s.now()).toBe(50)
  })

  it('async variants let an awaiting chain complete before the next event', async () => {
    // Models the runtime: a message handler awaits a persist (several promise hops), then
    // sends. The send must happen before the next queued event runs.
    async function persist (): Promise<void> {
      for (let i = 0; i < 20; i++) await Promise.resolve()
    }
    async function run (): Promise<string[]> {
      const s = new Scheduler()
      const log: string[] = []
      const handler = (name: string) => async (): Promise<void> => {
        log.push(`recv ${name} @${s.now()}`)
        await persist()
        log.push(`persisted ${name} @${s.now()}`)
        s.after(1, () => { log.push(`reply ${name} @${s.now()}`) })
      }
      s.at(1, () => { void handler('a')() })
      s.at(1, () => { void handler('b')() })
      s.at(2, () => { void handler('c')() })
      await s.runUntilAsync(10)
      expect(s.now()).toBe(10)
      return log
    }
    const first = await run()
    expect(first).toEqual([
      'recv a @1', 'persisted a @1',
      'recv b @1', 'persisted b @1',
      'recv c @2', 'persisted c @2',
      'reply a @2', 'reply b @2', 'reply c @3'
    ])
    expect(await run()).toEqual(first)
  })

  it('stepAsync, runForAsync and runUntilIdleAsync flush too', async () => {
    const s = new Scheduler()
    const log: string[] = []
    s.after(1, () => { void (async () => { await null; await null; log.push('x') })() })
    s.after(2, () => log.push('y'))
    expect(await s.stepAsync()).toBe(true)
    expect(log).toEqual(['x'])
    await s.runForAsync(5)
    expect(log).toEqual(['x', 'y'])
    expect(s.now()).toBe(6)
    s.after(1, () => { void Promise.resolve().then(() => s.after(1, () => log.push('z'))) })
    expect(await s.runUntilIdleAsync()).toBe(2)
    expect(log).toEqual(['x', 'y', 'z'])
    expect(await s.stepAsync()).toBe(false)
    await flushMicrotasks()
  })

  // Speed is a benchmark's business (bench:core), never a timing assert: this checks that 1e5
  // interleaved events all run, in virtual-time order.
  it('runs 1e5 interleaved events, each at or after the one before', () => {
    const s = new Scheduler()
    const prng = new Prng(1)
    let count = 0
    let last = 0
    let ordered = true
    const tick = (): void => {
      if (s.now() < last) ordered = false
      last = s.now()
      if (++count < 100_000) s.after(prng.float() * 10, tick)
    }
    for (let i = 0; i < 100; i++) s.after(prng.float() * 10, tick)
    s.runUntilIdle()
    expect(count).toBeGreaterThanOrEqual(100_000)
    expect(ordered).toBe(true)
  })
})
