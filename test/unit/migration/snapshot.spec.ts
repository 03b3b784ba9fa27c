import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Configuration } from '../../../src/paxos/types.js'
import {
  buildManifest,
  chunkAt,
  chunkCountOf,
  CorruptChunkError,
  CorruptSnapshotError,
  decodeSnapshotMeta,
  encodeSnapshotMeta,
  InvalidSnapshotError,
  ManifestBuilder,
  manifestRoot,
  SnapshotReceiver,
  verifyManifest
} from '../../../src/migration/index.js'
import type { SnapshotMeta } from '../../../src/migration/index.js'
import { AssertionError } from '../../../src/util/assert.js'

const config: Configuration = { epoch: 3, voters: ['n1', 'n2', 'n3'], learners: ['n4'] }

function pattern (size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff
  return out
}

const configArb: fc.Arbitrary<Configuration> = fc.record({
  epoch: fc.maxSafeNat(),
  voters: fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 5 }),
  learners: fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 3 })
})

/** A state and chunk size, with sizes 0 and exact multiples of the chunk size well represented. */
const stateArb = fc.integer({ min: 1, max: 700 }).chain((chunkSize) => fc.tuple(
  fc.constant(chunkSize),
  fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.constant(new Uint8Array(0)),
    fc.integer({ min: 1, max: 6 }).chain((k) => fc.uint8Array({ minLength: k * chunkSize, maxLength: k * chunkSize }))
  )
))

describe('buildManifest / chunkAt', () => {
  it('cuts the state into ceil(size / chunkSize) chunks whose hashes and concatenation match (property)', () => {
    fc.assert(fc.property(stateArb, configArb, fc.maxSafeNat(), fc.uint8Array({ maxLength: 50 }), ([chunkSize, state], configuration, index, sessions) => {
      const meta = buildManifest(index, configuration, sessions, state, chunkSize)
      expect(meta.size).toBe(state.byteLength)
      expect(meta.chunkHashes.length).toBe(Math.ceil(state.byteLength / chunkSize))
      const pieces = meta.chunkHashes.map((_, i) => chunkAt(state, meta, i))
      for (const [i, piece] of pieces.entries()) {
        expect(piece.byteLength).toBe(i < pieces.length - 1 ? chunkSize : state.byteLength - i * chunkSize)
        expect(createHash('sha256').update(piece).digest('hex')).toBe(meta.chunkHashes[i])
      }
      expect(Buffer.concat(pieces).equals(Buffer.from(state))).toBe(true)
      expect(() => { verifyManifest(meta) }).not.toThrow()
      // The codec round-trips it and the root survives.
      expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta)
    }), { numRuns: 300 })
  })

  it('gives an empty state no chunks, and exact multiples no short last chunk', () => {
    expect(buildManifest(0, config, new Uint8Array(0), new Uint8Array(0), 4).chunkHashes).toEqual([])
    const meta = buildManifest(5, config, new Uint8Array(0), pattern(12), 4)
    expect(meta.chunkHashes.length).toBe(3)
    expect(chunkAt(pattern(12), meta, 2).byteLength).toBe(4)
    expect(chunkCountOf(13, 4)).toBe(4)
  })

  it('copies configuration and sessions, so the caller changing them later does not change the manifest', () => {
    const voters = ['a', 'b']
    const sessions = Uint8Array.of(1, 2, 3)
    const meta = buildManifest(1, { epoch: 1, voters, learners: [] }, sessions, pattern(10), 4)
    voters.push('c')
    sessions[0] = 9
    expect(meta.configuration.voters).toEqual(['a', 'b'])
    expect(meta.sessions).toEqual(Uint8Array.of(1, 2, 3))
    expect(() => { verifyManifest(meta) }).not.toThrow()
  })

  it('ManifestBuilder stepped a few chunks at a time gives the same manifest', () => {
    const state = pattern(1000)
    const builder = new ManifestBuilder(9, config, Uint8Array.of(5), state, 64)
    let steps = 0
    while (!builder.step(3)) steps++
    expect(steps).toBe(5) // 16 chunks, 3 per step
    expect(builder.done).toBe(builder.total)
    expect(builder.finish()).toEqual(buildManifest(9, config, Uint8Array.of(5), state, 64))
    expect(() => new ManifestBuilder(1, config, new Uint8Array(0), state, 64).finish()).toThrow(AssertionError)
  })

  it('asserts on programmer errors: bad chunk size or index, chunk out of range, state changed after manifest', () => {
    expect(() => buildManifest(1, config, new Uint8Array(0), pattern(5), 0)).toThrow(AssertionError)
    expect(() => buildManifest(-1, config, new Uint8Array(0), pattern(5), 2)).toThrow(AssertionError)
    const state = pattern(10)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 4)
    expect(() => chunkAt(state, meta, 3)).toThrow(AssertionError)
    expect(() => chunkAt(pattern(11), meta, 0)).toThrow(AssertionError)
    state[5] = state[5]! ^ 1
    expect(chunkAt(state, meta, 0).byteLength).toBe(4)
    // Pair assertion: the bytes leaving must still be the bytes the manifest describes.
    expect(() => chunkAt(state, meta, 1)).toThrow(AssertionError)
  })

  it('refuses a configuration it cannot encode with InvalidSnapshotError', () => {
    const bad: Configuration[] = [
      { epoch: 1, voters: ['\uD800'], learners: [] },
      { epoch: -1, voters: [], learners: [] },
      { epoch: 1, voters: ['x'.repeat(2000)], learners: [] }
    ]
    for (const configuration of bad) {
      expect(() => buildManifest(1, configuration, new Uint8Array(0), pattern(3), 2)).toThrow(InvalidSnapshotError)
    }
  })
})

