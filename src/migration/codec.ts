/**
 * Binary encoding of a snapshot manifest (`SnapshotMeta`), and its root hash.
 *
 * Layout (integers are unsigned LEB128 varints, canonical, at most 2^53-1; strings a varint UTF-8
 * length plus the bytes; byte arrays a varint length plus the bytes):
 *
 *   version (1 byte) = 1, kind (1 byte) = 'S'
 *   index, size, chunkSize
 *   configuration: epoch, voter count, voters…, learner count, learners…
 *   sessions (byte array)
 *   chunk count, then 32 raw bytes of SHA-256 per chunk
 *   ── everything above is the manifest body ──
 *   root (32 raw bytes) = SHA-256("vpeer/snapshot/root/v1\0" ‖ body)
 *
 * The root covers every other field of the manifest, not only the chunk hashes: a sender that
 * lies about the index, the configuration or the session table (or a bit flip in them) changes
 * the root, and the receiver compares the root with the one it was offered. Decoding is strict
 * (unknown version, truncation, trailing bytes, non-canonical varints, invalid UTF-8, a chunk count
 * that disagrees with size and chunkSize, a wrong root: all `CorruptSnapshotError`), so one
 * manifest has exactly one encoding and therefore exactly one root.
 */
import { ByteReader } from '../util/byte-reader.js'
import { createHash } from 'node:crypto'
import type { Configuration, NodeId } from '../paxos/index.js'
import { CorruptSnapshotError, InvalidSnapshotError } from './errors.js'
import type { SnapshotMeta } from './snapshot.js'

export const MANIFEST_FORMAT_VERSION = 1
const KIND_SNAPSHOT = 0x53 // 'S'
const HASH_BYTES = 32
const ROOT_DOMAIN = new TextEncoder().encode('vpeer/snapshot/root/v1\0')
// A JS number holds integers exactly up to 2^53 - 1, which needs 8 groups of 7 bits.
const HEX_HASH = /^[0-9a-f]{64}$/

/** Hard bounds, checked on encode (`InvalidSnapshotError`) and decode (`CorruptSnapshotError`). */
export const MANIFEST_LIMITS = Object.freeze({
  /** UTF-8 bytes of one node id (a libp2p PeerId string is about 52). */
  idBytesMax: 1024,
  /** Voters, and separately learners, in the configuration. */
  membersMax: 4096,
  /** Bytes of the encoded client-session table. */
  sessionsBytesMax: 64 * 1024 * 1024
})

/** The manifest without its root: what the root is computed over. */
export type ManifestBody = Omit<SnapshotMeta, 'root'>

const utf8Encoder = new TextEncoder()
// ignoreBOM: a leading U+FEFF is data, not a byte-order mark.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Chunks of a state of `size` bytes cut every `chunkSize` bytes; an empty state has none. */
export function chunkCountOf (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

/** SHA-256 of `bytes` as 64 lowercase hex digits. */
export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

// ---------------------------------------------------------------------------------------------
// Encoding

function checkNat (field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidSnapshotError(field, `expected an integer in 0..2^53-1, got ${String(value)}`)
  }
  return value
}

function varint (out: number[], value: number): void {
  // Division, not bit shifts: shifts truncate to 32 bits and values go up to 2^53 - 1.
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }
  out.push(value)
}

function hasLoneSurrogate (text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = text.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) return true
      i++
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return true
    }
  }
  return false
}

