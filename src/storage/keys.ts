/**
 * LevelDB key layout. LevelDB orders keys bytewise, so a slot is written as a fixed-width
 * big-endian integer: then byte order is numeric order and the log is one contiguous range.
 *
 *   0x4c 'L' + u64be(slot)   one log entry per slot (slot >= 1)
 *   0x4d 'M'                 meta record: promised ballot and commitIndex
 *
 * Every log key sorts before the meta key, and nothing else lives between them.
 */
import type { Slot } from '../paxos/types.ts'
import { CorruptRecordError, InvalidRecordError } from './errors.ts'

const PREFIX_LOG = 0x4c
const PREFIX_META = 0x4d
const LOG_KEY_BYTES = 9
const TWO_POW_32 = 0x1_0000_0000

export const META_KEY: Uint8Array = Uint8Array.of(PREFIX_META)

/** Bounds for iterating the whole log: `gte` is slot 0's key, `lt` the first key after the log. */
export const LOG_RANGE = Object.freeze({
  gte: Uint8Array.of(PREFIX_LOG, 0, 0, 0, 0, 0, 0, 0, 0),
  lt: Uint8Array.of(PREFIX_LOG + 1)
})

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

/** A readable name for a key in error messages: `log/42`, `meta`, or hex for anything else. */
export function describeKey (key: Uint8Array): string {
  if (key.byteLength === 1 && key[0] === PREFIX_META) return 'meta'
  if (key.byteLength === LOG_KEY_BYTES && key[0] === PREFIX_LOG) {
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
    return `log/${view.getUint32(1) * TWO_POW_32 + view.getUint32(5)}`
  }
  return `0x${Array.from(key, (byte) => byte.toString(16).padStart(2, '0')).join('')}`
}
