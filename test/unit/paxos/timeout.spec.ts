import { describe, expect, it } from 'vitest'
import { Timeout, retryJitter } from '../../../src/paxos/timeout.js'
import { AssertionError } from '../../../src/util/assert.js'

function clock (): { now: number } {
  return { now: 0 }
}

describe('Timeout', () => {
  it('expires exactly `duration` ticks after it started, not one tick earlier', () => {
    const c = clock()
    c.now = 10
    const t = new Timeout(c, 3).start()
    c.now = 12
    expect(t.expired()).toBe(false)
    expect(t.elapsed()).toBe(2)
    c.now = 13
    expect(t.expired()).toBe(true)
    expect(t.elapsed()).toBe(3)
  })

  it('is not running until started, and due (a first request goes out at once)', () => {
    const c = clock()
    const t = new Timeout(c, 5)
    expect(t.running).toBe(false)
    expect(t.expired()).toBe(false)
    expect(t.due()).toBe(true)
    expect(() => t.elapsed()).toThrow(AssertionError)
    t.start()
    expect(t.due()).toBe(false)
    c.now = 5
    expect(t.due()).toBe(true)
    t.stop()
    expect(t.running).toBe(false)
    expect(t.due()).toBe(true)
  })

  it('restarting keeps the duration unless a new one is given', () => {
    const c = clock()
    const t = new Timeout(c, 4).start()
    c.now = 3
    t.start()
    c.now = 6
    expect(t.expired()).toBe(false)
    c.now = 7
    expect(t.expired()).toBe(true)
    t.start(10)
    expect(t.duration).toBe(10)
    c.now = 16
    expect(t.expired()).toBe(false)
    c.now = 17
    expect(t.expired()).toBe(true)
  })

  it('fire() fires every `duration` ticks when called once per tick (the modulo counter it replaced)', () => {
    const c = clock()
    const t = new Timeout(c, 4).start()
    const fired: number[] = []
    for (c.now = 1; c.now <= 13; c.now++) if (t.fire()) fired.push(c.now)
    expect(fired).toEqual([4, 8, 12])
  })

  it('rejects durations that are not positive whole ticks', () => {
    const c = clock()
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new Timeout(c, bad)).toThrow(AssertionError)
    }
    expect(() => new Timeout(c, 1).start(0)).toThrow(AssertionError)
  })

  it('with jitter, every start draws up to `spread` extra ticks from the node\'s RandomSource', () => {
    const c = clock()
    const draws: Array<[number, number]> = []
    const extras = [0, 3, 1]
    const random = { int: (min: number, max: number): number => { draws.push([min, max]); return extras[draws.length - 1] ?? 0 } }
    const t = new Timeout(c, 6, { random, spread: 3 })
    expect(draws).toEqual([]) // nothing drawn until started
    t.start()
    expect(t.duration).toBe(6)
    t.start()
    expect(t.duration).toBe(9)
    c.now = 8
    expect(t.expired()).toBe(false)
    c.now = 9
    expect(t.fire()).toBe(true) // restarts: draws again
    expect(t.duration).toBe(7)
    expect(draws).toEqual([[0, 4], [0, 4], [0, 4]])
  })

  it('retryJitter spreads a retry by up to half its interval, and not at all below two ticks', () => {
    const random = { int: (min: number) => min }
    expect(retryJitter(random, 6)?.spread).toBe(3)
    expect(retryJitter(random, 7)?.spread).toBe(3)
    expect(retryJitter(random, 1)).toBeUndefined()
  })
})
