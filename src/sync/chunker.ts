/**
 * Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking.
 *
 * A gear rolling hash `h = (h << 1) + GEAR[byte]` (32 bits) runs over the bytes of a chunk; a
 * chunk ends after the first byte where `h & mask === 0`. The first `CHUNK_MIN_BYTES` of every
 * chunk are skipped (no cut can fall there), a harder mask (16 bits) applies up to the normal
 * point and an easier one (12 bits) after it, so sizes cluster around the average instead of
 * spreading geometrically; `CHUNK_MAX_BYTES` forces a cut. The hash restarts at every chunk, so
 * a cut depends only on the bytes from the chunk's start: an insertion changes the chunk it
 * falls in and, rarely, the next one or two, after which the cuts fall where they fell before.
 *
 * Since bit k of `h` depends on the last k+1 bytes only, the masks take the high bits (16..31),
 * which see the whole 32-byte window.
 *
 * Everything here is part of the wire contract: two hosts must cut the same file at the same
 * places or they share no chunks. The gear table is therefore derived, not random:
 * `GEAR[i]` = the first 4 bytes, big-endian, of SHA-256(UTF-8 "vpeer/fastcdc/gear/v1" ‖ byte i),
 * and `test/sync/chunker.spec.ts` pins a digest of the table and the cut points of a known input.
 * Changing the table, the masks or the sizes is a new chunking version.
 */
import { createHash } from 'node:crypto'
import { CHUNK_BYTES_MAX, chunkIdOf } from './chunk.js'
import type { ChunkId, ChunkRef } from './chunk.js'
import type { ReadableFile } from './fs.js'
import { assert } from '../util/assert.js'
import { throwIfAborted } from '../util/errors.js'

/** No chunk is shorter, except the last one of a file. */
export const CHUNK_MIN_BYTES = 4 * 1024
/** The target mean chunk size (measured on random data: ~16 KiB, see the tests). */
export const CHUNK_AVG_BYTES = 16 * 1024
/** No chunk is longer. */
export const CHUNK_MAX_BYTES = 64 * 1024
/**
 * Where the harder mask gives way to the easier one. Below the average because the skipped
 * minimum and the easier mask's tail push the mean up: at 13 KiB the mean on random data is
 * 15.9 KiB (12 KiB gives 14.9, 14 KiB 16.7).
 */
const NORMAL_BYTES = 13 * 1024
// 16 and 12 one-bits (normalization level 2 around log2(16 KiB) = 14), taken from the high half.
const MASK_HARD = 0xffff0000 | 0
const MASK_EASY = 0xfff00000 | 0

/** The label the gear table is derived from. */
export const GEAR_LABEL = 'vpeer/fastcdc/gear/v1'

/** The 256 gear values (as int32, so the rolling sum stays in small integers). */
export const GEAR: Readonly<Int32Array> = (() => {
  const table = new Int32Array(256)
  const label = new TextEncoder().encode(GEAR_LABEL)
  for (let i = 0; i < 256; i++) {
    const digest = createHash('sha256').update(label).update(Uint8Array.of(i)).digest()
    table[i] = digest.readInt32BE(0)
  }
  return table
})()

assert(CHUNK_MAX_BYTES <= CHUNK_BYTES_MAX, 'the chunker must never produce a chunk peers refuse')

/**
 * Length of the chunk starting at `start` in `bytes[start, end)`, treating `end` as the end of
 * the data: a cut, or `min(end - start, CHUNK_MAX_BYTES)`. A caller that is not at the end of
 * its data must pass at least `CHUNK_MAX_BYTES` bytes, or the result is not the real cut.
 */
export function chunkLength (bytes: Uint8Array, start: number, end: number): number {
  let n = end - start
  if (n <= CHUNK_MIN_BYTES) return n
  if (n > CHUNK_MAX_BYTES) n = CHUNK_MAX_BYTES
  const normal = n < NORMAL_BYTES ? n : NORMAL_BYTES
  const gear = GEAR
  let h = 0
  let i = start + CHUNK_MIN_BYTES
  const normalEnd = start + normal
  const stop = start + n
  // Two tight loops, one per mask: no allocation, no branch but the cut test.
  for (; i < normalEnd; i++) {
    h = ((h << 1) + (gear[bytes[i] as number] as number)) | 0
    if ((h & MASK_HARD) === 0) return i + 1 - start
  }
  for (; i < stop; i++) {
    h = ((h << 1) + (gear[bytes[i] as number] as number)) | 0
    if ((h & MASK_EASY) === 0) return i + 1 - start
  }
  return n
}

