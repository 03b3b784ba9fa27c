/**
 * The block-exchange protocol's messages (`/vpeer/blocks/1.0.0`), as bytes. Pure and strict.
 *
 * A stream is opened by the side that fetches (the *opener*); on it the opener sends requests
 * and the other side (the *server*) answers them and pushes announcements:
 *
 *   opener → server   want { req, ids }      which of these do you have? (also: tell me when you get them)
 *                     get { req, id }        send me this chunk
 *                     cancel { req }         I no longer need the answer to `req` (endgame duplicates)
 *   server → opener   have { req, bitmap }   bit i: the server has ids[i] of the want `req`
 *                     block { req, id, bytes }
 *                     missing { req, id }    not here (any more); the opener stops asking us for it
 *                     busy { req }           too many requests queued here; ask someone else or later
 *                     announce { ids }       I now have these (only ids the opener wanted and we lacked)
 *
 * Subscriptions are implicit: a `want` subscribes the opener to announcements of the ids the
 * server lacked, so a receiver learns that another receiver has a chunk as soon as it is stored
 * there, without polling and without a separate subscribe message.
 *
 * Layout: version (1 byte) · type tag (1 byte) · fields. Varints are canonical unsigned LEB128
 * (`ByteReader`); ids are 32 raw bytes; counts and lengths are checked against their limit and
 * against the bytes left before anything is allocated; a bitmap's padding bits must be zero;
 * nothing may follow the last field. Anything else is a `SyncCodecError`.
 */
import { ByteReader } from '../util/byte-reader.js'
import { ByteWriter } from '../util/byte-writer.js'
import { CHUNK_BYTES_MAX, isChunkId } from './chunk.js'
import type { ChunkId } from './chunk.js'
import { SyncCodecError } from './errors.js'

export const EXCHANGE_CODEC_VERSION = 1

export const EXCHANGE_LIMITS = Object.freeze({
  /** Ids in one `want` or `announce`. */
  idsMax: 4096,
  /** Bytes of a block's payload. */
  blockBytesMax: CHUNK_BYTES_MAX,
  /** Largest encoded message: a block at its limit plus its header (version, tag, req, id, length). */
  messageBytesMax: CHUNK_BYTES_MAX + 64
})

const ID_BYTES = 32

export type ExchangeMessage =
  | { readonly type: 'want', readonly req: number, readonly ids: readonly ChunkId[] }
  | { readonly type: 'have', readonly req: number, readonly bitmap: readonly boolean[] }
  | { readonly type: 'get', readonly req: number, readonly id: ChunkId }
  | { readonly type: 'block', readonly req: number, readonly id: ChunkId, readonly bytes: Uint8Array }
  | { readonly type: 'missing', readonly req: number, readonly id: ChunkId }
  | { readonly type: 'busy', readonly req: number }
  | { readonly type: 'cancel', readonly req: number }
  | { readonly type: 'announce', readonly ids: readonly ChunkId[] }

export type ExchangeMessageType = ExchangeMessage['type']

const TAGS: Readonly<Record<ExchangeMessageType, number>> = {
  want: 1, have: 2, get: 3, block: 4, missing: 5, busy: 6, cancel: 7, announce: 8
}

/** Messages only the opener of a stream sends; the rest only the server sends. */
export function isRequestMessage (m: ExchangeMessage): m is Extract<ExchangeMessage, { type: 'want' | 'get' | 'cancel' }> {
  return m.type === 'want' || m.type === 'get' || m.type === 'cancel'
}

class Writer extends ByteWriter {
  fail (reason: string, offset: number): never {
    throw new SyncCodecError(`block-exchange message cannot be encoded (at byte ${offset}): ${reason}`)
  }

  id (id: ChunkId): this {
    if (!isChunkId(id)) this.fail(`not a chunk id: ${JSON.stringify(String(id).slice(0, 80))}`, this.size)
    return this.push(Buffer.from(id, 'hex'))
  }

  ids (ids: readonly ChunkId[]): this {
    if (ids.length > EXCHANGE_LIMITS.idsMax) this.fail(`${ids.length} ids exceed the limit of ${EXCHANGE_LIMITS.idsMax}`, this.size)
    this.varint(ids.length)
    for (const id of ids) this.id(id)
    return this
  }

  raw (bytes: Uint8Array): this { return this.push(bytes) }
}

class Reader extends ByteReader {
  fail (reason: string, cause?: unknown): never {
    throw new SyncCodecError(`block-exchange message refused at byte ${this.pos}: ${reason}`, cause !== undefined ? { cause } : undefined)
  }

