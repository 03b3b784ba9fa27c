/**
 * The binary form of catalog commands, the bytes the log carries. Strict, so that every replica
 * and every client version agrees on what a log entry means:
 * - versioned: the first byte is the format (`CATALOG_CODEC_VERSION`); another is refused;
 * - canonical: one encoding per command (minimal varints, booleans 0/1, UTF-8 that round-trips,
 *   no trailing bytes), so `encode(decode(b))` is `b` for every `b` that decodes;
 * - bounded: every length is checked against a limit before anything is allocated.
 * Anything else is a `SyncCodecError`; the runtime then fails the command alike on every replica.
 *
 * Layout (varint = unsigned LEB128 of a safe integer, minimal; str = varint byte length + UTF-8;
 * id = 32 raw bytes; ref = id + varint size):
 *   put    01 | 01 path base size mode mtimeMs origin rootHash(id) content
 *            content = 00 varint(n) ref×n                                   (full)
 *                    | 01 varint(n) (at remove varint(k) ref×k)×n          (delta)
 *   delete 01 | 02 path base origin
 *   rename 01 | 03 from to base origin
 *
 * Semantics (valid path, sizes adding up, the root hash) are the catalog's to check, not the
 * codec's: a well-formed command with a bad path decodes, and is refused by the catalog with a reason.
 */
import { CHUNK_BYTES_MAX } from './chunk.js'
import type { ChunkRef } from './chunk.js'
import { SyncCodecError } from './errors.js'
import { EDITS_MAX, FILE_CHUNKS_MAX } from './catalog-types.js'
import type { CatalogCommand, Edit, PutContent } from './catalog-types.js'

export const CATALOG_CODEC_VERSION = 1
/** Longest string field (a path or an origin), in UTF-8 bytes: room above PATH_BYTES_MAX for the catalog to refuse with a reason. */
export const CODEC_STRING_BYTES_MAX = 4096

const TAG_PUT = 1
const TAG_DELETE = 2
const TAG_RENAME = 3
const CONTENT_FULL = 0
const CONTENT_DELTA = 1

const HASH_HEX = /^[0-9a-f]{64}$/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Growable output buffer of the binary formats (commands and catalog snapshots). */
export class ByteWriter {
  private buf: Buffer
  private len = 0

  constructor (initial = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initial))
  }

  private room (n: number): void {
    if (this.len + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.len + n) cap *= 2
    const next = Buffer.allocUnsafe(cap)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  u8 (v: number): void {
    this.room(1)
    this.buf[this.len++] = v
  }

  /** Minimal unsigned LEB128 of a non-negative safe integer. */
  varint (v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new SyncCodecError(`not a non-negative safe integer: ${String(v)}`)
    this.room(8)
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.len++] = v
  }

  bytes (b: Uint8Array): void {
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }

  str (s: string, maxBytes: number): void {
    if (typeof s !== 'string') throw new SyncCodecError('not a string')
    // A lone surrogate would be written as U+FFFD: the bytes would decode to another string.
    if (LONE_SURROGATE.test(s)) throw new SyncCodecError('string is not well-formed UTF-16')
    const n = Buffer.byteLength(s, 'utf8')
    if (n > maxBytes) throw new SyncCodecError(`string of ${n} bytes, limit ${maxBytes}`)
    this.varint(n)
    this.room(n)
    this.len += this.buf.write(s, this.len, 'utf8')
  }

  /** 64 lowercase hex digits as 32 raw bytes. */
  hash (hex: string): void {
    if (typeof hex !== 'string' || !HASH_HEX.test(hex)) throw new SyncCodecError('not 64 lowercase hex digits')
    this.room(32)
    this.len += this.buf.write(hex, this.len, 'hex')
  }

  finish (): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.len))
  }
}

/** Bounds-checked input of the binary formats: every misstep is a `SyncCodecError` (or the `fail` given). */
export class ByteReader {
  private pos = 0

  constructor (private readonly buf: Uint8Array, private readonly fail: (message: string) => Error = m => new SyncCodecError(m)) {}

  get remaining (): number {
    return this.buf.length - this.pos
  }

