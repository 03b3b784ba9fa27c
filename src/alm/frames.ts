/**
 * Length-prefixed framing on a byte stream: an unsigned LEB128 varint with the body's length,
 * then the body. The reader refuses a length over the frame limit as soon as the prefix is read,
 * before buffering any of the body, so a peer cannot make us hold more than one frame's worth.
 */
import { varintBytes } from '../util/byte-reader.js'
import { BadFrameError } from './errors.js'

/** What a libp2p stream yields besides plain bytes (a Uint8ArrayList, of whichever copy). */
export interface ByteList { readonly byteLength: number, subarray (): Uint8Array }

function writeVarint (target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  target[offset++] = value
  return offset
}

/** Frames `bodies` into one buffer (one write, one muxer frame for a burst of messages). */
export function frameAll (bodies: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const b of bodies) size += varintBytes(b.byteLength) + b.byteLength
  const out = new Uint8Array(size)
  let offset = 0
  for (const b of bodies) {
    offset = writeVarint(out, offset, b.byteLength)
    out.set(b, offset)
    offset += b.byteLength
  }
  return out
}

/** Bytes `body` takes once framed. */
export function framedBytes (body: Uint8Array): number {
  return varintBytes(body.byteLength) + body.byteLength
}

/**
 * Splits a byte stream into frames. `push` yields each complete body (a fresh Uint8Array, or a
 * view of the chunk it arrived in) and throws `BadFrameError` for a length prefix over
 * `frameBytesMax`, a non-canonical prefix or an empty frame (a correct sender writes neither).
 * `pending` tells whether a partial frame is buffered: a stream that ends then was truncated.
 */
export class FrameReader {
  /** Unconsumed bytes: the chunks not yet framed, oldest first, with an offset into the first. */
  private readonly chunks: Uint8Array[] = []
  private offset = 0
  private buffered = 0
  /** The body length announced by the prefix already read, or -1. */
  private want = -1

  constructor (readonly frameBytesMax: number) {}

  * push (chunk: Uint8Array | ByteList): Generator<Uint8Array> {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    if (bytes.byteLength === 0) return
    this.chunks.push(bytes)
    this.buffered += bytes.byteLength
    for (;;) {
      if (this.want < 0) {
        const length = this.readPrefix()
        if (length === undefined) return
        this.want = length
      }
      if (this.buffered < this.want) return
      const body = this.take(this.want)
      this.want = -1
      yield body
    }
  }

  get pending (): boolean {
    return this.buffered > 0 || this.want >= 0
  }

  /** Reads a varint prefix if all of it is buffered (and consumes it); undefined if not yet. */
  private readPrefix (): number | undefined {
    let value = 0
    let scale = 1
    let chunk = 0
    let pos = this.offset
    const maxPrefix = varintBytes(this.frameBytesMax)
    for (let i = 0; i < maxPrefix; i++) {
      let current = this.chunks[chunk]
      while (current !== undefined && pos >= current.byteLength) { chunk++; pos = 0; current = this.chunks[chunk] }
      if (current === undefined) return undefined
      const byte = current[pos++] as number
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new BadFrameError('non-canonical frame length prefix')
        if (value === 0) throw new BadFrameError('empty frame')
        if (value > this.frameBytesMax) throw new BadFrameError(`frame of ${value} bytes exceeds the limit of ${this.frameBytesMax}`)
        this.take(i + 1)
        return value
      }
      scale *= 0x80
    }
    throw new BadFrameError(`frame length prefix longer than ${maxPrefix} bytes: the frame exceeds the limit of ${this.frameBytesMax}`)
  }

  /** Consumes `n` buffered bytes (n ≤ buffered) and returns them. */
  private take (n: number): Uint8Array {
    this.buffered -= n
    const first = this.chunks[0] as Uint8Array
    if (first.byteLength - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n)
      this.offset += n
      if (this.offset === first.byteLength) { this.chunks.shift(); this.offset = 0 }
      return view
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const c = this.chunks[0] as Uint8Array
      const part = Math.min(n - filled, c.byteLength - this.offset)
      out.set(c.subarray(this.offset, this.offset + part), filled)
      filled += part
      this.offset += part
      if (this.offset === c.byteLength) { this.chunks.shift(); this.offset = 0 }
    }
    return out
  }
}
