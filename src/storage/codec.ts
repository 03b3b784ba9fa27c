/**
 * Binary records for durable Paxos state.
 *
 * Every record starts with a format-version byte and a kind byte, so a future layout can be read
 * beside this one and a meta record can never be mistaken for a log entry. Integers are unsigned
 * LEB128 varints, strings are a varint byte length plus UTF-8, byte arrays a varint length plus
 * the bytes.
 *
 * Decoding is strict: unknown versions, truncated input, trailing bytes, non-canonical varints,
 * invalid UTF-8 and lengths over a limit all throw `CorruptRecordError`. Strictness makes the
 * encoding canonical (every accepted input re-encodes to the same bytes), which is what lets a
 * checksum or a byte comparison of two replicas' records mean something.
 *
 * Entry (kind 'E'): version, kind, round, node, value id, command count,
 *                   then per command: client, seq, data.
 * Timed entry (kind 'T'): the same, then the value's proposal time (ms). A value without a time
 *                   (written before proposal times existed) is an 'E' record, one with a time a
 *                   'T' record, so both forms stay canonical.
 * Meta  (kind 'M'): version, kind, promised round, promised node, commitIndex.
 * Format (kind 'F'): version, kind, storage format version, database id (byte array).
 * Head  (kind 'H'): version, kind, previous chain hash, chain hash (byte arrays), meta seq,
 *                   snapshot seq (0 = none), log record count, log digest (u32 sum of CRCs).
 * Snapshot (kind 'N'): version, kind, piece bytes, piece count, then the encoded manifest as a
 *                   byte array (`src/migration/codec.ts`, which carries its own version and root).
 *                   The state itself is stored raw in pieces under separate keys (`keys.ts`).
 */
import { ByteReader, varintBytes } from '../util/byte-reader.js'
import type { Ballot, Command, LogEntry, Slot } from '../paxos/index.js'
import { CorruptRecordError, InvalidRecordError } from './errors.js'

export const FORMAT_VERSION = 1

const KIND_ENTRY = 0x45 // 'E'
const KIND_FORMAT = 0x46 // 'F'
const KIND_HEAD = 0x48 // 'H'
const KIND_TIMED_ENTRY = 0x54 // 'T'
const KIND_META = 0x4d // 'M'
const KIND_SNAPSHOT = 0x4e // 'N'

/**
 * Hard bounds, checked on encode (the caller gets `InvalidRecordError` before anything is written)
 * and on decode (garbage cannot make us allocate gigabytes). Ids are short by construction: a
 * libp2p PeerId string is about 52 characters and a value id is `<round>.<node>.<slot>`.
 */
export const CODEC_LIMITS = Object.freeze({
  /** UTF-8 bytes of a node id, value id or client id. */
  idBytesMax: 1024,
  /** Commands batched into one slot. */
  commandsPerValueMax: 65_536,
  /** Bytes of one command's opaque data. */
  commandDataBytesMax: 16 * 1024 * 1024,
  /** Bytes of one whole encoded record. */
  recordBytesMax: 64 * 1024 * 1024
})

/** The meta record: everything durable that is not a log entry. */
export interface MetaRecord {
  readonly promised: Ballot
  readonly commitIndex: Slot
}

// A JS number holds integers exactly up to 2^53 - 1, which needs 8 groups of 7 bits.

const utf8Encoder = new TextEncoder()
// ignoreBOM: a leading U+FEFF is data (a client id may start with it), not a byte-order mark.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// ---------------------------------------------------------------------------------------------
// Sizing and validation

function checkNat (field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidRecordError(field, `expected an integer in 0..2^53-1, got ${String(value)}`)
  }
}

/**
 * UTF-8 length of `text`. Throws on a lone surrogate, because `TextEncoder` would silently
 * replace it with U+FFFD and the string would not come back as it went in.
 */
