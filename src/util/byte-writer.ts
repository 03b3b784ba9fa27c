/**
 * The writing half of our strict binary codecs (client protocol, configuration chains, spare
 * probes): fields are collected as parts and joined once. Subclasses say how a field that
 * cannot be encoded fails (each protocol has its own typed error), as `ByteReader` does for
 * reading.
 */
import { varintBytes } from './byte-reader.js'

const utf8 = new TextEncoder()

export abstract class ByteWriter {
  private readonly parts: Uint8Array[] = []
  /** Bytes written so far (the offset a failure reports). */
  size = 0

  /** Throws the protocol's typed error: `reason`, at byte `offset`. */
  abstract fail (reason: string, offset: number): never

  byte (b: number): this { return this.push(Uint8Array.of(b)) }

  /** An unsigned LEB128 varint of a non-negative safe integer. */
  varint (value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) this.fail(`cannot encode ${value} as a varint`, this.size)
    const out = new Uint8Array(varintBytes(value))
    let i = 0
    while (value >= 0x80) { out[i++] = (value % 0x80) | 0x80; value = Math.floor(value / 0x80) }
    out[i] = value
    return this.push(out)
  }

  /** A varint length, then the bytes; more than `max` bytes fails. */
  bytes (data: Uint8Array, max = Number.MAX_SAFE_INTEGER): this {
    if (data.byteLength > max) this.fail(`${data.byteLength} bytes exceed the limit of ${max}`, this.size)
    return this.varint(data.byteLength).push(data)
  }

  /** UTF-8, as `bytes`. */
  string (text: string, max = Number.MAX_SAFE_INTEGER): this { return this.bytes(utf8.encode(text), max) }

  finish (): Uint8Array {
    const out = new Uint8Array(this.size)
    let offset = 0
    for (const p of this.parts) { out.set(p, offset); offset += p.byteLength }
    return out
  }

  protected push (part: Uint8Array): this {
    this.parts.push(part)
    this.size += part.byteLength
    return this
  }
}
