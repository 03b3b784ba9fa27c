import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SyncCodecError } from '../../src/sync/errors.js'
import { EXCHANGE_LIMITS, decodeExchangeMessage, encodeExchangeMessage } from '../../src/sync/exchange-codec.js'
import type { ExchangeMessage } from '../../src/sync/exchange-codec.js'

const id = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => Buffer.from(b).toString('hex'))
const req = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const message: fc.Arbitrary<ExchangeMessage> = fc.oneof(
  fc.record({ type: fc.constant('want' as const), req, ids: fc.array(id, { maxLength: 40 }) }),
  fc.record({ type: fc.constant('have' as const), req, bitmap: fc.array(fc.boolean(), { maxLength: 70 }) }),
  fc.record({ type: fc.constant('get' as const), req, id }),
  fc.record({ type: fc.constant('block' as const), req, id, bytes: fc.uint8Array({ maxLength: 3000 }) }),
  fc.record({ type: fc.constant('missing' as const), req, id }),
  fc.record({ type: fc.constant('busy' as const), req }),
  fc.record({ type: fc.constant('cancel' as const), req }),
  fc.record({ type: fc.constant('announce' as const), ids: fc.array(id, { maxLength: 40 }) })
)

function decodeOrCodecError (bytes: Uint8Array): void {
  try {
    decodeExchangeMessage(bytes)
  } catch (error) {
    expect(error).toBeInstanceOf(SyncCodecError)
    expect((error as SyncCodecError).code).toBe('ERR_SYNC_CODEC')
  }
}

describe('block-exchange codec', () => {
  it('decode ∘ encode is the identity', () => {
    fc.assert(fc.property(message, m => {
      expect(decodeExchangeMessage(encodeExchangeMessage(m))).toEqual(m)
    }), { numRuns: 2000 })
  })

  it('random bytes only ever throw SyncCodecError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), bytes => { decodeOrCodecError(bytes) }), { numRuns: 5000 })
    // With a valid header, so the fuzz reaches the fields.
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 }), fc.uint8Array({ maxLength: 200 }), (tag, rest) => {
      decodeOrCodecError(Uint8Array.of(1, tag, ...rest))
    }), { numRuns: 5000 })
  })

  it('mutated valid messages decode canonically or throw SyncCodecError', () => {
    fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, value) => {
      const bytes = encodeExchangeMessage(m)
      for (const mutated of [bytes.subarray(0, at % (bytes.length + 1)), Uint8Array.from(bytes, (b, i) => i === at % bytes.length ? value : b), Uint8Array.of(...bytes, value)]) {
        try {
          const decoded = decodeExchangeMessage(mutated)
          // Whatever decodes re-encodes to exactly the same bytes: one encoding per message.
          expect(encodeExchangeMessage(decoded)).toEqual(mutated)
        } catch (error) {
          expect(error).toBeInstanceOf(SyncCodecError)
        }
      }
    }), { numRuns: 3000 })
  })

  it('refuses what breaks a limit, before allocating for it', () => {
    // A want announcing 4097 ids.
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 1, 0, 0x81, 0x20))).toThrow(/exceed the limit/)
    // A want announcing 4096 ids with none following: refused on the count, not after reading.
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 1, 0, 0x80, 0x20))).toThrow(/truncated/)
    // A block announcing more than CHUNK_BYTES_MAX.
    const head = encodeExchangeMessage({ type: 'get', req: 0, id: 'ab'.repeat(32) })
    const over = EXCHANGE_LIMITS.blockBytesMax + 1
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 4, ...head.subarray(2), over & 0x7f | 0x80, (over >> 7) & 0x7f | 0x80, over >> 14))).toThrow(/exceeds the limit/)
    // Non-canonical varint, bitmap padding, unknown version and type.
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 6, 0x80, 0x00))).toThrow(/non-canonical/)
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 2, 0, 3, 0b1000))).toThrow(/padding/)
    expect(() => decodeExchangeMessage(Uint8Array.of(2, 6, 0))).toThrow(/version/)
    expect(() => decodeExchangeMessage(Uint8Array.of(1, 99, 0))).toThrow(/unknown message type/)
    expect(() => encodeExchangeMessage({ type: 'want', req: 1, ids: new Array(4097).fill('ab'.repeat(32)) })).toThrow(SyncCodecError)
    expect(() => encodeExchangeMessage({ type: 'get', req: 1, id: 'XY' })).toThrow(SyncCodecError)
  })
})