function ids (out: number[], field: string, list: unknown): void {
  if (!Array.isArray(list)) throw new InvalidSnapshotError(field, 'expected an array of node ids')
  if (list.length > MANIFEST_LIMITS.membersMax) {
    throw new InvalidSnapshotError(field, `${list.length} members exceed the limit of ${MANIFEST_LIMITS.membersMax}`)
  }
  varint(out, list.length)
  list.forEach((id: unknown, i) => {
    if (typeof id !== 'string') throw new InvalidSnapshotError(`${field}[${i}]`, 'expected a string')
    // TextEncoder would silently replace a lone surrogate with U+FFFD: the id would not come back.
    if (hasLoneSurrogate(id)) throw new InvalidSnapshotError(`${field}[${i}]`, 'lone UTF-16 surrogate')
    const bytes = utf8Encoder.encode(id)
    if (bytes.byteLength > MANIFEST_LIMITS.idBytesMax) {
      throw new InvalidSnapshotError(`${field}[${i}]`, `${bytes.byteLength} UTF-8 bytes exceed the limit of ${MANIFEST_LIMITS.idBytesMax}`)
    }
    varint(out, bytes.byteLength)
    for (const byte of bytes) out.push(byte)
  })
}

/**
 * The canonical body bytes of a manifest (everything but the root).
 * @throws InvalidSnapshotError if a field cannot be represented, or the chunk hashes do not fit
 *   `size` and `chunkSize`
 */
export function encodeManifestBody (body: ManifestBody): Uint8Array {
  const index = checkNat('index', body.index)
  const size = checkNat('size', body.size)
  const chunkSize = checkNat('chunkSize', body.chunkSize)
  if (chunkSize < 1) throw new InvalidSnapshotError('chunkSize', 'must be at least 1')
  const configuration: Configuration | undefined = body.configuration
  if (typeof configuration !== 'object' || configuration === null) {
    throw new InvalidSnapshotError('configuration', 'expected an object')
  }
  const sessions = body.sessions
  if (!(sessions instanceof Uint8Array)) throw new InvalidSnapshotError('sessions', 'expected a Uint8Array')
  if (sessions.byteLength > MANIFEST_LIMITS.sessionsBytesMax) {
    throw new InvalidSnapshotError('sessions', `${sessions.byteLength} bytes exceed the limit of ${MANIFEST_LIMITS.sessionsBytesMax}`)
  }
  const hashes = body.chunkHashes
  if (!Array.isArray(hashes)) throw new InvalidSnapshotError('chunkHashes', 'expected an array')
  const count = chunkCountOf(size, chunkSize)
  if (hashes.length !== count) {
    throw new InvalidSnapshotError('chunkHashes', `${hashes.length} hashes, but ${size} bytes in chunks of ${chunkSize} make ${count}`)
  }

  const head: number[] = [MANIFEST_FORMAT_VERSION, KIND_SNAPSHOT]
  varint(head, index)
  varint(head, size)
  varint(head, chunkSize)
  varint(head, checkNat('configuration.epoch', configuration.epoch))
  ids(head, 'configuration.voters', configuration.voters)
  ids(head, 'configuration.learners', configuration.learners)
  varint(head, sessions.byteLength)
  const middle: number[] = []
  varint(middle, count)

  const out = new Uint8Array(head.length + sessions.byteLength + middle.length + count * HASH_BYTES)
  out.set(head, 0)
  out.set(sessions, head.length)
  out.set(middle, head.length + sessions.byteLength)
  let pos = head.length + sessions.byteLength + middle.length
  hashes.forEach((hash: unknown, i) => {
    if (typeof hash !== 'string' || !HEX_HASH.test(hash)) {
      throw new InvalidSnapshotError(`chunkHashes[${i}]`, 'expected 64 lowercase hex digits')
    }
    out.set(Buffer.from(hash, 'hex'), pos)
    pos += HASH_BYTES
  })
  return out
}

function rootOfBody (body: Uint8Array): string {
  return createHash('sha256').update(ROOT_DOMAIN).update(body).digest('hex')
}

/**
 * The root hash of a manifest: SHA-256 over a domain tag and the canonical body, so it
 * authenticates index, size, chunkSize, configuration, sessions and every chunk hash at once.
 * @throws InvalidSnapshotError as `encodeManifestBody`
 */
export function manifestRoot (body: ManifestBody): string {
  return rootOfBody(encodeManifestBody(body))
}

/**
 * The wire and disk form of a manifest: body then root. The root is written as given, not
 * recomputed, so a manifest with a wrong root encodes as such and is refused when decoded.
 * @throws InvalidSnapshotError
 */
