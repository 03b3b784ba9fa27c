/**
 * The frame around every value LevelStorage writes: a checksum bound to the record's key, and
 * the sequence number of the batch that wrote it.
 *
 *   [storage format version = 2][CRC-32, u32 big-endian][batch seq, varint][body]
 *
 * The CRC covers `key length ‖ key ‖ version ‖ seq ‖ body`, so a flipped byte, a truncated
 * value, a value copied under another key (slot 4's vote under slot 5) and a key whose bytes
 * changed all fail to verify. CRC-32 (zlib's, in Node since 20.15) detects every burst of up to
 * 32 bits and anything else with probability 1 − 2^-32; it guards against damage, not against
 * someone who rewrites records on purpose (they could recompute it, or a SHA-256).
 *
 * The seq lets the loader check records against the head record (`codec.ts`): no record may be
 * newer than the last batch, the meta and snapshot records must be exactly the ones the head
 * names. The body is the codec's record (`codec.ts`) or a raw snapshot piece.
 */
import { crc32 } from 'node:zlib'
import { ByteReader, varintBytes } from '../util/byte-reader.js'
import { CorruptRecordError, UnsupportedFormatError } from './errors.js'

/** Storage format of LevelStorage. 1 was the unframed format (no checksums); no migration. */
export const STORAGE_FORMAT_VERSION = 2

/** Version byte + CRC + the shortest seq. */
const FRAME_MIN_BYTES = 6
const CRC_OFFSET = 1
const SEQ_OFFSET = 5

export interface OpenedRecord {
  /** The batch that wrote the record. */
  readonly seq: number
  /** A view into the value: copy it before keeping it past the next read. */
  readonly body: Uint8Array
  /** The record's checksum, which the head's log digest and the hash chain are built from. */
  readonly crc: number
}

function checksum (key: Uint8Array, covered: Uint8Array, body: Uint8Array): number {
  let crc = crc32(Uint8Array.of(key.byteLength))
  crc = crc32(key, crc)
  crc = crc32(covered, crc)
  return crc32(body, crc)
}

/** The framed value of `body` under `key`, written by batch `seq`. */
export function sealRecord (key: Uint8Array, seq: number, body: Uint8Array): Uint8Array {
  const seqBytes = varintBytes(seq)
  const value = new Uint8Array(SEQ_OFFSET + seqBytes + body.byteLength)
  value[0] = STORAGE_FORMAT_VERSION
  let pos = SEQ_OFFSET
  let rest = seq
  while (rest >= 0x80) {
    value[pos++] = (rest % 0x80) | 0x80
    rest = Math.floor(rest / 0x80)
  }
  value[pos++] = rest
  value.set(body, pos)
  const covered = Uint8Array.of(STORAGE_FORMAT_VERSION, ...value.subarray(SEQ_OFFSET, pos))
  new DataView(value.buffer).setUint32(CRC_OFFSET, checksum(key, covered, body))
  return value
}

/** The CRC of a value `sealRecord` produced (for the hash chain, without re-hashing). */
export function sealedChecksum (value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(CRC_OFFSET)
}

class SeqReader extends ByteReader {
  constructor (bytes: Uint8Array, private readonly record: string, private readonly key: string) {
    super(bytes)
  }

  override fail (reason: string): never {
    throw new CorruptRecordError(this.record, reason, { key: this.key, offset: this.pos })
  }
}

/**
 * Verifies the frame of `value` read under `key` (`keyName` is its readable form, `record` what
 * it should hold, both for the error). Throws `UnsupportedFormatError` for another version byte
 * (the rest cannot be read without knowing the layout) and `CorruptRecordError` for anything else.
 */
export function openRecord (key: Uint8Array, value: Uint8Array, record: string, keyName: string): OpenedRecord {
  if (!(value instanceof Uint8Array) || value.byteLength < FRAME_MIN_BYTES) {
    throw new CorruptRecordError(record, `${value?.byteLength ?? 0} bytes, shorter than a record frame`, { key: keyName })
  }
  const version = value[0] as number
  if (version !== STORAGE_FORMAT_VERSION) {
    throw new UnsupportedFormatError(version, `record ${keyName} has format version ${version}, this build reads ${STORAGE_FORMAT_VERSION} (written by another version, or the byte is damaged)`, { key: keyName })
  }
  const reader = new SeqReader(value, record, keyName)
  reader.pos = SEQ_OFFSET
  const seq = reader.varint('batch seq')
  const body = value.subarray(reader.pos)
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  const stored = view.getUint32(CRC_OFFSET)
  const actual = checksum(key, Uint8Array.of(version, ...value.subarray(SEQ_OFFSET, reader.pos)), body)
  if (stored !== actual) {
    throw new CorruptRecordError(record, `checksum mismatch (stored 0x${hex32(stored)}, computed 0x${hex32(actual)} over key and value): the bytes changed, or the record belongs under another key`, { key: keyName })
  }
  return { seq, body, crc: stored }
}

function hex32 (value: number): string {
  return value.toString(16).padStart(8, '0')
}