describe('manifest authentication', () => {
  const state = pattern(100)
  const meta = buildManifest(42, config, Uint8Array.of(1, 2, 3), state, 16)
  const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1)

  /** Every field changed on its own; the root must notice each. */
  const tampered: Array<[string, SnapshotMeta]> = [
    ['index', { ...meta, index: 43 }],
    ['size', { ...meta, size: 99 }],
    ['chunkSize', { ...meta, chunkSize: 15 }],
    ['epoch', { ...meta, configuration: { ...config, epoch: 4 } }],
    ['voters', { ...meta, configuration: { ...config, voters: ['n1', 'n2', 'evil'] } }],
    ['voter order', { ...meta, configuration: { ...config, voters: ['n2', 'n1', 'n3'] } }],
    ['learners', { ...meta, configuration: { ...config, learners: [] } }],
    ['voter moved to learners', { ...meta, configuration: { ...config, voters: ['n1', 'n2'], learners: ['n3', 'n4'] } }],
    ['sessions', { ...meta, sessions: Uint8Array.of(1, 2, 4) }],
    ['sessions length', { ...meta, sessions: Uint8Array.of(1, 2, 3, 0) }],
    ['a chunk hash', { ...meta, chunkHashes: meta.chunkHashes.map((h, i) => (i === 3 ? flip(h) : h)) }],
    ['chunk order', { ...meta, chunkHashes: [meta.chunkHashes[1]!, meta.chunkHashes[0]!, ...meta.chunkHashes.slice(2)] }],
    ['root', { ...meta, root: flip(meta.root) }],
    ['root not hex', { ...meta, root: 'zz' }],
    ['a hash not hex', { ...meta, chunkHashes: meta.chunkHashes.map((h, i) => (i === 0 ? h.toUpperCase() : h)) }]
  ]

  it.each(tampered)('detects a changed %s', (_, forged) => {
    expect(() => { verifyManifest(forged) }).toThrow(CorruptSnapshotError)
    expect(() => new SnapshotReceiver(forged)).toThrow(CorruptSnapshotError)
  })

  it('detects a tampered field even when the forger recomputes the chunk hashes consistently, by the root', () => {
    // An attacker can make a self-consistent manifest for other bytes, but not with the old root.
    const other = buildManifest(42, config, Uint8Array.of(1, 2, 3), pattern(100, 8), 16)
    expect(() => new SnapshotReceiver({ ...other, root: meta.root })).toThrow(CorruptSnapshotError)
    expect(() => new SnapshotReceiver(other, { expectRoot: meta.root })).toThrow(expect.objectContaining({ code: 'ERR_SNAPSHOT_MISMATCH' }))
  })

  it('is computed over a domain tag and the canonical body', () => {
    const { root: _root, ...body } = meta
    expect(manifestRoot(body)).toBe(meta.root)
    expect(meta.root).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('receiver: chunk verification', () => {
  it('assembles the state from chunks in any order, with duplicates (property)', () => {
    fc.assert(fc.property(stateArb, fc.infiniteStream(fc.nat()), fc.integer({ min: 0, max: 5 }), ([chunkSize, state], randoms, extra) => {
      const meta = buildManifest(7, config, Uint8Array.of(9), state, chunkSize)
      const receiver = new SnapshotReceiver(meta)
      const order = meta.chunkHashes.map((_, i) => i)
      // Fisher–Yates with fast-check's numbers, so a failure shrinks and replays.
      const it = randoms[Symbol.iterator]()
      for (let i = order.length - 1; i > 0; i--) {
        const j = (it.next().value as number) % (i + 1)
        ;[order[i], order[j]] = [order[j]!, order[i]!]
      }
      const seen = new Set<number>()
      for (const i of [...order, ...order.slice(0, extra)]) {
        expect(receiver.accept(i, chunkAt(state, meta, i).slice())).toBe(!seen.has(i))
        seen.add(i)
      }
      expect(receiver.isComplete()).toBe(true)
      expect(receiver.nextNeeded()).toBeUndefined()
      expect(receiver.progress()).toEqual({ chunks: order.length, chunksTotal: order.length, bytes: state.byteLength, bytesTotal: state.byteLength })
      expect(Buffer.from(receiver.complete()).equals(Buffer.from(state))).toBe(true)
    }), { numRuns: 200 })
  })

  it('reports duplicates as not new and does not count them twice', () => {
    const state = pattern(50)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 10)
    const receiver = new SnapshotReceiver(meta)
    expect(receiver.accept(2, chunkAt(state, meta, 2))).toBe(true)
    expect(receiver.accept(2, chunkAt(state, meta, 2))).toBe(false)
    expect(receiver.progress().chunks).toBe(1)
    expect(receiver.progress().bytes).toBe(10)
  })

  it('rejects a corrupt chunk, keeps its state unchanged, and accepts a good copy afterwards', () => {
    const state = pattern(45)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 10)
    const receiver = new SnapshotReceiver(meta)
    receiver.accept(0, chunkAt(state, meta, 0))
    const before = receiver.toJSON()
    const bad = chunkAt(state, meta, 1).slice()
    bad[3] = bad[3]! ^ 0x40
    const error = (() => { try { receiver.accept(1, bad) } catch (err) { return err } })()
    expect(error).toBeInstanceOf(CorruptChunkError)
    expect(error).toMatchObject({ code: 'ERR_CORRUPT_CHUNK', chunk: 1 })
    // Wrong lengths, too long or too short (the short last chunk included).
    expect(() => receiver.accept(1, new Uint8Array(11))).toThrow(CorruptChunkError)
    expect(() => receiver.accept(4, chunkAt(state, meta, 4).subarray(1))).toThrow(CorruptChunkError)
    expect(() => receiver.accept(4, new Uint8Array(10))).toThrow(CorruptChunkError)
    expect(receiver.toJSON()).toEqual(before)
    expect(receiver.nextNeeded()).toBe(1)
    expect(receiver.accept(1, chunkAt(state, meta, 1))).toBe(true)
    expect(receiver.nextNeeded()).toBe(2)
    // A corrupt duplicate of a chunk already held is still reported (a bad sender), and harmless.
    expect(() => receiver.accept(0, bad)).toThrow(CorruptChunkError)
    for (const i of [2, 3, 4]) receiver.accept(i, chunkAt(state, meta, i))
    expect(Buffer.from(receiver.complete()).equals(Buffer.from(state))).toBe(true)
  })

  it('copies accepted bytes: the sender reusing its buffer does not change the state', () => {
    const state = pattern(20)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 10)
    const receiver = new SnapshotReceiver(meta)
    const buffer = chunkAt(state, meta, 0).slice()
    receiver.accept(0, buffer)
    buffer.fill(0)
    receiver.accept(1, chunkAt(state, meta, 1))
    expect(Buffer.from(receiver.complete()).equals(Buffer.from(state))).toBe(true)
  })

  it('refuses a chunk of another snapshot, or at a position this one does not have, with SnapshotMismatchError', () => {
    const state = pattern(20)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 10)
    const newer = buildManifest(2, config, new Uint8Array(0), state, 10)
    const receiver = new SnapshotReceiver(meta)
    for (const attempt of [
      () => receiver.accept(0, chunkAt(state, newer, 0), newer.root),
      () => receiver.accept(2, new Uint8Array(0)),
      () => receiver.accept(-1, new Uint8Array(10)),
      () => receiver.accept(0.5, new Uint8Array(10))
    ]) {
      expect(attempt).toThrow(expect.objectContaining({ name: 'SnapshotMismatchError', code: 'ERR_SNAPSHOT_MISMATCH' }))
    }
    expect(receiver.accept(0, chunkAt(state, meta, 0), meta.root)).toBe(true)
    expect(receiver.progress().chunks).toBe(1)
  })

  it('asserts that complete() is only called once every chunk arrived', () => {
    const state = pattern(20)
    const meta = buildManifest(1, config, new Uint8Array(0), state, 10)
    const receiver = new SnapshotReceiver(meta)
    receiver.accept(1, chunkAt(state, meta, 1))
    expect(() => receiver.complete()).toThrow(AssertionError)
  })

  it('completes an empty snapshot at once', () => {
    const receiver = new SnapshotReceiver(buildManifest(3, config, Uint8Array.of(1), new Uint8Array(0), 10))
    expect(receiver.nextNeeded()).toBeUndefined()
    expect(receiver.isComplete()).toBe(true)
    expect(receiver.complete().byteLength).toBe(0)
  })
})