  u8 (): number {
    if (this.pos >= this.buf.length) throw this.fail('truncated')
    return this.buf[this.pos++] as number
  }

  /** A minimal LEB128 varint of at most 2^53 − 1. */
  varint (): number {
    let v = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (i === 8) throw this.fail('varint too long')
      const b = this.u8()
      v += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        // A final zero byte after the first is a non-minimal encoding of the same number.
        if (b === 0 && i > 0) throw this.fail('varint not minimal')
        break
      }
      scale *= 0x80
    }
    if (!Number.isSafeInteger(v)) throw this.fail('varint above 2^53 - 1')
    return v
  }

  /** A varint within [min, max]. */
  bounded (what: string, min: number, max: number): number {
    const v = this.varint()
    if (v < min || v > max) throw this.fail(`${what} ${v} outside [${min}, ${max}]`)
    return v
  }

  take (n: number): Uint8Array {
    if (n > this.remaining) throw this.fail('truncated')
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  str (what: string, maxBytes: number): string {
    const n = this.bounded(`${what} length`, 0, maxBytes)
    try {
      return utf8Strict.decode(this.take(n))
    } catch (error) {
      if (error instanceof TypeError) throw this.fail(`${what} is not UTF-8`)
      throw error
    }
  }

  hash (): string {
    return Buffer.from(this.take(32)).toString('hex')
  }

  bool (what: string): boolean {
    const b = this.u8()
    if (b > 1) throw this.fail(`${what} is not 0 or 1`)
    return b === 1
  }

  end (): void {
    if (this.remaining !== 0) throw this.fail(`${this.remaining} trailing bytes`)
  }
}

export function writeRef (w: ByteWriter, ref: ChunkRef): void {
  if (typeof ref !== 'object' || ref === null) throw new SyncCodecError('chunk ref is not an object')
  w.hash(ref.id)
  if (!Number.isSafeInteger(ref.size) || ref.size < 1 || ref.size > CHUNK_BYTES_MAX) throw new SyncCodecError(`chunk size ${String(ref.size)} outside [1, ${CHUNK_BYTES_MAX}]`)
  w.varint(ref.size)
}

export function readRef (r: ByteReader): ChunkRef {
  const id = r.hash()
  const size = r.bounded('chunk size', 1, CHUNK_BYTES_MAX)
  return { id, size }
}

export function writeRefs (w: ByteWriter, refs: readonly ChunkRef[]): void {
  if (!Array.isArray(refs) || refs.length > FILE_CHUNKS_MAX) throw new SyncCodecError(`chunk list not an array of at most ${FILE_CHUNKS_MAX}`)
  w.varint(refs.length)
  for (const ref of refs) writeRef(w, ref)
}

export function readRefs (r: ByteReader): ChunkRef[] {
  // Each ref takes at least 33 bytes: a count the input cannot hold is refused before allocating.
  const n = r.bounded('chunk count', 0, Math.min(FILE_CHUNKS_MAX, Math.floor(r.remaining / 33)))
  const refs = new Array<ChunkRef>(n)
  for (let i = 0; i < n; i++) refs[i] = readRef(r)
  return refs
}

/** What the runtime needs from a codec (structurally `CommandCodec<CatalogCommand>` of src/vpeer). */
export interface CatalogCommandCodec {
  encode (command: CatalogCommand): Uint8Array
  /** @throws SyncCodecError on anything `encode` could not have produced */
  decode (bytes: Uint8Array): CatalogCommand
}

/**
 * @throws SyncCodecError if the command breaks a limit or has a field of the wrong type (the
 *   same rules `decode` enforces, so whatever encodes also decodes)
 */
