import { afterEach, describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { ClockStoppedError, SystemClock } from '../../../src/vpeer/system-clock.js'
import { InvalidArgumentError } from '../../../src/vpeer/errors.js'

// Real timers with small intervals: the assertions are about order and cancellation, never
// about how precisely a timer fires (a loaded CI machine may be late by tens of ms).

const clocks: SystemClock[] = []
function clock (options?: ConstructorParameters<typeof SystemClock>[0]): SystemClock {
  const c = new SystemClock(options)
  clocks.push(c)
  return c
}

afterEach(() => {
  for (const c of clocks.splice(0)) c.stop()
})

/** Resolves once `cond` holds (polling), failing the test after `ms`. */
async function until (cond: () => boolean, ms = 500): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('condition not reached in time')
    await sleep(2)
  }
}

describe('SystemClock', () => {
  it('nowMs is monotonic and advances with real time', async () => {
    const c = clock()
    const a = c.nowMs()
    await sleep(5)
    const b = c.nowMs()
    expect(b).toBeGreaterThan(a)
    let prev = c.nowMs()
    for (let i = 0; i < 1000; i++) {
      const now = c.nowMs()
      expect(now).toBeGreaterThanOrEqual(prev)
      prev = now
    }
  })

  it('after fires once, shorter delays first, equal delays in call order', async () => {
    const c = clock()
    const order: string[] = []
    c.after(30, () => order.push('late'))
    c.after(1, () => order.push('early-1'))
    c.after(1, () => order.push('early-2'))
    await until(() => order.length === 3)
    expect(order).toEqual(['early-1', 'early-2', 'late'])
    await sleep(40)
    expect(order).toHaveLength(3)
    expect(c.activeTimers).toBe(0)
  })

  it('every fires repeatedly until cancelled, and not after', async () => {
    const c = clock()
    let n = 0
    const cancel = c.every(2, () => { n++ })
    await until(() => n >= 3)
    cancel()
    const atCancel = n
    await sleep(20)
    expect(n).toBe(atCancel)
    expect(c.activeTimers).toBe(0)
    cancel() // idempotent
  })

  it('a cancelled after never fires; cancelling after it fired is harmless', async () => {
    const c = clock()
    const fired: string[] = []
    const cancelA = c.after(5, () => fired.push('a'))
    c.after(1, () => fired.push('b'))
    cancelA()
    await sleep(25)
    expect(fired).toEqual(['b'])
    const cancelC = c.after(0, () => fired.push('c'))
    await until(() => fired.length === 2)
    cancelC()
    expect(fired).toEqual(['b', 'c'])
  })

  it('a cancel from inside the callback stops an interval', async () => {
    const c = clock()
    let n = 0
    const cancel = c.every(1, () => { if (++n === 2) cancel() })
    await sleep(20)
    expect(n).toBe(2)
  })

  it('stop cancels every timer it created and refuses new ones', async () => {
    const c = clock()
    const fired: string[] = []
    c.every(1, () => fired.push('every'))
    c.after(5, () => fired.push('after'))
    expect(c.activeTimers).toBe(2)
    c.stop()
    expect(c.activeTimers).toBe(0)
    await sleep(20)
    expect(fired).toEqual([])
    expect(() => c.after(1, () => {})).toThrow(ClockStoppedError)
    expect(() => c.every(1, () => {})).toThrow(expect.objectContaining({ code: 'ERR_CLOCK_STOPPED' }))
    c.stop() // idempotent
  })

  it('stop does not touch another clock\'s timers', async () => {
    const a = clock()
    const b = clock()
    let fired = false
    b.after(1, () => { fired = true })
    a.stop()
    await until(() => fired)
  })

  it('an exception from a callback reaches onError and the interval keeps firing', async () => {
    const errors: unknown[] = []
    const c = clock({ onError: e => errors.push(e) })
    let n = 0
    c.every(1, () => { n++; throw new Error(`boom ${n}`) })
    c.after(1, () => { throw new Error('once') })
    await until(() => n >= 3 && errors.some(e => (e as Error).message === 'once'))
    expect(errors.filter(e => (e as Error).message.startsWith('boom')).length).toBeGreaterThanOrEqual(3)
  })

  it('rejects delays that are not positive finite millisecond counts with ERR_INVALID_ARGUMENT', () => {
    const c = clock()
    const fn = (): void => {}
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => c.every(bad, fn)).toThrow(InvalidArgumentError)
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => c.after(bad, fn)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
    }
    expect(() => c.every('10' as unknown as number, fn)).toThrow(InvalidArgumentError)
    expect(() => c.after(1, undefined as unknown as () => void)).toThrow(InvalidArgumentError)
    // Nothing was scheduled by the refused calls.
    expect(c.activeTimers).toBe(0)
  })
})
