import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeSnapshotRecord, encodeSnapshotRecord } from '../../../src/storage/codec.js'
import { CorruptRecordError, InvalidRecordError } from '../../../src/storage/errors.js'
import { describeKey, LOG_RANGE, META_KEY, PIECE_RANGE, pieceKey, pieceOfKey, SNAPSHOT_KEY } from '../../../src/storage/keys.js'
import { checkCompactUpTo, checkSnapshot } from '../../../src/storage/snapshot.js'
import { buildManifest } from '../../../src/migration/snapshot.js'

function compare (a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

describe('snapshot record', () => {
  it('round-trips (property) and is canonical', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.maxSafeNat(), fc.uint8Array({ maxLength: 200 }), (pieceBytes, pieceCount, manifest) => {
      const encoded = encodeSnapshotRecord({ pieceBytes, pieceCount, manifest })
      const decoded = decodeSnapshotRecord(encoded)
      expect(decoded).toEqual({ pieceBytes, pieceCount, manifest })
      expect(encodeSnapshotRecord(decoded)).toEqual(encoded)
    }))
  })

  it('refuses garbage, truncation, trailing bytes, other kinds and piece size 0 with CorruptRecordError', () => {
    const encoded = encodeSnapshotRecord({ pieceBytes: 1024, pieceCount: 3, manifest: Uint8Array.of(1, 2, 3) })
    for (let n = 0; n < encoded.byteLength; n++) expect(() => decodeSnapshotRecord(encoded.subarray(0, n), 'snapshot')).toThrow(CorruptRecordError)
    expect(() => decodeSnapshotRecord(Uint8Array.from([...encoded, 0]))).toThrow(CorruptRecordError)
    expect(() => decodeSnapshotRecord(Uint8Array.of(1, 0x4d, 1, 0, 0))).toThrow(CorruptRecordError)
    expect(() => decodeSnapshotRecord(Uint8Array.of(1, 0x4e, 0, 0, 0))).toThrow(CorruptRecordError)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 50 }), (bytes) => {
      try {
        decodeSnapshotRecord(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(CorruptRecordError)
      }
    }))
  })

  it('refuses to encode what would not round-trip', () => {
    expect(() => encodeSnapshotRecord({ pieceBytes: -1, pieceCount: 0, manifest: new Uint8Array(0) })).toThrow(InvalidRecordError)
  })
})

describe('snapshot keys', () => {
  it('sorts pieces numerically, after the log, the meta and the snapshot record', () => {
    const keys = [0, 1, 255, 256, 65_536, 2 ** 32 - 1].map(pieceKey)
    for (let i = 1; i < keys.length; i++) expect(compare(keys[i - 1]!, keys[i]!)).toBeLessThan(0)
    expect(compare(LOG_RANGE.lt, META_KEY)).toBeLessThanOrEqual(0)
    expect(compare(META_KEY, SNAPSHOT_KEY)).toBeLessThan(0)
    expect(compare(SNAPSHOT_KEY, PIECE_RANGE.gte)).toBeLessThan(0)
    for (const key of keys) {
      expect(compare(PIECE_RANGE.gte, key)).toBeLessThanOrEqual(0)
      expect(compare(key, PIECE_RANGE.lt)).toBeLessThan(0)
      expect(pieceKey(pieceOfKey(key))).toEqual(key)
    }
    expect(describeKey(pieceKey(7))).toBe('snapshot/piece/7')
    expect(describeKey(SNAPSHOT_KEY)).toBe('snapshot')
  })

  it('refuses piece numbers out of range and malformed piece keys', () => {
    for (const n of [-1, 1.5, 2 ** 32]) expect(() => pieceKey(n)).toThrow(InvalidRecordError)
    expect(() => pieceOfKey(Uint8Array.of(0x53, 0, 0))).toThrow(CorruptRecordError)
    expect(() => pieceOfKey(Uint8Array.of(0x4c, 0, 0, 0, 0))).toThrow(CorruptRecordError)
  })
})

describe('install checks', () => {
  const state = Uint8Array.of(1, 2, 3, 4, 5)
  const meta = buildManifest(3, { epoch: 1, voters: ['a'], learners: [] }, new Uint8Array(0), state, 2)

  it('accept a snapshot whose state matches its manifest', () => {
    expect(() => { checkSnapshot(meta, state) }).not.toThrow()
  })

  it('refuse a mismatch with InvalidRecordError naming manifest or state', () => {
    expect(() => { checkSnapshot({ ...meta, index: 4 }, state) }).toThrow(expect.objectContaining({ field: 'snapshot manifest' }))
    expect(() => { checkSnapshot(meta, Uint8Array.of(1, 2, 3, 4, 6)) }).toThrow(expect.objectContaining({ field: 'snapshot state' }))
    expect(() => { checkSnapshot(meta, state.subarray(1)) }).toThrow(InvalidRecordError)
    expect(() => { checkCompactUpTo(-1) }).toThrow(InvalidRecordError)
    expect(() => { checkCompactUpTo(0) }).not.toThrow()
  })
})
