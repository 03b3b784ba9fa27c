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
import { ID_BYTES, SyncReader, SyncWriter } from './sync-codec.js'
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

/** A chunk ref takes at least 33 bytes (an id and a one-byte size). */
const REF_BYTES_MIN = ID_BYTES + 1
/** An edit takes at least 3 bytes (at, remove, an empty insert list). */
const EDIT_BYTES_MIN = 3

export function writeRef (w: SyncWriter, ref: ChunkRef): void {
  if (typeof ref !== 'object' || ref === null) w.fail('chunk ref is not an object', w.size)
  w.id(ref.id)
  if (!Number.isSafeInteger(ref.size) || ref.size < 1 || ref.size > CHUNK_BYTES_MAX) w.fail(`chunk size ${String(ref.size)} outside [1, ${CHUNK_BYTES_MAX}]`, w.size)
  w.varint(ref.size)
}

export function readRef (r: SyncReader): ChunkRef {
  const id = r.id('chunk id')
  const size = r.bounded('chunk size', 1, CHUNK_BYTES_MAX)
  return { id, size }
}

export function writeRefs (w: SyncWriter, refs: readonly ChunkRef[]): void {
  w.count(refs, FILE_CHUNKS_MAX, 'chunk list')
  for (const ref of refs) writeRef(w, ref)
}

export function readRefs (r: SyncReader): ChunkRef[] {
  const n = r.count('chunk count', FILE_CHUNKS_MAX, REF_BYTES_MIN)
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
  const w = new SyncWriter('catalog command').byte(CATALOG_CODEC_VERSION)
  switch (command.type) {
    case 'put': {
      w.byte(TAG_PUT).str(command.path, CODEC_STRING_BYTES_MAX).varint(command.base).varint(command.size)
      if (!Number.isInteger(command.mode) || command.mode < 0 || command.mode > 0xffffffff) w.fail(`mode ${String(command.mode)} is not a uint32`, w.size)
      w.varint(command.mode).varint(command.mtimeMs).str(command.origin, CODEC_STRING_BYTES_MAX).id(command.rootHash)
      writeContent(w, command.content)
      break
    }
    case 'delete':
      w.byte(TAG_DELETE).str(command.path, CODEC_STRING_BYTES_MAX).varint(command.base).str(command.origin, CODEC_STRING_BYTES_MAX)
      break
    case 'rename':
      w.byte(TAG_RENAME).str(command.from, CODEC_STRING_BYTES_MAX).str(command.to, CODEC_STRING_BYTES_MAX).varint(command.base).str(command.origin, CODEC_STRING_BYTES_MAX)
      break
    default:
      w.fail(`unknown command type ${JSON.stringify((command as { type?: unknown }).type)}`, w.size)
  }
  return w.finish()
}

function writeContent (w: SyncWriter, content: PutContent): void {
  if (typeof content !== 'object' || content === null) w.fail('content is not an object', w.size)
  if ('full' in content) {
    w.byte(CONTENT_FULL)
    writeRefs(w, content.full)
    return
  }
  const edits = (content as { delta?: unknown }).delta as Edit[]
  w.byte(CONTENT_DELTA).count(edits, EDITS_MAX, 'delta')
  for (const e of edits) {
    w.varint(e.at).varint(e.remove)
    writeRefs(w, e.insert)
  }
}

/** @throws SyncCodecError on anything `encodeCatalogCommand` could not have produced */
export function decodeCatalogCommand (bytes: Uint8Array): CatalogCommand {
  if (!(bytes instanceof Uint8Array)) throw new SyncCodecError('catalog command refused: not bytes')
  const r = new SyncReader(bytes, 'catalog command')
  const version = r.byte('version')
  if (version !== CATALOG_CODEC_VERSION) r.fail(`format ${version}, expected ${CATALOG_CODEC_VERSION}`)
  const tag = r.byte('tag')
  let command: CatalogCommand
  switch (tag) {
    case TAG_PUT: {
      const path = r.str('path', CODEC_STRING_BYTES_MAX)
      const base = r.varint('base')
      const size = r.varint('size')
      const mode = r.bounded('mode', 0, 0xffffffff)
      const mtimeMs = r.varint('mtimeMs')
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      const rootHash = r.id('rootHash')
      const content = readContent(r)
      command = { type: 'put', path, base, size, mode, mtimeMs, origin, rootHash, content }
      break
    }
    case TAG_DELETE: {
      const path = r.str('path', CODEC_STRING_BYTES_MAX)
      const base = r.varint('base')
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      command = { type: 'delete', path, base, origin }
      break
    }
    case TAG_RENAME: {
      const from = r.str('from', CODEC_STRING_BYTES_MAX)
      const to = r.str('to', CODEC_STRING_BYTES_MAX)
      const base = r.varint('base')
      const origin = r.str('origin', CODEC_STRING_BYTES_MAX)
      command = { type: 'rename', from, to, base, origin }
      break
    }
    default:
      return r.fail(`unknown command tag ${tag}`)
  }
  r.end()
  return command
}

function readContent (r: SyncReader): PutContent {
  const kind = r.byte('content kind')
  if (kind === CONTENT_FULL) return { full: readRefs(r) }
  if (kind !== CONTENT_DELTA) r.fail(`unknown content kind ${kind}`)
  const n = r.count('edit count', EDITS_MAX, EDIT_BYTES_MIN)
  const edits = new Array<Edit>(n)
  for (let i = 0; i < n; i++) {
    const at = r.varint('at')
    const remove = r.varint('remove')
    edits[i] = { at, remove, insert: readRefs(r) }
  }
  return { delta: edits }
}

/** The codec to give the VirtualPeer running a catalog (`codec: catalogCodec`). */
export const catalogCodec: CatalogCommandCodec = {
  encode: encodeCatalogCommand,
  decode: decodeCatalogCommand
}