describe('receiver: resume', () => {
  const state = pattern(1000)
  const meta = buildManifest(17, config, Uint8Array.of(4, 5), state, 64) // 16 chunks

  it('nextNeeded is the first missing chunk, and missing() lists the gaps in order', () => {
    const receiver = new SnapshotReceiver(meta)
    expect(receiver.nextNeeded()).toBe(0)
    for (const i of [0, 1, 2, 5, 6, 9]) receiver.accept(i, chunkAt(state, meta, i))
    expect(receiver.nextNeeded()).toBe(3)
    expect(receiver.missing(4)).toEqual([3, 4, 7, 8])
    for (const i of [3, 4]) receiver.accept(i, chunkAt(state, meta, i))
    expect(receiver.nextNeeded()).toBe(7)
  })

  it('a stream cut off half-way resumes from nextNeeded() and ends with the same state', () => {
    const receiver = new SnapshotReceiver(meta)
    for (let i = 0; i < 7; i++) receiver.accept(i, chunkAt(state, meta, i))
    // Connection lost; a new stream starts at the resume point.
    for (let i = receiver.nextNeeded(); i !== undefined; i = receiver.nextNeeded()) receiver.accept(i, chunkAt(state, meta, i))
    expect(Buffer.from(receiver.complete()).equals(Buffer.from(state))).toBe(true)
  })

  it('survives a restart through toJSON/fromJSON plus the chunk bytes the caller kept', () => {
    const kept = new Map<number, Uint8Array>()
    const first = new SnapshotReceiver(meta)
    for (const i of [0, 1, 2, 3, 8, 9, 15]) {
      const chunk = chunkAt(state, meta, i).slice()
      first.accept(i, chunk)
      kept.set(i, chunk)
    }
    const saved = JSON.parse(JSON.stringify(first)) as unknown
    expect(saved).toMatchObject({ version: 1, received: [[0, 4], [8, 10], [15, 16]] })
    // A torn write: one kept chunk is damaged, another is gone. Both are simply missing again.
    const torn = kept.get(2)!.slice()
    torn[0] = torn[0]! ^ 1
    kept.set(2, torn)
    kept.delete(9)
    const second = SnapshotReceiver.fromJSON(saved, (i) => kept.get(i))
    expect(second.meta).toEqual(meta)
    expect(second.missing()).toEqual([2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14])
    for (const i of second.missing()) second.accept(i, chunkAt(state, meta, i))
    expect(Buffer.from(second.complete()).equals(Buffer.from(state))).toBe(true)
  })

  it('fromJSON refuses a malformed or foreign saved state', () => {
    const saved = new SnapshotReceiver(meta).toJSON()
    const bad: unknown[] = [
      null,
      { ...saved, version: 2 },
      { ...saved, manifest: 42 },
      { ...saved, received: 'all' },
      { ...saved, received: [[0, 17]] },
      { ...saved, received: [[3, 3]] },
      { ...saved, manifest: Buffer.from('garbage').toString('base64') }
    ]
    for (const json of bad) expect(() => SnapshotReceiver.fromJSON(json, () => undefined)).toThrow(CorruptSnapshotError)
    const other = buildManifest(18, config, new Uint8Array(0), state, 64)
    expect(() => SnapshotReceiver.fromJSON(saved, () => undefined, { expectRoot: other.root }))
      .toThrow(expect.objectContaining({ code: 'ERR_SNAPSHOT_MISMATCH' }))
  })
})

