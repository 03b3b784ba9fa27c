import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CATALOG_CODEC_VERSION, decodeCatalogCommand, encodeCatalogCommand } from '../../src/sync/catalog-codec.js'
import type { CatalogCommand } from '../../src/sync/catalog-types.js'
import { SyncCodecError } from '../../src/sync/errors.js'

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => Buffer.from(b).toString('hex'))
const ref = fc.record({ id: hex64, size: fc.integer({ min: 1, max: 1024 * 1024 }) })
const uint = fc.oneof(fc.nat({ max: 300 }), fc.maxSafeNat())
const str = fc.string({ maxLength: 40, unit: 'binary' })
const origin = fc.string({ minLength: 1, maxLength: 20 })

export const arbitraryCommand: fc.Arbitrary<CatalogCommand> = fc.oneof(
  fc.record({
    type: fc.constant('put' as const),
    path: str,
    base: uint,
    size: uint,
    mode: fc.nat({ max: 0xffffffff }),
    mtimeMs: uint,
    origin,
    rootHash: hex64,
    content: fc.oneof(
      fc.record({ full: fc.array(ref, { maxLength: 6 }) }),
      fc.record({ delta: fc.array(fc.record({ at: uint, remove: uint, insert: fc.array(ref, { maxLength: 3 }) }), { maxLength: 4 }) })
    )
  }),
  fc.record({ type: fc.constant('delete' as const), path: str, base: uint, origin }),
  fc.record({ type: fc.constant('rename' as const), from: str, to: str, base: uint, origin })
)

/** Decodes, or says which error; anything but SyncCodecError fails the test. */
function tryDecode (bytes: Uint8Array): CatalogCommand | undefined {
  try {
    return decodeCatalogCommand(bytes)
  } catch (error) {
    if (!(error instanceof SyncCodecError)) throw error
    expect(error.code).toBe('ERR_SYNC_CODEC')
    return undefined
  }
}

