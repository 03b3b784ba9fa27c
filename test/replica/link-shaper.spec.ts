import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LinkShaper, TokenBucket } from '../../src/replica/link-shaper.js'

describe('token bucket (fake clock)', () => {
  it('lets a burst through, then paces at the rate', () => {
    const b = new TokenBucket(1000, 500, 0)
    expect(b.take(500, 0)).toBe(0)
    expect(b.take(250, 0)).toBe(250)          // 250 bytes of debt at 1000 B/s
    expect(b.take(250, 0)).toBe(500)          // queued behind the first
    expect(b.take(100, 1000)).toBe(0)         // 1 s refilled 1000: debt 500 repaid, 500 left (capped at burst), 400 after
    expect(b.available(1000)).toBe(400)
  })

  it('lends to a frame larger than the bucket', () => {
    const b = new TokenBucket(375_000, 16_384, 0)   // 3 Mbit/s
    const wait = b.take(1024 * 1024, 0)
    expect(wait).toBeCloseTo((1024 * 1024 - 16_384) / 375, 6)
  })

  it('never lets more than rate × time + burst through', () => {
    fc.assert(fc.property(fc.array(fc.record({ gap: fc.integer({ min: 0, max: 200 }), bytes: fc.integer({ min: 1, max: 5000 }) }), { minLength: 1, maxLength: 100 }), steps => {
      const rate = 10_000
      const burst = 2000
      const b = new TokenBucket(rate, burst, 0)
      let now = 0
      let sent = 0
      let readyAt = 0
      for (const s of steps) {
        now += s.gap
        const wait = b.take(s.bytes, now)
        // A taker that honours the wait sends at now + wait; takers are served in order.
        const sendAt = now + wait
        expect(sendAt + 1e-9).toBeGreaterThanOrEqual(readyAt)
        readyAt = sendAt
        sent += s.bytes
        expect(sent).toBeLessThanOrEqual(rate * sendAt / 1000 + burst + 1e-6)
      }
    }), { numRuns: 500 })
  })

  it('a clock that steps back neither refills nor throws', () => {
    const b = new TokenBucket(1000, 100, 50)
    b.take(100, 50)
    expect(b.take(10, 10)).toBe(10)
  })

  it('LinkShaper: both directions at bitsPerSecond / 8, with the fake clock', async () => {
    let now = 0
    const s = new LinkShaper({ bitsPerSecond: 8000, delayMs: 10, burstBytes: 100, now: () => now })
    expect(s.upload.bytesPerSecond).toBe(1000)
    expect(s.download.bytesPerSecond).toBe(1000)
    await s.beforeSend(100)              // within the burst: no wait
    now = 100
    await s.afterReceive(50)
    expect(s.upload.available(now)).toBe(100)   // independent buckets: upload refilled to its burst
    expect(s.download.available(now)).toBe(50)
    expect(() => new LinkShaper({ bitsPerSecond: 0, delayMs: 10 })).toThrow(/rate/)
    expect(() => new LinkShaper({ bitsPerSecond: 1000, delayMs: -1 })).toThrow(/delay/)
  })
})