describe('receiver: limits', () => {
  const meta = buildManifest(1, config, new Uint8Array(0), pattern(1000), 100) // 10 chunks of 100

  it.each([
    ['size', { snapshotBytesMax: 999 }],
    ['chunk count', { chunkCountMax: 9 }],
    ['chunk size', { chunkBytesMax: 99 }]
  ])('refuses a manifest over the %s limit with SnapshotTooLargeError', (limit, options) => {
    expect(() => new SnapshotReceiver(meta, options)).toThrow(expect.objectContaining({
      name: 'SnapshotTooLargeError',
      code: 'ERR_SNAPSHOT_TOO_LARGE',
      limit
    }))
  })

  it('accepts a manifest exactly at every limit', () => {
    expect(new SnapshotReceiver(meta, { snapshotBytesMax: 1000, chunkCountMax: 10, chunkBytesMax: 100 }).chunkCount).toBe(10)
    // A chunk size above the limit is fine when the whole state is smaller than the limit.
    const small = buildManifest(1, config, new Uint8Array(0), pattern(50), 1_000_000)
    expect(new SnapshotReceiver(small, { chunkBytesMax: 64 }).chunkCount).toBe(1)
  })

  it('checks limits before hashing: a huge forged manifest is refused as too large, not hashed', () => {
    const forged = { ...meta, size: 2 ** 40, chunkHashes: meta.chunkHashes }
    expect(() => new SnapshotReceiver(forged)).toThrow(expect.objectContaining({ code: 'ERR_SNAPSHOT_TOO_LARGE' }))
  })
})
