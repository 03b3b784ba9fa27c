/**
 * The field primitives of file replication's binary formats (catalog commands, catalog
 * snapshots, block-exchange messages), on top of the strict codec base of `util/byte-*`:
 * canonical varints and bounded lengths come from there; what the sync formats add is
 * - ids (chunk ids, root hashes): 64 lowercase hex digits on the JS side, 32 raw bytes on the wire;
 * - strings refused on encode if not well-formed UTF-16 (a lone surrogate would be written as
 *   U+FFFD and decode to another string), and decoded with a leading U+FEFF kept, so that every
 *   string that decodes re-encodes to the same bytes;
 * - counts checked against their limit and against the bytes left before anything is allocated.
 * A failure is a `SyncCodecError` unless the format names its own error (the catalog snapshot
 * throws `CatalogSnapshotError`), prefixed with what was being read or written and where.
 */
import { ByteReader } from '../util/byte-reader.js'
import { ByteWriter } from '../util/byte-writer.js'
import type { CodedErrorOptions } from '../util/errors.js'
import { isChunkId } from './chunk.js'
import { SyncCodecError } from './errors.js'
import type { SyncError } from './errors.js'

/** Raw bytes of an id (a SHA-256). */
export const ID_BYTES = 32

/** Builds the format's typed error; `SyncCodecError` unless the format says otherwise. */
export type SyncErrorFactory = (message: string, options?: CodedErrorOptions) => SyncError

const codecError: SyncErrorFactory = (message, options) => new SyncCodecError(message, options)

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// ignoreBOM: a string that starts with U+FEFF decodes with it, as it was encoded.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export class SyncWriter extends ByteWriter {
  /** @param what names the format in error messages ("catalog command") */
  constructor (private readonly what: string, private readonly error: SyncErrorFactory = codecError) {
    super()
  }

  fail (reason: string, offset: number): never {
    throw this.error(`${this.what} cannot be encoded (at byte ${offset}): ${reason}`)
  }

  /** A varint length and the UTF-8 of `text`, at most `maxBytes` of it. */
  str (text: string, maxBytes: number): this {
    if (typeof text !== 'string') this.fail('not a string', this.size)
    if (LONE_SURROGATE.test(text)) this.fail('string is not well-formed UTF-16', this.size)
    return this.string(text, maxBytes)
  }

  /** 64 lowercase hex digits, as 32 raw bytes. */
  id (id: string): this {
    if (!isChunkId(id)) this.fail(`not 64 lowercase hex digits: ${JSON.stringify(String(id).slice(0, 80))}`, this.size)
    return this.push(Buffer.from(id, 'hex'))
  }

  /** A varint count, then the ids; more than `max` fails. */
  ids (ids: readonly string[], max: number): this {
    this.count(ids, max, 'ids')
    for (const id of ids) this.id(id)
    return this
  }

  /** The varint length of `list`, which must be an array of at most `max` items. */
  count (list: readonly unknown[], max: number, what: string): this {
    if (!Array.isArray(list) || list.length > max) this.fail(`${what} is not an array of at most ${max}`, this.size)
    return this.varint(list.length)
  }

  /** Bytes as they are, without a length (a fixed-size field). */
  raw (bytes: Uint8Array): this { return this.push(bytes) }
}

export class SyncReader extends ByteReader {
  /** @param what names the format in error messages ("catalog command") */
  constructor (bytes: Uint8Array, private readonly what: string, private readonly error: SyncErrorFactory = codecError) {
    super(bytes)
  }

  fail (reason: string, cause?: unknown): never {
    throw this.error(`${this.what} refused at byte ${this.pos}: ${reason}`, cause !== undefined ? { cause } : undefined)
  }

  get remaining (): number {
    return this.bytes.byteLength - this.pos
  }

  /** A varint within [min, max]. */
  bounded (field: string, min: number, max: number): number {
    const start = this.pos
    const v = this.varint(field)
    if (v < min || v > max) {
      this.pos = start
      this.fail(`${field} ${v} outside [${min}, ${max}]`)
    }
    return v
  }

  /**
   * A varint count of items of at least `minBytesEach` bytes: at most `max`, and no more than
   * the bytes left can hold, so a hostile count is refused before an array grows for it.
   */
  count (field: string, max: number, minBytesEach: number): number {
    return this.bounded(field, 0, Math.min(max, Math.floor(this.remaining / minBytesEach)))
  }

  bool (field: string): boolean {
    const b = this.byte(field)
    if (b > 1) {
      this.pos--
      this.fail(`${field} is not 0 or 1`)
    }
    return b === 1
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes` bytes. */
  str (field: string, maxBytes: number): string {
    const bytes = this.take(field, this.length(field, maxBytes))
    try {
      return utf8Strict.decode(bytes)
    } catch (error) {
      this.pos -= bytes.byteLength
      return this.fail(`${field} is not valid UTF-8`, error)
    }
  }

  /** 32 raw bytes, as 64 lowercase hex digits. */
  id (field: string): string {
    return Buffer.from(this.take(field, ID_BYTES)).toString('hex')
  }

  /** A varint count of at most `max`, then that many ids. */
  ids (field: string, max: number): string[] {
    const n = this.count(`${field} count`, max, ID_BYTES)
    const ids = new Array<string>(n)
    for (let i = 0; i < n; i++) ids[i] = this.id(field)
    return ids
  }
}