export function encodeSnapshotMeta (meta: SnapshotMeta): Uint8Array {
  const body = encodeManifestBody(meta)
  if (typeof meta.root !== 'string' || !HEX_HASH.test(meta.root)) {
    throw new InvalidSnapshotError('root', 'expected 64 lowercase hex digits')
  }
  const out = new Uint8Array(body.byteLength + HASH_BYTES)
  out.set(body, 0)
  out.set(Buffer.from(meta.root, 'hex'), body.byteLength)
  return out
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader extends ByteReader {
  override fail (reason: string, cause?: unknown): never {
    throw new CorruptSnapshotError(`manifest byte ${this.pos}: ${reason}`, cause === undefined ? {} : { cause })
  }

  ids (field: string): NodeId[] {
    const count = this.length(field, MANIFEST_LIMITS.membersMax)
    const list: NodeId[] = []
    for (let i = 0; i < count; i++) {
      const bytes = this.take(`${field}[${i}]`, this.length(`${field}[${i}]`, MANIFEST_LIMITS.idBytesMax))
      try {
        list.push(utf8Decoder.decode(bytes))
      } catch (err) {
        this.fail(`${field}[${i}] is not valid UTF-8`, err)
      }
    }
    return list
  }
}

/**
 * Decodes a manifest and checks it: canonical encoding, a chunk count that fits size and
 * chunkSize, and a root equal to the hash of the body. The result shares no memory with `bytes`.
 * @throws CorruptSnapshotError
 */
export function decodeSnapshotMeta (bytes: Uint8Array): SnapshotMeta {
  if (!(bytes instanceof Uint8Array)) throw new CorruptSnapshotError('manifest: expected bytes')
  const reader = new Reader(bytes)
  const version = reader.byte('format version')
  if (version !== MANIFEST_FORMAT_VERSION) reader.fail(`unknown format version ${version}`)
  const kind = reader.byte('record kind')
  if (kind !== KIND_SNAPSHOT) reader.fail(`record kind 0x${kind.toString(16)}, expected 0x${KIND_SNAPSHOT.toString(16)}`)
  const index = reader.varint('index')
  const size = reader.varint('size')
  const chunkSize = reader.varint('chunkSize')
  if (chunkSize < 1) reader.fail('chunkSize 0')
  const epoch = reader.varint('configuration.epoch')
  const voters = reader.ids('configuration.voters')
  const learners = reader.ids('configuration.learners')
  // A plain copy: `slice` on a Node Buffer (LevelDB reads, base64 decoding) would be a view.
  const sessions = new Uint8Array(reader.take('sessions', reader.length('sessions', MANIFEST_LIMITS.sessionsBytesMax)))
  const count = reader.varint('chunk count')
  const expected = chunkCountOf(size, chunkSize)
  if (count !== expected) reader.fail(`${count} chunks, but ${size} bytes in chunks of ${chunkSize} make ${expected}`)
  // Checked before allocating: a forged count cannot make us build a huge array.
  if (count > (bytes.byteLength - reader.pos) / HASH_BYTES) reader.fail(`truncated in chunk hashes: ${count} announced`)
  const chunkHashes: string[] = []
  for (let i = 0; i < count; i++) chunkHashes.push(Buffer.from(reader.take('chunk hash', HASH_BYTES)).toString('hex'))
  const bodyEnd = reader.pos
  const root = Buffer.from(reader.take('root', HASH_BYTES)).toString('hex')
  if (reader.pos !== bytes.byteLength) reader.fail(`${bytes.byteLength - reader.pos} trailing bytes`)
  const actual = rootOfBody(bytes.subarray(0, bodyEnd))
  if (actual !== root) throw new CorruptSnapshotError(`root ${root} does not match the manifest (hashes to ${actual})`)
  return { index, configuration: { epoch, voters, learners }, sessions, size, chunkSize, chunkHashes, root }
}