function utf8Bytes (field: string, text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) {
      bytes += 1
    } else if (unit < 0x800) {
      bytes += 2
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = text.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) {
        throw new InvalidRecordError(field, `lone UTF-16 surrogate at index ${i}`)
      }
      bytes += 4
      i++
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new InvalidRecordError(field, `lone UTF-16 surrogate at index ${i}`)
    } else {
      bytes += 3
    }
  }
  return bytes
}

function stringBytes (field: string, text: unknown, max: number): number {
  if (typeof text !== 'string') throw new InvalidRecordError(field, 'expected a string')
  const bytes = utf8Bytes(field, text)
  if (bytes > max) throw new InvalidRecordError(field, `${bytes} UTF-8 bytes exceed the limit of ${max}`)
  return varintBytes(bytes) + bytes
}

function ballotBytes (field: string, ballot: Ballot): number {
  checkNat(`${field}.round`, ballot.round)
  return varintBytes(ballot.round) + stringBytes(`${field}.node`, ballot.node, CODEC_LIMITS.idBytesMax)
}

function commandBytes (field: string, command: Command): number {
  checkNat(`${field}.seq`, command.seq)
  if (!(command.data instanceof Uint8Array)) throw new InvalidRecordError(`${field}.data`, 'expected a Uint8Array')
  const dataBytes = command.data.byteLength
  if (dataBytes > CODEC_LIMITS.commandDataBytesMax) {
    throw new InvalidRecordError(`${field}.data`, `${dataBytes} bytes exceed the limit of ${CODEC_LIMITS.commandDataBytesMax}`)
  }
  return stringBytes(`${field}.client`, command.client, CODEC_LIMITS.idBytesMax) +
    varintBytes(command.seq) + varintBytes(dataBytes) + dataBytes
}

function checkRecordBytes (field: string, bytes: number): void {
  if (bytes > CODEC_LIMITS.recordBytesMax) {
    throw new InvalidRecordError(field, `encoded size ${bytes} exceeds the limit of ${CODEC_LIMITS.recordBytesMax}`)
  }
}

/**
 * Encoded size of `entry` in bytes. Throws `InvalidRecordError` if the entry cannot be stored, so
 * an in-memory storage can enforce exactly the limits of the on-disk one without encoding.
 */
export function logEntryEncodedBytes (entry: LogEntry): number {
  const commands = entry.value.commands
  if (commands.length > CODEC_LIMITS.commandsPerValueMax) {
    throw new InvalidRecordError('value.commands', `${commands.length} commands exceed the limit of ${CODEC_LIMITS.commandsPerValueMax}`)
  }
  let bytes = 2 + ballotBytes('ballot', entry.ballot) +
    stringBytes('value.id', entry.value.id, CODEC_LIMITS.idBytesMax) + varintBytes(commands.length)
  if (entry.value.time !== undefined) {
    checkNat('value.time', entry.value.time)
    bytes += varintBytes(entry.value.time)
  }
  for (let i = 0; i < commands.length; i++) {
    bytes += commandBytes(`value.commands[${i}]`, commands[i] as Command)
  }
  checkRecordBytes('log entry', bytes)
  return bytes
}

/** Encoded size of a meta record; throws `InvalidRecordError` like `logEntryEncodedBytes`. */
export function metaEncodedBytes (meta: MetaRecord): number {
  checkNat('commitIndex', meta.commitIndex)
  return 2 + ballotBytes('promised', meta.promised) + varintBytes(meta.commitIndex)
}

/**
 * The snapshot record: how the state is cut into pieces on disk, and the manifest. Piece size is
 * the storage's own (it bounds LevelDB value sizes); it is unrelated to the manifest's transfer
 * chunk size, and is recorded so that a storage reopened with another piece size still reads it.
 */
export interface SnapshotRecord {
  readonly pieceBytes: number
  readonly pieceCount: number
  /** `encodeSnapshotMeta(meta)`; decoded and verified by the caller. */
  readonly manifest: Uint8Array
}

/** Bytes of a database id and of a (truncated) chain hash. */
export const ID_BYTES = 16