/** The end offset of every chunk of `bytes` (the last is `bytes.length`; none for empty input). */
export function cutPoints (bytes: Uint8Array): number[] {
  const cuts: number[] = []
  let start = 0
  while (start < bytes.length) {
    start += chunkLength(bytes, start, bytes.length)
    cuts.push(start)
  }
  return cuts
}

/** The chunks of `bytes` as ids and sizes (hashes every chunk). */
export function chunkRefsOf (bytes: Uint8Array): ChunkRef[] {
  const refs: ChunkRef[] = []
  let start = 0
  for (const end of cutPoints(bytes)) {
    refs.push({ id: chunkIdOf(bytes.subarray(start, end)), size: end - start })
    start = end
  }
  return refs
}

export interface Chunk {
  /** Offset of the chunk's first byte in the file. */
  readonly offset: number
  /** The chunk's bytes (owned by the caller). */
  readonly bytes: Uint8Array
  readonly id: ChunkId
}

export interface ChunkFileOptions {
  readonly signal?: AbortSignal
  /** Bytes read per call (default 1 MiB); the cuts do not depend on it. */
  readonly blockBytes?: number
}

/** Default read size: large enough that a read costs little next to hashing it. */
export const CHUNK_READ_BLOCK_BYTES = 1024 * 1024

/**
 * The chunks of a file, read in blocks of `blockBytes`: the same cuts as `cutPoints` on the
 * whole content, whatever the block size. Checks `signal` before every read (`AbortError`).
 * The file is not closed here.
 */
export async function * chunkFile (file: ReadableFile, options: ChunkFileOptions = {}): AsyncGenerator<Chunk> {
  const blockBytes = options.blockBytes ?? CHUNK_READ_BLOCK_BYTES
  assert(Number.isSafeInteger(blockBytes) && blockBytes > 0, () => `blockBytes must be a positive integer, not ${blockBytes}`)
  // `pending[0, pending.length)` are the file's bytes from `offset` not yet cut.
  let pending: Uint8Array = new Uint8Array(0)
  let offset = 0
  let position = 0
  let atEnd = false
  while (!atEnd || pending.length > 0) {
    // Cut only with a full window ahead (a cut depends on up to CHUNK_MAX_BYTES of data).
    if (!atEnd && pending.length < CHUNK_MAX_BYTES) {
      const blocks: Uint8Array[] = [pending]
      let total = pending.length
      while (!atEnd && total < CHUNK_MAX_BYTES) {
        throwIfAborted(options.signal)
        const block = await file.read(position, blockBytes)
        position += block.length
        total += block.length
        blocks.push(block)
        // The contract: fewer bytes than asked only at the end of the file.
        if (block.length < blockBytes) atEnd = true
      }
      pending = concat(blocks, total)
    }
    let start = 0
    while (start < pending.length && (atEnd || pending.length - start >= CHUNK_MAX_BYTES)) {
      const length = chunkLength(pending, start, pending.length)
      const bytes = pending.slice(start, start + length)
      yield { offset: offset + start, bytes, id: chunkIdOf(bytes) }
      start += length
    }
    offset += start
    pending = pending.subarray(start)
  }
}

/** The chunk refs of a file (`chunkFile` without keeping the bytes). */
export async function chunkRefsOfFile (file: ReadableFile, options: ChunkFileOptions = {}): Promise<ChunkRef[]> {
  const refs: ChunkRef[] = []
  for await (const chunk of chunkFile(file, options)) refs.push({ id: chunk.id, size: chunk.bytes.length })
  return refs
}

function concat (parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 2 && (parts[0] as Uint8Array).length === 0) return parts[1] as Uint8Array
  const joined = new Uint8Array(total)
  let at = 0
  for (const part of parts) { joined.set(part, at); at += part.length }
  return joined
}
