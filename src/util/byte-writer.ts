/**
 * The writing half of our strict binary codecs (client protocol, configuration chains, spare
 * probes, file replication): fields are written into one buffer that grows by doubling.
 * Subclasses say how a field that cannot be encoded fails (each protocol has its own typed
 * error), as `ByteReader` does for reading.
 */
import { VARINT_BYTES_MAX } from './byte-reader.js'

const utf8 = new TextEncoder()

export abstract class ByteWriter {
  // One growable buffer, not a list of parts: a snapshot of 10^5 entries writes millions of
  // small fields, and an allocation per field cost 4x the time of writing them in place.
  private buf = new Uint8Array(256)
  /** Bytes written so far (the offset a failure reports). */
  size = 0

  /** Throws the protocol's typed error: `reason`, at byte `offset`. */
  abstract fail (reason: string, offset: number): never

  byte (b: number): this {
    this.room(1)
    this.buf[this.size++] = b
    return this
  }

  /** An unsigned LEB128 varint of a non-negative safe integer. */
  varint (value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) this.fail(`cannot encode ${value} as a varint`, this.size)
    this.room(VARINT_BYTES_MAX)
    while (value >= 0x80) { this.buf[this.size++] = (value % 0x80) | 0x80; value = Math.floor(value / 0x80) }
    this.buf[this.size++] = value
    return this
  }

  /** A varint length, then the bytes; more than `max` bytes fails. */
  bytes (data: Uint8Array, max = Number.MAX_SAFE_INTEGER): this {
    if (data.byteLength > max) this.fail(`${data.byteLength} bytes exceed the limit of ${max}`, this.size)
    return this.varint(data.byteLength).push(data)
  }

  /** UTF-8, as `bytes`. */
  string (text: string, max = Number.MAX_SAFE_INTEGER): this { return this.bytes(utf8.encode(text), max) }

  /** A copy of the bytes written. */
  finish (): Uint8Array {
    return this.buf.slice(0, this.size)
  }

  protected push (part: Uint8Array): this {
    this.room(part.byteLength)
    this.buf.set(part, this.size)
    this.size += part.byteLength
    return this
  }

  private room (n: number): void {
    if (this.size + n <= this.buf.byteLength) return
    let capacity = this.buf.byteLength * 2
    while (capacity < this.size + n) capacity *= 2
    const next = new Uint8Array(capacity)
    next.set(this.buf.subarray(0, this.size))
    this.buf = next
  }
}