/** The format record, written once when the database is created. */
export interface FormatRecord {
  /** `STORAGE_FORMAT_VERSION` of the build that created the database. */
  readonly storageFormat: number
  /** Random, unique per database: binds the witness file to this database. */
  readonly dbId: Uint8Array
}

/**
 * The head record, rewritten by every batch: which batch was last (its seq is in the frame),
 * the hash chain up to it, and what the rest of the database must look like for it.
 */
export interface HeadRecord {
  /** Chain hash before this batch (the witness may still hold it after a crash). */
  readonly prevChain: Uint8Array
  /** SHA-256 (truncated) of prevChain, seq and every operation of the batch (`chain.ts`). */
  readonly chain: Uint8Array
  /** The batch that last wrote the meta record. */
  readonly metaSeq: number
  /** The batch that installed the stored snapshot, 0 if there is none. */
  readonly snapshotSeq: number
  /** How many log records there are. */
  readonly logCount: number
  /** Sum mod 2^32 of every log record's CRC: a record deleted, copied or replaced changes it. */
  readonly logSum: number
}

// ---------------------------------------------------------------------------------------------
// Writing

class Writer {
  readonly bytes: Uint8Array
  private pos = 0

  constructor (size: number) {
    this.bytes = new Uint8Array(size)
  }

  byte (value: number): void {
    this.bytes[this.pos++] = value
  }

