/**
 * Content addressing: a chunk is a run of a file's bytes cut by content-defined chunking, named by
 * its SHA-256. Ids travel as 32 raw bytes and print as 64 lowercase hex digits.
 */
import { createHash } from 'node:crypto'
import { CorruptChunkError } from './errors.js'
import { InvalidArgumentError } from '../util/errors.js'

/** 64 lowercase hex digits: the SHA-256 of the chunk's bytes. */
export type ChunkId = string

/** One chunk of a file version: its id and length in bytes. */
export interface ChunkRef {
  readonly id: ChunkId
  readonly size: number
}

/** Bytes of the largest chunk anyone may store or send (the chunker's maximum is far below). */
export const CHUNK_BYTES_MAX = 1024 * 1024

export function chunkIdOf (bytes: Uint8Array): ChunkId {
  return createHash('sha256').update(bytes).digest('hex')
}

const CHUNK_ID = /^[0-9a-f]{64}$/

export function isChunkId (value: unknown): value is ChunkId {
  return typeof value === 'string' && CHUNK_ID.test(value)
}

/** Throws `InvalidArgumentError` unless `id` is a chunk id (a caller's mistake, not bad data). */
export function checkChunkId (id: unknown): asserts id is ChunkId {
  if (!isChunkId(id)) throw new InvalidArgumentError(`not a chunk id: ${JSON.stringify(String(id).slice(0, 80))}`)
}

/** Throws `CorruptChunkError` if `bytes` are too long or do not hash to `id`: what a store checks before it stores anything. */
export function verifyChunk (id: ChunkId, bytes: Uint8Array): void {
  if (bytes.length > CHUNK_BYTES_MAX) throw new CorruptChunkError(`chunk ${id} is ${bytes.length} bytes, over the ${CHUNK_BYTES_MAX}-byte limit`)
  const actual = chunkIdOf(bytes)
  if (actual !== id) throw new CorruptChunkError(`bytes claimed to be chunk ${id} hash to ${actual}`)
}

/**
 * A content-addressed store of chunks, shared by every file and version on a node. `put` verifies
 * the bytes against the id before anything is stored; `get` verifies what it read (a damaged
 * disk never hands out a wrong chunk: it throws `CorruptChunkError` and drops the damaged copy).
 */
export interface ChunkStore {
  has (id: ChunkId): Promise<boolean>
  /** The chunk's bytes; `MissingChunkError` if absent, `CorruptChunkError` if damaged on disk. */
  get (id: ChunkId): Promise<Uint8Array>
  /** Stores `bytes` under `id` (idempotent); `CorruptChunkError` if they do not hash to `id`; `DiskFullError`. */
  put (id: ChunkId, bytes: Uint8Array): Promise<void>
  delete (id: ChunkId): Promise<void>
  /** Every id in the store (for garbage collection). */
  ids (): AsyncIterable<ChunkId>
}
