import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { LogEntry } from '../../../src/paxos/types.js'
import {
  CODEC_LIMITS,
  decodeLogEntry,
  decodeMeta,
  encodeLogEntry,
  encodeMeta,
  FORMAT_VERSION,
  logEntryEncodedBytes
} from '../../../src/storage/codec.js'
import type { MetaRecord } from '../../../src/storage/codec.js'
import { CorruptRecordError, InvalidRecordError } from '../../../src/storage/errors.js'

// 'binary' strings cover every code point, astral planes included, and never a lone surrogate.
const text = fc.string({ unit: 'binary', maxLength: 40 })
const nat = fc.maxSafeNat()
const ballotArb = fc.record({ round: nat, node: text })
const commandArb = fc.record({ client: text, seq: nat, data: fc.uint8Array({ maxLength: 300 }) })
const entryArb: fc.Arbitrary<LogEntry> = fc.record({
  ballot: ballotArb,
  // Values with and without a proposal time ('T' and 'E' records).
  value: fc.record({ id: text, commands: fc.array(commandArb, { maxLength: 8 }), time: nat }, { requiredKeys: ['id', 'commands'] })
})
const metaArb: fc.Arbitrary<MetaRecord> = fc.record({ promised: ballotArb, commitIndex: nat })

function corrupt (fn: () => unknown): CorruptRecordError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptRecordError)
    expect(err).toMatchObject({ code: 'ERR_CORRUPT_RECORD' })
    return err as CorruptRecordError
  }
  throw new Error('expected CorruptRecordError, nothing was thrown')
}

function expectCorruptOrCanonical (bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown, encode: (value: never) => Uint8Array): void {
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptRecordError)
    return
  }
  // Whatever decodes must be the unique encoding of its value.
  expect(encode(value as never)).toEqual(bytes)
}

