import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chunkIdOf } from '../../src/sync/chunk.js'
import { CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, chunkFile, chunkRefsOf, chunkRefsOfFile, cutPoints, GEAR } from '../../src/sync/chunker.js'
import type { ReadableFile } from '../../src/sync/fs.js'

/** Bytes anyone can recompute: SHA-256("vpeer chunker test <block>") for each 32-byte block. */
function known (n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0, block = 0; i < n; block++, i += 32) {
    const digest = createHash('sha256').update(`vpeer chunker test ${block}`).digest()
    out.set(digest.subarray(0, Math.min(32, n - i)), i)
  }
  return out
}

/** Fast seeded pseudo-random bytes (xorshift32), for large inputs. */
function random (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = (seed | 0) || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** A ReadableFile over `bytes` that records the reads. */
function fileOf (bytes: Uint8Array): ReadableFile & { reads: number } {
  return {
    reads: 0,
    async read (position: number, length: number) {
      this.reads++
      return bytes.slice(position, Math.min(bytes.length, position + length))
    },
    async close () {}
  }
}

function sizesOf (cuts: number[]): number[] {
  return cuts.map((end, i) => end - (i === 0 ? 0 : cuts[i - 1] as number))
}

describe('chunker (FastCDC)', () => {
  it('pins the gear table and the cut points of a known input: every host, forever', () => {
    const table = Buffer.alloc(1024)
    GEAR.forEach((value, i) => table.writeInt32BE(value, i * 4))
    expect(createHash('sha256').update(table).digest('hex')).toBe('2b026dee28d59edad093cd617385be0e60d90d5b553799a3068b39b857f7de07')
    // GEAR[i] = first 4 bytes (big-endian) of SHA-256("vpeer/fastcdc/gear/v1" ‖ i), recomputed here.
    for (const i of [0, 1, 128, 255]) {
      const digest = createHash('sha256').update('vpeer/fastcdc/gear/v1').update(Uint8Array.of(i)).digest()
      expect(GEAR[i]).toBe(digest.readInt32BE(0))
    }
    expect(cutPoints(known(256 * 1024))).toEqual([
      21171, 36884, 59246, 79356, 98688, 119005, 134176, 148166, 162016, 173741, 195142, 213994, 228499, 242283, 248633, 262144
    ])
  })

  it('respects the bounds: min except the last chunk, max always', () => {
    for (const bytes of [random(3 << 20, 7), new Uint8Array(1 << 20), known(100_000), new Uint8Array(CHUNK_MIN_BYTES), new Uint8Array(1)]) {
      const sizes = sizesOf(cutPoints(bytes))
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(bytes.length)
      sizes.forEach((size, i) => {
        expect(size).toBeLessThanOrEqual(CHUNK_MAX_BYTES)
        if (i < sizes.length - 1) expect(size).toBeGreaterThanOrEqual(CHUNK_MIN_BYTES)
      })
    }
    expect(cutPoints(new Uint8Array(0))).toEqual([])
    // No content to define cuts: only the maximum cuts.
    expect(sizesOf(cutPoints(new Uint8Array(CHUNK_MAX_BYTES * 3 + 5)))).toEqual([CHUNK_MAX_BYTES, CHUNK_MAX_BYTES, CHUNK_MAX_BYTES, 5])
  })

  it('averages 12–20 KiB on random data', () => {
    const bytes = random(16 << 20, 12345)
    const mean = bytes.length / cutPoints(bytes).length
    expect(mean).toBeGreaterThan(12 * 1024)
    expect(mean).toBeLessThan(20 * 1024)
  })

  it('an insertion in the middle of a 10 MiB file changes only 1–3 chunks', () => {
    const before = random(10 << 20, 99)
    for (const insert of [1, 100, 5000]) {
      const at = 5 << 20
      const after = new Uint8Array(before.length + insert)
      after.set(before.subarray(0, at))
      after.set(random(insert, insert), at)
      after.set(before.subarray(at), at + insert)
      const old = new Set(chunkRefsOf(before).map(r => r.id))
      const fresh = chunkRefsOf(after).filter(r => !old.has(r.id))
      expect(fresh.length, `insert ${insert}`).toBeGreaterThanOrEqual(1)
      expect(fresh.length, `insert ${insert}`).toBeLessThanOrEqual(3)
    }
  })

  it('streams the same chunks as cutting the whole buffer, whatever the block size', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 400_000 }), fc.integer({ min: 1, max: 2 ** 30 }), fc.constantFrom('random', 'zeros', 'pattern'),
      fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 200_000 })),
      async (length, seed, kind, blockBytes) => {
        const bytes = kind === 'random' ? random(length, seed) : kind === 'zeros' ? new Uint8Array(length) : random(length, seed).map((_, i) => (i * 7) % 251)
        const cuts = cutPoints(bytes)
        const chunks = []
        for await (const chunk of chunkFile(fileOf(bytes), { blockBytes })) chunks.push(chunk)
        expect(chunks.map(c => c.offset + c.bytes.length)).toEqual(cuts)
        let offset = 0
        for (const chunk of chunks) {
          expect(chunk.offset).toBe(offset)
          expect(chunk.id).toBe(chunkIdOf(bytes.subarray(offset, offset + chunk.bytes.length)))
          offset += chunk.bytes.length
        }
      }), { numRuns: 40 })
  })

  it('reads a file in large blocks, gives refs equal to chunkRefsOf, and stops on abort', async () => {
    const bytes = random(3 << 20, 5)
    const file = fileOf(bytes)
    expect(await chunkRefsOfFile(file)).toEqual(chunkRefsOf(bytes))
    expect(file.reads).toBeLessThanOrEqual(5) // 1 MiB blocks
    const controller = new AbortController()
    const seen: number[] = []
    await expect((async () => {
      for await (const chunk of chunkFile(fileOf(bytes), { signal: controller.signal })) {
        seen.push(chunk.offset)
        controller.abort()
      }
    })()).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    expect(seen.length).toBeLessThan(cutPoints(bytes).length)
  })
})
