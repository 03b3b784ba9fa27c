/** A canonical varint of a value up to 2^53 − 1 takes at most 8 bytes (7 bits each). */
export const VARINT_BYTES_MAX = 8

/**
 * The strict reader under our binary codecs (storage records, snapshot manifests): every
 * varint must be canonical and fit 2^53 − 1, every length must fit its limit and the input.
 * Each codec supplies `fail`, which throws its own typed error (CorruptRecordError,
 * CorruptSnapshotError) with its own context.
 */
export abstract class ByteReader {
  pos = 0
  protected readonly bytes: Uint8Array

  constructor (bytes: Uint8Array) {
    this.bytes = bytes
  }

  abstract fail (reason: string, cause?: unknown): never

  byte (field: string): number {
    const value = this.bytes[this.pos]
    if (value === undefined) this.fail(`truncated before ${field}`)
    this.pos++
    return value
  }

  varint (field: string): number {
    const start = this.pos
    let value = 0
    let scale = 1
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      const byte = this.bytes[this.pos]
      if (byte === undefined) {
        this.pos = start
        this.fail(`truncated in ${field}`)
      }
      this.pos++
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) {
          this.pos = start
          this.fail(`non-canonical varint in ${field} (not minimal)`)
        }
        if (value > Number.MAX_SAFE_INTEGER) {
          this.pos = start
          this.fail(`${field} exceeds 2^53-1`)
        }
        return value
      }
      // Multiplication, not shifts: shifts truncate to 32 bits.
      scale *= 0x80
    }
    this.pos = start
    return this.fail(`varint in ${field} longer than ${VARINT_BYTES_MAX} bytes`)
  }

  /** A length prefix: at most `max`, and no more than the bytes left. */
  length (field: string, max: number): number {
    const start = this.pos
    const length = this.varint(`${field} length`)
    if (length > max) {
      this.pos = start
      this.fail(`${field} length ${length} exceeds the limit of ${max}`)
    }
    if (length > this.bytes.byteLength - this.pos) {
      this.fail(`truncated in ${field}: ${length} bytes announced, ${this.bytes.byteLength - this.pos} left`)
    }
    return length
  }

  /** A view of the next `length` bytes. */
  take (field: string, length: number): Uint8Array {
    if (length > this.bytes.byteLength - this.pos) {
      this.fail(`truncated in ${field}: ${length} bytes announced, ${this.bytes.byteLength - this.pos} left`)
    }
    const view = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    return view
  }

  /** A length-prefixed UTF-8 string of at most `max` bytes; invalid UTF-8 fails at its start. */
  utf8String (field: string, max: number): string {
    const bytes = this.take(field, this.length(field, max))
    try {
      return utf8Strict.decode(bytes)
    } catch (error) {
      this.pos -= bytes.byteLength
      return this.fail(`${field} is not valid UTF-8`, error)
    }
  }

  end (): void {
    if (this.pos !== this.bytes.byteLength) this.fail(`${this.bytes.byteLength - this.pos} trailing bytes`)
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** Bytes the unsigned LEB128 varint of `value` takes (what `ByteReader.varint` reads back). */
export function varintBytes (value: number): number {
  let bytes = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}