describe('log entry codec', () => {
  it('round-trips every entry exactly', () => {
    fc.assert(fc.property(entryArb, (entry) => {
      const bytes = encodeLogEntry(entry)
      expect(bytes.byteLength).toBe(logEntryEncodedBytes(entry))
      expect(bytes[0]).toBe(FORMAT_VERSION)
      const decoded = decodeLogEntry(bytes)
      expect(decoded).toEqual(entry)
      for (const command of decoded.value.commands) {
        expect(Object.getPrototypeOf(command.data)).toBe(Uint8Array.prototype)
      }
    }), { numRuns: 500 })
  })

  it('keeps the extreme values', () => {
    const max = Number.MAX_SAFE_INTEGER
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const entry: LogEntry = {
      ballot: { round: max, node: '\u{FEFF}n\u{1F600}' },
      value: { id: '', commands: [{ client: '\u{10FFFF}\u0000é', seq: max, data: all }, { client: '', seq: 0, data: new Uint8Array() }] }
    }
    expect(decodeLogEntry(encodeLogEntry(entry))).toEqual(entry)
  })

  it('does not alias the input buffer', () => {
    const bytes = encodeLogEntry({ ballot: { round: 1, node: 'a' }, value: { id: 'v', commands: [{ client: 'c', seq: 1, data: Uint8Array.of(7) }] } })
    const decoded = decodeLogEntry(bytes)
    bytes.fill(0)
    expect(decoded.value.commands[0]?.data).toEqual(Uint8Array.of(7))
  })

  it('rejects every truncation', () => {
    fc.assert(fc.property(entryArb, (entry) => {
      const bytes = encodeLogEntry(entry)
      for (let length = 0; length < bytes.byteLength; length++) {
        corrupt(() => decodeLogEntry(bytes.subarray(0, length)))
      }
    }), { numRuns: 100 })
  })

  it('rejects trailing bytes', () => {
    fc.assert(fc.property(entryArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (entry, extra) => {
      const bytes = encodeLogEntry(entry)
      const longer = new Uint8Array(bytes.byteLength + extra.byteLength)
      longer.set(bytes)
      longer.set(extra, bytes.byteLength)
      const error = corrupt(() => decodeLogEntry(longer, 'log/9'))
      expect(error.reason).toContain('trailing')
      expect(error.key).toBe('log/9')
    }))
  })

  it('rejects or canonically decodes arbitrary garbage', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
      expectCorruptOrCanonical(garbage, decodeLogEntry, encodeLogEntry)
    }), { numRuns: 2000 })
    // Garbage behind a valid header reaches the field decoders.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      const bytes = new Uint8Array(2 + tail.byteLength)
      bytes.set([FORMAT_VERSION, 0x45])
      bytes.set(tail, 2)
      expectCorruptOrCanonical(bytes, decodeLogEntry, encodeLogEntry)
    }), { numRuns: 2000 })
  })

  it('rejects or canonically decodes an entry with one byte changed', () => {
    fc.assert(fc.property(entryArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (entry, at, flip) => {
      const bytes = encodeLogEntry(entry)
      const index = at % bytes.byteLength
      bytes[index] = (bytes[index] ?? 0) ^ flip
      expectCorruptOrCanonical(bytes, decodeLogEntry, encodeLogEntry)
    }), { numRuns: 1000 })
  })

  it('names what was being decoded', () => {
    const error = corrupt(() => decodeLogEntry(Uint8Array.of(FORMAT_VERSION, 0x45, 0x80), 'log/3'))
    expect(error.record).toBe('log entry')
    expect(error.key).toBe('log/3')
    expect(error.offset).toBe(2)
    expect(error.message).toContain('log/3')
    expect(error.message).toContain('ballot.round')
  })

  it.each([
    ['empty input', []],
    ['an unknown version', [FORMAT_VERSION + 1, 0x45, 0, 0, 0, 0]],
    ['version zero', [0, 0x45, 0, 0, 0, 0]],
    ['a meta record', [FORMAT_VERSION, 0x4d, 0, 0, 0]],
    ['a non-canonical varint', [FORMAT_VERSION, 0x45, 0x81, 0x00, 0, 0, 0]],
    ['a round over 2^53-1', [FORMAT_VERSION, 0x45, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0]],
    ['a varint of 9 bytes', [FORMAT_VERSION, 0x45, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0]],
    ['invalid UTF-8', [FORMAT_VERSION, 0x45, 0, 1, 0xff, 0, 0]],
    ['a CESU-8 surrogate', [FORMAT_VERSION, 0x45, 0, 3, 0xed, 0xa0, 0x80, 0, 0]],
    ['a length past the end', [FORMAT_VERSION, 0x45, 0, 5, 0x61]],
    ['an id over the limit', [FORMAT_VERSION, 0x45, 0, 0x81, 0x10, ...new Array<number>(2049).fill(0x61), 0, 0]],
    ['a command count past the data', [FORMAT_VERSION, 0x45, 0, 0, 0, 5]],
    ['a command count over the limit', [FORMAT_VERSION, 0x45, 0, 0, 0, 0x81, 0x80, 0x04]]
  ])('rejects %s', (_name, values) => {
    corrupt(() => decodeLogEntry(Uint8Array.from(values)))
  })

  it('accepts the largest round', () => {
    const bytes = Uint8Array.of(FORMAT_VERSION, 0x45, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0)
    expect(decodeLogEntry(bytes).ballot.round).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('refuses to encode what would not come back unchanged', () => {
    const base: LogEntry = { ballot: { round: 1, node: 'a' }, value: { id: 'v', commands: [] } }
    const command = { client: 'c', seq: 1, data: new Uint8Array() }
    const invalid: Array<[string, LogEntry]> = [
      ['ballot.round', { ...base, ballot: { round: -1, node: 'a' } }],
      ['ballot.round', { ...base, ballot: { round: 2 ** 53, node: 'a' } }],
      ['ballot.round', { ...base, ballot: { round: 0.5, node: 'a' } }],
      ['ballot.round', { ...base, ballot: { round: Number.NaN, node: 'a' } }],
      ['ballot.node', { ...base, ballot: { round: 1, node: 'x\uDC00' } }],
      ['value.id', { ...base, value: { id: '\uD83D', commands: [] } }],
      ['value.id', { ...base, value: { id: 'a'.repeat(CODEC_LIMITS.idBytesMax + 1), commands: [] } }],
      ['value.commands[0].seq', { ...base, value: { id: 'v', commands: [{ ...command, seq: -1 }] } }],
      ['value.commands[0].client', { ...base, value: { id: 'v', commands: [{ ...command, client: '\uD800x' }] } }],
      ['value.commands[1].data', { ...base, value: { id: 'v', commands: [command, { ...command, data: [1] as unknown as Uint8Array }] } }],
      ['value.time', { ...base, value: { id: 'v', commands: [], time: -1 } }],
      ['value.time', { ...base, value: { id: 'v', commands: [], time: 1.5 } }]
    ]
    for (const [field, entry] of invalid) {
      expect(() => encodeLogEntry(entry), field).toThrow(InvalidRecordError)
      expect(() => logEntryEncodedBytes(entry), field).toThrow(expect.objectContaining({ code: 'ERR_INVALID_RECORD', field }))
    }
  })

  it('counts ids in UTF-8 bytes against the limit', () => {
    const atLimit = '\u{1F600}'.repeat(CODEC_LIMITS.idBytesMax / 4)
    const entry: LogEntry = { ballot: { round: 1, node: atLimit }, value: { id: 'v', commands: [] } }
    expect(decodeLogEntry(encodeLogEntry(entry))).toEqual(entry)
    expect(() => encodeLogEntry({ ...entry, ballot: { round: 1, node: `${atLimit}a` } })).toThrow(InvalidRecordError)
  })
})

describe('meta codec', () => {
  it('round-trips every meta record exactly', () => {
    fc.assert(fc.property(metaArb, (meta) => {
      expect(decodeMeta(encodeMeta(meta))).toEqual(meta)
    }), { numRuns: 500 })
  })

  it('rejects truncation, trailing bytes and garbage', () => {
    fc.assert(fc.property(metaArb, fc.uint8Array({ minLength: 1, maxLength: 4 }), (meta, extra) => {
      const bytes = encodeMeta(meta)
      for (let length = 0; length < bytes.byteLength; length++) {
        corrupt(() => decodeMeta(bytes.subarray(0, length), 'meta'))
      }
      corrupt(() => decodeMeta(Uint8Array.from([...bytes, ...extra])))
    }), { numRuns: 200 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 32 }), (garbage) => {
      expectCorruptOrCanonical(garbage, decodeMeta, encodeMeta)
    }), { numRuns: 2000 })
  })

  it('names the record and the key', () => {
    const error = corrupt(() => decodeMeta(Uint8Array.of(FORMAT_VERSION, 0x45), 'meta'))
    expect(error).toMatchObject({ record: 'meta', key: 'meta' })
  })

  it('refuses a commitIndex that is not a safe natural number', () => {
    expect(() => encodeMeta({ promised: { round: 0, node: '' }, commitIndex: -1 })).toThrow(InvalidRecordError)
    expect(() => encodeMeta({ promised: { round: 0, node: '' }, commitIndex: 2 ** 53 })).toThrow(InvalidRecordError)
  })
})
