import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  buildManifest,
  CorruptSnapshotError,
  decodeSnapshotMeta,
  encodeSnapshotMeta,
  InvalidSnapshotError,
  MANIFEST_FORMAT_VERSION
} from '../../../src/migration/index.js'

function corrupt (bytes: Uint8Array): void {
  expect(() => decodeSnapshotMeta(bytes)).toThrow(CorruptSnapshotError)
}

describe('snapshot manifest codec', () => {
  const meta = buildManifest(2 ** 40, { epoch: 9, voters: ['nœud-ü', '\u{1F600}'], learners: [''] }, Uint8Array.of(0, 255), Uint8Array.of(1, 2, 3, 4, 5), 2)
  const encoded = encodeSnapshotMeta(meta)

  it('round-trips, and the decoded manifest shares no memory with the input', () => {
    const input = encoded.slice()
    const decoded = decodeSnapshotMeta(input)
    expect(decoded).toEqual(meta)
    input.fill(0)
    expect(decoded.sessions).toEqual(Uint8Array.of(0, 255))
    expect(encoded[0]).toBe(MANIFEST_FORMAT_VERSION)
    expect(encoded[1]).toBe(0x53)
  })

  it('detects every single-bit flip (property)', () => {
    fc.assert(fc.property(fc.nat({ max: encoded.byteLength * 8 - 1 }), (bit) => {
      const copy = encoded.slice()
      copy[bit >> 3] = copy[bit >> 3]! ^ (1 << (bit & 7))
      corrupt(copy)
    }), { numRuns: encoded.byteLength * 8 })
  })

  it('refuses every truncation and trailing bytes', () => {
    for (let n = 0; n < encoded.byteLength; n++) corrupt(encoded.subarray(0, n))
    corrupt(Uint8Array.from([...encoded, 0]))
  })

  it('throws only CorruptSnapshotError on random input (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { corrupt(bytes) }), { numRuns: 500 })
    // Random bytes behind a valid header reach the field decoders.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { corrupt(Uint8Array.from([1, 0x53, ...bytes])) }), { numRuns: 500 })
  })

  it('refuses a chunk count that disagrees with size and chunk size, and a forged huge count, without allocating', () => {
    // version, kind, index 1, size 10, chunkSize 5, epoch 0, 0 voters, 0 learners, sessions 0, count 3
    corrupt(Uint8Array.of(1, 0x53, 1, 10, 5, 0, 0, 0, 0, 3))
    // size 2^49 in chunks of 1: a count the input cannot possibly hold.
    corrupt(Uint8Array.of(1, 0x53, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 0, 0, 0, 0,
      0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01))
    // chunkSize 0.
    corrupt(Uint8Array.of(1, 0x53, 1, 0, 0, 0, 0, 0, 0, 0))
  })

  it('refuses non-canonical varints', () => {
    corrupt(Uint8Array.of(1, 0x53, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0))
  })

  it('encode refuses what it cannot represent with InvalidSnapshotError', () => {
    expect(() => encodeSnapshotMeta({ ...meta, index: 1.5 })).toThrow(InvalidSnapshotError)
    expect(() => encodeSnapshotMeta({ ...meta, root: 'nope' })).toThrow(InvalidSnapshotError)
    expect(() => encodeSnapshotMeta({ ...meta, chunkHashes: [] })).toThrow(InvalidSnapshotError)
    expect(() => encodeSnapshotMeta({ ...meta, sessions: [1] as unknown as Uint8Array })).toThrow(InvalidSnapshotError)
  })
})