  id (field: string): ChunkId {
    return Buffer.from(this.take(field, ID_BYTES)).toString('hex')
  }

  ids (): ChunkId[] {
    const count = this.varint('id count')
    if (count > EXCHANGE_LIMITS.idsMax) this.fail(`${count} ids exceed the limit of ${EXCHANGE_LIMITS.idsMax}`)
    // Checked before the array grows: a count the bytes cannot hold is refused up front.
    if (count * ID_BYTES > this.bytes.byteLength - this.pos) this.fail(`truncated: ${count} ids announced, ${this.bytes.byteLength - this.pos} bytes left`)
    const ids: ChunkId[] = []
    for (let i = 0; i < count; i++) ids.push(this.id('id'))
    return ids
  }
}

export function encodeExchangeMessage (m: ExchangeMessage): Uint8Array {
  const tag = TAGS[m.type]
  const w = new Writer().byte(EXCHANGE_CODEC_VERSION).byte(tag)
  switch (m.type) {
    case 'want':
      return w.varint(m.req).ids(m.ids).finish()
    case 'have': {
      const count = m.bitmap.length
      if (count > EXCHANGE_LIMITS.idsMax) w.fail(`${count} bits exceed the limit of ${EXCHANGE_LIMITS.idsMax}`, w.size)
      const packed = new Uint8Array(Math.ceil(count / 8))
      m.bitmap.forEach((bit, i) => { if (bit) packed[i >> 3] = (packed[i >> 3] as number) | (1 << (i & 7)) })
      return w.varint(m.req).varint(count).raw(packed).finish()
    }
    case 'get':
    case 'missing':
      return w.varint(m.req).id(m.id).finish()
    case 'block':
      return w.varint(m.req).id(m.id).bytes(m.bytes, EXCHANGE_LIMITS.blockBytesMax).finish()
    case 'busy':
    case 'cancel':
      return w.varint(m.req).finish()
    case 'announce':
      return w.ids(m.ids).finish()
  }
}

/** @throws SyncCodecError for anything but a canonical encoding of one message. */
export function decodeExchangeMessage (bytes: Uint8Array): ExchangeMessage {
  if (bytes.byteLength > EXCHANGE_LIMITS.messageBytesMax) {
    throw new SyncCodecError(`block-exchange message of ${bytes.byteLength} bytes exceeds the limit of ${EXCHANGE_LIMITS.messageBytesMax}`)
  }
  const r = new Reader(bytes)
  const version = r.byte('version')
  if (version !== EXCHANGE_CODEC_VERSION) { r.pos--; r.fail(`unknown version ${version}`) }
  const tag = r.byte('type')
  let m: ExchangeMessage
  switch (tag) {
    case TAGS.want: {
      const req = r.varint('req')
      m = { type: 'want', req, ids: r.ids() }
      break
    }
    case TAGS.have: {
      const req = r.varint('req')
      const count = r.varint('bit count')
      if (count > EXCHANGE_LIMITS.idsMax) r.fail(`${count} bits exceed the limit of ${EXCHANGE_LIMITS.idsMax}`)
      const packed = r.take('bitmap', Math.ceil(count / 8))
      const bitmap: boolean[] = []
      for (let i = 0; i < count; i++) bitmap.push(((packed[i >> 3] as number) & (1 << (i & 7))) !== 0)
      // Padding bits set would give two encodings of one bitmap.
      if (count % 8 !== 0 && ((packed[packed.length - 1] as number) >> (count % 8)) !== 0) r.fail('bitmap padding bits are not zero')
      m = { type: 'have', req, bitmap }
      break
    }
    case TAGS.get:
    case TAGS.missing: {
      const req = r.varint('req')
      m = { type: tag === TAGS.get ? 'get' : 'missing', req, id: r.id('id') }
      break
    }
    case TAGS.block: {
      const req = r.varint('req')
      const id = r.id('id')
      const blockBytes = r.take('block', r.length('block', EXCHANGE_LIMITS.blockBytesMax))
      m = { type: 'block', req, id, bytes: blockBytes }
      break
    }
    case TAGS.busy:
    case TAGS.cancel:
      m = { type: tag === TAGS.busy ? 'busy' : 'cancel', req: r.varint('req') }
      break
    case TAGS.announce:
      m = { type: 'announce', ids: r.ids() }
      break
    default:
      r.pos--
      return r.fail(`unknown message type ${tag}`)
  }
  r.end()
  return m
}