  varint (value: number): void {
    // Division, not bit shifts: shifts truncate to 32 bits and values go up to 2^53 - 1.
    while (value >= 0x80) {
      this.bytes[this.pos++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.bytes[this.pos++] = value
  }

  string (text: string): void {
    const length = utf8Bytes('string', text)
    this.varint(length)
    utf8Encoder.encodeInto(text, this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
  }

  data (data: Uint8Array): void {
    this.varint(data.byteLength)
    this.bytes.set(data, this.pos)
    this.pos += data.byteLength
  }

  finish (): Uint8Array {
    // A mismatch means sizing and writing disagree: our bug, not the caller's.
    if (this.pos !== this.bytes.byteLength) {
      throw new Error(`codec: wrote ${this.pos} bytes, sized ${this.bytes.byteLength}`)
    }
    return this.bytes
  }
}

export function encodeLogEntry (entry: LogEntry): Uint8Array {
  const writer = new Writer(logEntryEncodedBytes(entry))
  writer.byte(FORMAT_VERSION)
  writer.byte(entry.value.time === undefined ? KIND_ENTRY : KIND_TIMED_ENTRY)
  writer.varint(entry.ballot.round)
  writer.string(entry.ballot.node)
  writer.string(entry.value.id)
  writer.varint(entry.value.commands.length)
  for (const command of entry.value.commands) {
    writer.string(command.client)
    writer.varint(command.seq)
    writer.data(command.data)
  }
  if (entry.value.time !== undefined) writer.varint(entry.value.time)
  return writer.finish()
}

export function encodeMeta (meta: MetaRecord): Uint8Array {
  const writer = new Writer(metaEncodedBytes(meta))
  writer.byte(FORMAT_VERSION)
  writer.byte(KIND_META)
  writer.varint(meta.promised.round)
  writer.string(meta.promised.node)
  writer.varint(meta.commitIndex)
  return writer.finish()
}

export function encodeSnapshotRecord (record: SnapshotRecord): Uint8Array {
  checkNat('snapshot pieceBytes', record.pieceBytes)
  checkNat('snapshot pieceCount', record.pieceCount)
  const manifestBytes = record.manifest.byteLength
  const size = 2 + varintBytes(record.pieceBytes) + varintBytes(record.pieceCount) + varintBytes(manifestBytes) + manifestBytes
  checkRecordBytes('snapshot manifest', size)
  const writer = new Writer(size)
  writer.byte(FORMAT_VERSION)
  writer.byte(KIND_SNAPSHOT)
  writer.varint(record.pieceBytes)
  writer.varint(record.pieceCount)
  writer.data(record.manifest)
  return writer.finish()
}

function checkId (field: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== ID_BYTES) {
    throw new InvalidRecordError(field, `expected ${ID_BYTES} bytes`)
  }
}

export function encodeFormatRecord (record: FormatRecord): Uint8Array {
  checkNat('storageFormat', record.storageFormat)
  checkId('dbId', record.dbId)
  const writer = new Writer(2 + varintBytes(record.storageFormat) + 1 + ID_BYTES)
  writer.byte(FORMAT_VERSION)
  writer.byte(KIND_FORMAT)
  writer.varint(record.storageFormat)
  writer.data(record.dbId)
  return writer.finish()
}

export function encodeHeadRecord (record: HeadRecord): Uint8Array {
  checkId('prevChain', record.prevChain)
  checkId('chain', record.chain)
  for (const field of ['metaSeq', 'snapshotSeq', 'logCount', 'logSum'] as const) checkNat(field, record[field])
  const writer = new Writer(2 + 2 * (1 + ID_BYTES) + varintBytes(record.metaSeq) + varintBytes(record.snapshotSeq) +
    varintBytes(record.logCount) + varintBytes(record.logSum))
  writer.byte(FORMAT_VERSION)
  writer.byte(KIND_HEAD)
  writer.data(record.prevChain)
  writer.data(record.chain)
  writer.varint(record.metaSeq)
  writer.varint(record.snapshotSeq)
  writer.varint(record.logCount)
  writer.varint(record.logSum)
  return writer.finish()
}

// ---------------------------------------------------------------------------------------------
// Reading

class Reader extends ByteReader {
  constructor (
    bytes: Uint8Array,
    private readonly record: string,
    private readonly key: string | undefined
  ) {
    super(bytes)
  }

  override fail (reason: string, cause?: unknown): never {
    throw new CorruptRecordError(this.record, reason, {
      ...(this.key === undefined ? {} : { key: this.key }),
      offset: this.pos,
      ...(cause === undefined ? {} : { cause })
    })
  }

  /** Reads version and kind; returns the kind, which must be one of `kinds`. */
  header (...kinds: number[]): number {
    if (this.bytes.byteLength > CODEC_LIMITS.recordBytesMax) {
      this.fail(`record of ${this.bytes.byteLength} bytes exceeds the limit of ${CODEC_LIMITS.recordBytesMax}`)
    }
    const version = this.byte('format version')
    if (version !== FORMAT_VERSION) this.fail(`unknown format version ${version}`)
    const actual = this.byte('record kind')
    if (!kinds.includes(actual)) this.fail(`record kind 0x${actual.toString(16)}, expected ${kinds.map(k => `0x${k.toString(16)}`).join(' or ')}`)
    return actual
  }

  string (field: string, max: number): string {
    const length = this.length(field, max)
    let text: string
    try {
      text = utf8Decoder.decode(this.bytes.subarray(this.pos, this.pos + length))
    } catch (err) {
      return this.fail(`${field} is not valid UTF-8`, err)
    }
    this.pos += length
    return text
  }

  data (field: string, max: number): Uint8Array {
    const length = this.length(field, max)
    // A plain Uint8Array copy. The input is often a Node Buffer (LevelDB reads), whose `slice`
    // is a view, not a copy, and whose memory may be a shared pool.
    const data = new Uint8Array(length)
    data.set(this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
    return data
  }

}

function toBytes (bytes: Uint8Array, record: string, key: string | undefined): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new CorruptRecordError(record, 'expected bytes', key === undefined ? {} : { key })
  }
  return bytes
}

/**
 * Decodes a log entry. `key` only names the record in a `CorruptRecordError`.
 * @throws CorruptRecordError
 */
export function decodeLogEntry (bytes: Uint8Array, key?: string): LogEntry {
  const reader = new Reader(toBytes(bytes, 'log entry', key), 'log entry', key)
  const kind = reader.header(KIND_ENTRY, KIND_TIMED_ENTRY)
  const round = reader.varint('ballot.round')
  const node = reader.string('ballot.node', CODEC_LIMITS.idBytesMax)
  const id = reader.string('value.id', CODEC_LIMITS.idBytesMax)
  const count = reader.varint('command count')
  if (count > CODEC_LIMITS.commandsPerValueMax) {
    reader.fail(`${count} commands exceed the limit of ${CODEC_LIMITS.commandsPerValueMax}`)
  }
  const commands: Command[] = []
  for (let i = 0; i < count; i++) {
    const client = reader.string(`commands[${i}].client`, CODEC_LIMITS.idBytesMax)
    const seq = reader.varint(`commands[${i}].seq`)
    const data = reader.data(`commands[${i}].data`, CODEC_LIMITS.commandDataBytesMax)
    commands.push({ client, seq, data })
  }
  if (kind === KIND_TIMED_ENTRY) {
    const time = reader.varint('value.time')
    reader.end()
    return { ballot: { round, node }, value: { id, commands, time } }
  }
  reader.end()
  return { ballot: { round, node }, value: { id, commands } }
}

/**
 * Decodes a meta record. `key` only names the record in a `CorruptRecordError`.
 * @throws CorruptRecordError
 */
export function decodeMeta (bytes: Uint8Array, key?: string): MetaRecord {
  const reader = new Reader(toBytes(bytes, 'meta', key), 'meta', key)
  reader.header(KIND_META)
  const round = reader.varint('promised.round')
  const node = reader.string('promised.node', CODEC_LIMITS.idBytesMax)
  const commitIndex = reader.varint('commitIndex')
  reader.end()
  return { promised: { round, node }, commitIndex }
}

/**
 * Decodes a snapshot record (not the manifest inside it). `key` only names the record in a
 * `CorruptRecordError`.
 * @throws CorruptRecordError
 */
export function decodeSnapshotRecord (bytes: Uint8Array, key?: string): SnapshotRecord {
  const reader = new Reader(toBytes(bytes, 'snapshot', key), 'snapshot', key)
  reader.header(KIND_SNAPSHOT)
  const pieceBytes = reader.varint('pieceBytes')
  if (pieceBytes < 1) reader.fail('pieceBytes 0')
  const pieceCount = reader.varint('pieceCount')
  const manifest = reader.data('manifest', CODEC_LIMITS.recordBytesMax)
  reader.end()
  return { pieceBytes, pieceCount, manifest }
}

/** @throws CorruptRecordError */
export function decodeFormatRecord (bytes: Uint8Array, key?: string): FormatRecord {
  const reader = new Reader(toBytes(bytes, 'format record', key), 'format record', key)
  reader.header(KIND_FORMAT)
  const storageFormat = reader.varint('storage format')
  const dbId = reader.data('database id', ID_BYTES)
  if (dbId.byteLength !== ID_BYTES) reader.fail(`database id of ${dbId.byteLength} bytes, expected ${ID_BYTES}`)
  reader.end()
  return { storageFormat, dbId }
}

/** @throws CorruptRecordError */
export function decodeHeadRecord (bytes: Uint8Array, key?: string): HeadRecord {
  const reader = new Reader(toBytes(bytes, 'head record', key), 'head record', key)
  reader.header(KIND_HEAD)
  const prevChain = reader.data('previous chain hash', ID_BYTES)
  const chain = reader.data('chain hash', ID_BYTES)
  if (prevChain.byteLength !== ID_BYTES || chain.byteLength !== ID_BYTES) reader.fail(`chain hashes must be ${ID_BYTES} bytes`)
  const metaSeq = reader.varint('meta seq')
  const snapshotSeq = reader.varint('snapshot seq')
  const logCount = reader.varint('log count')
  const logSum = reader.varint('log digest')
  if (logSum > 0xffff_ffff) reader.fail(`log digest ${logSum} exceeds 32 bits`)
  reader.end()
  return { prevChain, chain, metaSeq, snapshotSeq, logCount, logSum }
}