describe('catalog command codec', () => {
  it('decode ∘ encode is the identity on commands', () => {
    fc.assert(fc.property(arbitraryCommand, c => {
      expect(decodeCatalogCommand(encodeCatalogCommand(c))).toEqual(c)
    }), { numRuns: 1000 })
  })

  it('random bytes never throw anything but SyncCodecError, and whatever decodes re-encodes to the same bytes (canonical)', () => {
    // Half of the inputs start with a valid version and tag, so the fuzz reaches the fields.
    const headed = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.uint8Array({ maxLength: 200 })).map(([tag, rest]) => new Uint8Array([CATALOG_CODEC_VERSION, tag, ...rest]))
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), headed), bytes => {
      const c = tryDecode(bytes)
      if (c !== undefined) expect(encodeCatalogCommand(c)).toEqual(bytes)
    }), { numRuns: 5000 })
  })

  it('mutated encodings (a flipped, dropped or added byte) decode to a canonical command or fail with SyncCodecError', () => {
    fc.assert(fc.property(arbitraryCommand, fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'drop', 'add'), (c, at, value, how) => {
      const bytes = encodeCatalogCommand(c)
      const i = at % bytes.length
      const mutated = how === 'flip'
        ? bytes.map((b, j) => (j === i ? b ^ (value | 1) : b))
        : how === 'drop' ? new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i + 1)]) : new Uint8Array([...bytes.subarray(0, i), value, ...bytes.subarray(i)])
      const d = tryDecode(mutated)
      if (d !== undefined) expect(encodeCatalogCommand(d)).toEqual(mutated)
    }), { numRuns: 3000 })
  })

  it('pins the bytes of each command (the log carries them: a change is a new format version)', () => {
    const id = (digit: string): string => digit.repeat(64)
    const cases: Array<[CatalogCommand, string]> = [
      [{ type: 'put', path: 'dir/é.txt', base: 300, size: 5, mode: 0o644, mtimeMs: 1_700_000_000_000, origin: 'peerA', rootHash: id('a'), content: { full: [{ id: id('1'), size: 2 }, { id: id('2'), size: 3 }] } },
        '0101' + '0a6469722fc3a92e747874' + 'ac02' + '05' + 'a403' + '80d095ffbc31' + '057065657241' + id('a') + '00' + '02' + id('1') + '02' + id('2') + '03'],
      [{ type: 'put', path: 'f', base: 1, size: 200, mode: 0, mtimeMs: 0, origin: 'p', rootHash: id('b'), content: { delta: [{ at: 1, remove: 2, insert: [{ id: id('3'), size: 200 }] }, { at: 0, remove: 0, insert: [] }] } },
        '0101' + '0166' + '01' + 'c801' + '00' + '00' + '0170' + id('b') + '01' + '02' + '01' + '02' + '01' + id('3') + 'c801' + '00' + '00' + '00'],
      [{ type: 'delete', path: 'a\u{1F600}', base: 128, origin: 'p' }, '0102' + '0561f09f9880' + '8001' + '0170'],
      [{ type: 'rename', from: 'x', to: 'y/z', base: 7, origin: 'q' }, '0103' + '0178' + '03792f7a' + '07' + '0171']
    ]
    for (const [command, hex] of cases) {
      expect(Buffer.from(encodeCatalogCommand(command)).toString('hex')).toBe(hex)
      expect(decodeCatalogCommand(Buffer.from(hex, 'hex'))).toEqual(command)
    }
  })

  it('refuses another format version, trailing bytes, a non-minimal varint and invalid UTF-8', () => {
    const good = encodeCatalogCommand({ type: 'delete', path: 'a', base: 1, origin: 'p' })
    expect(good[0]).toBe(CATALOG_CODEC_VERSION)
    expect(() => decodeCatalogCommand(new Uint8Array([2, ...good.subarray(1)]))).toThrow(SyncCodecError)
    expect(() => decodeCatalogCommand(new Uint8Array([...good, 0]))).toThrow(/trailing/)
    // base 1 as 0x81 0x00 instead of 0x01.
    expect(() => decodeCatalogCommand(new Uint8Array([1, 2, 1, 0x61, 0x81, 0x00, 1, 0x70]))).toThrow(/minimal/)
    expect(() => decodeCatalogCommand(new Uint8Array([1, 2, 1, 0xff, 1, 1, 0x70]))).toThrow(/UTF-8/)
    expect(() => decodeCatalogCommand(new Uint8Array([]))).toThrow(SyncCodecError)
  })

  it('refuses counts the input cannot hold before allocating for them', () => {
    // put with a full chunk list claiming 2^40 chunks.
    const head = encodeCatalogCommand({ type: 'put', path: 'a', base: 0, size: 0, mode: 0, mtimeMs: 0, origin: 'p', rootHash: '0'.repeat(64), content: { full: [] } })
    const bytes = new Uint8Array([...head.subarray(0, head.length - 1), 0x80, 0x80, 0x80, 0x80, 0x80, 0x20])
    expect(() => decodeCatalogCommand(bytes)).toThrow(/chunk count/)
  })

  it('encode refuses what decode would refuse (a lone surrogate, a chunk of size 0, a bad id, a negative number)', () => {
    const put = { type: 'put', path: 'a', base: 0, size: 1, mode: 0, mtimeMs: 0, origin: 'p', rootHash: '0'.repeat(64), content: { full: [{ id: 'a'.repeat(64), size: 1 }] } } as const
    expect(() => encodeCatalogCommand({ ...put, path: 'a\uD800' })).toThrow(SyncCodecError)
    expect(() => encodeCatalogCommand({ ...put, content: { full: [{ id: 'a'.repeat(64), size: 0 }] } })).toThrow(SyncCodecError)
    expect(() => encodeCatalogCommand({ ...put, content: { full: [{ id: 'A'.repeat(64), size: 1 }] } })).toThrow(SyncCodecError)
    expect(() => encodeCatalogCommand({ ...put, base: -1 })).toThrow(SyncCodecError)
    expect(() => encodeCatalogCommand({ ...put, mtimeMs: 1.5 })).toThrow(SyncCodecError)
  })
})
