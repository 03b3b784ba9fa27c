/**
 * LevelDB key layout. LevelDB orders keys bytewise, so a slot is written as a fixed-width
 * big-endian integer: then byte order is numeric order and the log is one contiguous range.
 *
 *   0x46 'F'                 format record: storage format version, database id (written once)
 *   0x48 'H'                 head record: the last batch (sequence, hash chain, what it covers)
 *   0x4c 'L' + u64be(slot)   one log entry per slot (slot >= 1)
 *   0x4d 'M'                 meta record: promised ballot and commitIndex
 *   0x4e 'N'                 snapshot record: piece size and count, encoded manifest
 *   0x53 'S' + u32be(n)      piece n of the installed snapshot's state (n >= 0)
 *
 * Every log key sorts before the meta key, and nothing else lives between them; the snapshot's
 * pieces are one contiguous range after everything else, in piece order.
 */
import type { Slot } from '../paxos/index.js'
import { CorruptRecordError, InvalidRecordError } from './errors.js'

const PREFIX_FORMAT = 0x46
const PREFIX_HEAD = 0x48
const PREFIX_LOG = 0x4c
const PREFIX_META = 0x4d
const PREFIX_SNAPSHOT = 0x4e
const PREFIX_PIECE = 0x53
const PIECE_KEY_BYTES = 5
const LOG_KEY_BYTES = 9
const TWO_POW_32 = 0x1_0000_0000

export const FORMAT_KEY: Uint8Array = Uint8Array.of(PREFIX_FORMAT)
export const HEAD_KEY: Uint8Array = Uint8Array.of(PREFIX_HEAD)
export const META_KEY: Uint8Array = Uint8Array.of(PREFIX_META)

/** Bounds for iterating the whole log: `gte` is slot 0's key, `lt` the first key after the log. */
export const LOG_RANGE = Object.freeze({
  gte: Uint8Array.of(PREFIX_LOG, 0, 0, 0, 0, 0, 0, 0, 0),
  lt: Uint8Array.of(PREFIX_LOG + 1)
})

export const SNAPSHOT_KEY: Uint8Array = Uint8Array.of(PREFIX_SNAPSHOT)

/** True if `key` is exactly `expected` (keys are short; no need for Buffer.compare). */
export function keyEquals (key: Uint8Array, expected: Uint8Array): boolean {
  if (key.byteLength !== expected.byteLength) return false
  for (let i = 0; i < key.byteLength; i++) if (key[i] !== expected[i]) return false
  return true
}

/** True if `key` has the log prefix (well-formed or not: `slotOfLogKey` decides). */
export function isLogKey (key: Uint8Array): boolean {
  return key[0] === PREFIX_LOG
}

/** Bounds for iterating every snapshot piece. */
export const PIECE_RANGE = Object.freeze({
  gte: Uint8Array.of(PREFIX_PIECE),
  lt: Uint8Array.of(PREFIX_PIECE + 1)
})

/** Pieces are numbered from 0; 2^32 pieces of even 1 KiB would be 4 TiB, far past any limit. */
export function pieceKey (n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n >= TWO_POW_32) {
    throw new InvalidRecordError('snapshot piece', `piece number ${String(n)} out of range 0..2^32-1`)
  }
  const key = new Uint8Array(PIECE_KEY_BYTES)
  key[0] = PREFIX_PIECE
  new DataView(key.buffer).setUint32(1, n)
  return key
}

/** The piece number a piece key names; throws `CorruptRecordError` for anything else. */
export function pieceOfKey (key: Uint8Array): number {
  if (key.byteLength !== PIECE_KEY_BYTES || key[0] !== PREFIX_PIECE) {
    throw new CorruptRecordError('snapshot piece key', `malformed key of ${key.byteLength} bytes`, { key: describeKey(key) })
  }
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1)
}

export function checkSlot (slot: Slot): void {
  if (!Number.isSafeInteger(slot) || slot < 1) {
    throw new InvalidRecordError('slot', `expected an integer in 1..2^53-1, got ${String(slot)}`)
  }
}

export function logKey (slot: Slot): Uint8Array {
  checkSlot(slot)
  const key = new Uint8Array(LOG_KEY_BYTES)
  const view = new DataView(key.buffer)
  key[0] = PREFIX_LOG
  view.setUint32(1, Math.floor(slot / TWO_POW_32))
  view.setUint32(5, slot % TWO_POW_32)
  return key
}

/** The slot a log key names; throws `CorruptRecordError` for anything that is not a valid log key. */
export function slotOfLogKey (key: Uint8Array): Slot {
  if (key.byteLength !== LOG_KEY_BYTES || key[0] !== PREFIX_LOG) {
    throw new CorruptRecordError('log key', `malformed key of ${key.byteLength} bytes`, { key: describeKey(key) })
  }
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  const slot = view.getUint32(1) * TWO_POW_32 + view.getUint32(5)
  if (!Number.isSafeInteger(slot) || slot < 1) {
    throw new CorruptRecordError('log key', `slot ${slot} out of range`, { key: describeKey(key) })
  }
  return slot
}

/**
 * A readable name for a key in error messages: `log/42`, `meta`, `snapshot`, `snapshot/piece/3`,
 * or hex for anything else.
 */
export function describeKey (key: Uint8Array): string {
  if (key.byteLength === 1 && key[0] === PREFIX_META) return 'meta'
  if (key.byteLength === 1 && key[0] === PREFIX_FORMAT) return 'format'
  if (key.byteLength === 1 && key[0] === PREFIX_HEAD) return 'head'
  if (key.byteLength === 1 && key[0] === PREFIX_SNAPSHOT) return 'snapshot'
  if (key.byteLength === PIECE_KEY_BYTES && key[0] === PREFIX_PIECE) {
    return `snapshot/piece/${new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1)}`
  }
  if (key.byteLength === LOG_KEY_BYTES && key[0] === PREFIX_LOG) {
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
    return `log/${view.getUint32(1) * TWO_POW_32 + view.getUint32(5)}`
  }
  return `0x${Array.from(key, (byte) => byte.toString(16).padStart(2, '0')).join('')}`
}