export function encodeCatalogCommand (command: CatalogCommand): Uint8Array {
  const w = new ByteWriter()
  w.u8(CATALOG_CODEC_VERSION)
  switch (command.type) {
    case 'put': {
      w.u8(TAG_PUT)
      w.str(command.path, CODEC_STRING_BYTES_MAX)
      w.varint(command.base)
      w.varint(command.size)
      if (!Number.isInteger(command.mode) || command.mode < 0 || command.mode > 0xffffffff) throw new SyncCodecError(`mode ${String(command.mode)} is not a uint32`)
      w.varint(command.mode)
      w.varint(command.mtimeMs)
      w.str(command.origin, CODEC_STRING_BYTES_MAX)
      w.hash(command.rootHash)
      writeContent(w, command.content)
      break
    }
    case 'delete':
      w.u8(TAG_DELETE)
      w.str(command.path, CODEC_STRING_BYTES_MAX)
      w.varint(command.base)
      w.str(command.origin, CODEC_STRING_BYTES_MAX)
      break
    case 'rename':
      w.u8(TAG_RENAME)
      w.str(command.from, CODEC_STRING_BYTES_MAX)
      w.str(command.to, CODEC_STRING_BYTES_MAX)
      w.varint(command.base)
      w.str(command.origin, CODEC_STRING_BYTES_MAX)
      break
    default:
      throw new SyncCodecError(`unknown command type ${JSON.stringify((command as { type?: unknown }).type)}`)
  }
  return w.finish()
}

function writeContent (w: ByteWriter, content: PutContent): void {
  if (typeof content !== 'object' || content === null) throw new SyncCodecError('content is not an object')
  if ('full' in content) {
    w.u8(CONTENT_FULL)
    writeRefs(w, content.full)
    return
  }
  const edits = (content as { delta?: unknown }).delta
  if (!Array.isArray(edits) || edits.length > EDITS_MAX) throw new SyncCodecError(`delta is not an array of at most ${EDITS_MAX} edits`)
  w.u8(CONTENT_DELTA)
  w.varint(edits.length)
  for (const e of edits as Edit[]) {
    w.varint(e.at)
    w.varint(e.remove)
    writeRefs(w, e.insert)
  }
}

/** @throws SyncCodecError on anything `encodeCatalogCommand` could not have produced */
export function decodeCatalogCommand (bytes: Uint8Array): CatalogCommand {
  if (!(bytes instanceof Uint8Array)) throw new SyncCodecError('not bytes')
  const r = new ByteReader(bytes)
  const version = r.u8()
  if (version !== CATALOG_CODEC_VERSION) throw new SyncCodecError(`catalog command format ${version}, expected ${CATALOG_CODEC_VERSION}`)
  const tag = r.u8()
  let command: CatalogCommand
  switch (tag) {
    case TAG_PUT: {
      const path = r.str('path', CODEC_STRING_BYTES_MAX)
      const base = r.varint()
      const size = r.varint()
      const mode = r.bounded('mode', 0, 0xffffffff)
      const mtimeMs = r.varint()
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      const rootHash = r.hash()
      const content = readContent(r)
      command = { type: 'put', path, base, size, mode, mtimeMs, origin, rootHash, content }
      break
    }
    case TAG_DELETE: {
      const path = r.str('path', CODEC_STRING_BYTES_MAX)
      const base = r.varint()
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      command = { type: 'delete', path, base, origin }
      break
    }
    case TAG_RENAME: {
      const from = r.str('from', CODEC_STRING_BYTES_MAX)
      const to = r.str('to', CODEC_STRING_BYTES_MAX)
      const base = r.varint()
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      command = { type: 'rename', from, to, base, origin }
      break
    }
    default:
      throw new SyncCodecError(`unknown catalog command tag ${tag}`)
  }
  r.end()
  return command
}

function readContent (r: ByteReader): PutContent {
  const kind = r.u8()
  if (kind === CONTENT_FULL) return { full: readRefs(r) }
  if (kind !== CONTENT_DELTA) throw new SyncCodecError(`unknown content kind ${kind}`)
  // An edit takes at least 3 bytes (at, remove, an empty insert list).
  const n = r.bounded('edit count', 0, Math.min(EDITS_MAX, Math.floor(r.remaining / 3)))
  const edits = new Array<Edit>(n)
  for (let i = 0; i < n; i++) {
    const at = r.varint()
    const remove = r.varint()
    edits[i] = { at, remove, insert: readRefs(r) }
  }
  return { delta: edits }
}

/** The codec to give the VirtualPeer running a catalog (`codec: catalogCodec`). */
export const catalogCodec: CatalogCommandCodec = {
  encode: encodeCatalogCommand,
  decode: decodeCatalogCommand
}
