/**
 * The binary wire format of vpeer members: one `WireMessage` (a Paxos message or a snapshot
 * transfer message) per frame. The transport frames it (a length prefix on a libp2p stream);
 * this module turns one message into one frame's bytes and back.
 *
 * Layout: version byte (`WIRE_VERSION`), type tag byte (`WIRE_MESSAGE_TAGS`), then the fields of
 * the type in the order of their declaration in `src/paxos/messages.ts` / `src/contracts`:
 * - integers: unsigned LEB128 varints, canonical (no redundant 0x80 groups), at most 2^53 − 1;
 * - strings: varint UTF-8 byte length, then the bytes (at most `WIRE_LIMITS.stringBytesMax`);
 * - byte arrays: varint length, then the bytes;
 * - booleans: one byte, 0 or 1; an optional integer (`Value.time`, `ReadReplyMessage.index`):
 *   a presence byte 0 or 1, then the varint if present (absent is not 0);
 * - ballot: round, node; value: id, optional time, command count, commands (client, seq, data);
 *   entries: count, then per entry slot, ballot, value; reject reason: one byte (`REJECT_CODES`).
 *
 * Decoding is strict, so the encoding is canonical: every frame that decodes re-encodes to the
 * same bytes. Anything else (unknown version or tag, truncation, trailing bytes, a non-canonical
 * varint, a boolean byte other than 0/1, invalid UTF-8, a count the remaining bytes cannot hold)
 * is a `WireDecodeError` naming the byte offset; a frame over the size limit is a
 * `FrameTooLargeError`. Nothing else is thrown: anything else is a bug, and the fuzzer
 * (`codec-fuzz.ts`) looks for exactly that.
 *
 * Decoding checks the shape of the bytes, not what the message says: ballot relations, slot
 * ranges and config-dependent sizes are judged afterwards by the runtime's trust boundary
 * (`src/vpeer/message-validation.ts`), which every inbound message passes.
 *
 * Memory: the decoder allocates nothing before the bytes that justify it have been checked to
 * exist. A list count is refused unless the remaining bytes can hold that many items at their
 * minimum encoded size (3 bytes a command), so garbage cannot make us build more objects than
 * the frame carries. But a decoded command costs far more heap than its 3 bytes (an object, a
 * Uint8Array and its ArrayBuffer: about 250 bytes in V8), so a frame also carries at most
 * `wireItemsMax(frameBytesMax)` commands and entries in all: one per 64 bytes of the frame limit,
 * which keeps the heap of one decode within about 4–5 × frameBytesMax whatever the frame holds
 * (measured: 73 MiB for the worst frame under the default 17 MiB limit).
 */
import type { Ballot, Command, LogEntry, RejectMessage, Slot, Value } from '../paxos/index.js'
import type { WireMessage } from '../contracts/index.js'
import { RECEIVER_DEFAULTS } from '../migration/receiver.js'
import { AssertionError } from '../util/assert.js'
import { ByteReader, varintBytes } from '../util/byte-reader.js'
import { CodedError, InvalidArgumentError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export const WIRE_VERSION = 1

/**
 * Largest frame accepted by default: the largest snapshot chunk a receiver accepts (16 MiB, the
 * receiver's `chunkBytesMax`, which is also `MAX_CHUNK_BYTES` at the trust boundary) plus 1 MiB
 * for the chunk message's own fields. A full batch at the default `PaxosConfig` (4096 commands,
 * 1 MiB of data, client ids up to 1 KiB) encodes to at most about 5 MiB and fits too.
 */
export const DEFAULT_FRAME_BYTES_MAX = RECEIVER_DEFAULTS.chunkBytesMax + 1024 * 1024

/** Hard bounds of the format, the same on encode (`WireEncodeError`) and decode (`WireDecodeError`). */
export const WIRE_LIMITS = Object.freeze({
  /**
   * UTF-8 bytes of any string: node ids, value ids, client ids, read ids, snapshot roots. Equal
   * to the trust boundary's `MAX_ID_BYTES` and storage's `idBytesMax`.
   */
  stringBytesMax: 1024,
  /** Bytes of frame limit per command or entry a frame may carry (`wireItemsMax`). */
  frameBytesPerItem: 64,
  /** Commands and entries a frame may carry whatever its limit (`wireItemsMax`). */
  itemsFloor: 4096
})

/**
 * Commands and log entries one frame may carry, all lists together, under `frameBytesMax`: one
 * per `frameBytesPerItem` bytes of the limit, at least `itemsFloor`. At the default limit that
 * is 278,528: above a forward of `proposalQueueMax` (100,000 at the default configuration) and a
 * full batch (4096). A catch-up reply of many full batches of tiny commands can exceed it and
 * the frame limit alike; the sender must split such replies.
 */
export function wireItemsMax (frameBytesMax: number = DEFAULT_FRAME_BYTES_MAX): number {
  return Math.max(WIRE_LIMITS.itemsFloor, Math.floor(frameBytesMax / WIRE_LIMITS.frameBytesPerItem))
}

/** The type tag (second byte) of each message type. Never renumber: it is the wire format. */
export const WIRE_MESSAGE_TAGS = Object.freeze({
  probe: 0x01,
  probeReply: 0x02,
  prepare: 0x03,
  promise: 0x04,
  reject: 0x05,
  accept: 0x06,
  accepted: 0x07,
  heartbeat: 0x08,
  heartbeatAck: 0x09,
  catchupRequest: 0x0a,
  catchupReply: 0x0b,
  forward: 0x0c,
  readRequest: 0x0d,
  readReply: 0x0e,
  timeoutNow: 0x0f,
  snapshotOffer: 0x20,
  snapshotChunkRequest: 0x21,
  snapshotChunk: 0x22,
  snapshotDone: 0x23
} satisfies Record<WireMessage['type'], number>)

/** The byte of each `RejectMessage.reason`. */
export const REJECT_CODES = Object.freeze({
  'promised-higher': 0,
  'leader-alive': 1
} satisfies Record<RejectMessage['reason'], number>)

const REJECT_REASONS: ReadonlyArray<RejectMessage['reason']> = ['promised-higher', 'leader-alive']

// Minimum encoded sizes, used to refuse a count before allocating for it.
/** client length (empty), seq, data length. */
const COMMAND_BYTES_MIN = 3
/** slot, ballot round, node length, value id length, time presence, command count. */
const ENTRY_BYTES_MIN = 6

// ---------------------------------------------------------------------------------------------
// Errors

/** Base class of the wire codec's errors. */
export class WireError extends CodedError {
  static override name = 'WireError'

  constructor (message: string, code = 'ERR_WIRE', options: CodedErrorOptions = {}) {
    super(message, code, options)
  }
}

/** Bytes that are not a frame of this format. `offset` is where decoding stopped. */
export class WireDecodeError extends WireError {
  static override name = 'WireDecodeError'
  readonly offset: number
  readonly reason: string

  constructor (reason: string, offset: number, options: CodedErrorOptions = {}) {
    super(`Cannot decode wire message at byte ${offset}: ${reason}`, 'ERR_WIRE_DECODE', options)
    this.name = 'WireDecodeError'
    this.offset = offset
    this.reason = reason
  }
}

/** A frame (to decode, or just encoded) longer than the limit. */
export class FrameTooLargeError extends WireError {
  static override name = 'FrameTooLargeError'
  readonly bytes: number
  readonly limit: number

  constructor (bytes: number, limit: number) {
    super(`Frame of ${bytes} bytes exceeds the limit of ${limit}`, 'ERR_FRAME_TOO_LARGE')
    this.name = 'FrameTooLargeError'
    this.bytes = bytes
    this.limit = limit
  }
}

/**
 * A message this format cannot carry faithfully (a number that is not a safe non-negative
 * integer, a lone UTF-16 surrogate, a string or list over its limit, an unknown type or reason).
 * Such a message would also fail the receiver's validation; refusing it here keeps every frame
 * we produce decodable.
 */
export class WireEncodeError extends WireError {
  static override name = 'WireEncodeError'
  readonly field: string
  readonly reason: string

  constructor (field: string, reason: string) {
    super(`Cannot encode ${field}: ${reason}`, 'ERR_WIRE_ENCODE')
    this.name = 'WireEncodeError'
    this.field = field
    this.reason = reason
  }
}

export interface WireCodecOptions {
  /** Largest frame, in bytes (default `DEFAULT_FRAME_BYTES_MAX`). */
  frameBytesMax?: number
}

function frameLimit (options: WireCodecOptions | undefined): number {
  const limit = options?.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX
  if (!Number.isSafeInteger(limit) || limit < 2) {
    throw new InvalidArgumentError(`frameBytesMax must be an integer ≥ 2, got ${String(limit)}`)
  }
  return limit
}

// ---------------------------------------------------------------------------------------------
// Encoding: one walk over the message (`emit`), run twice — first into a `Sizer`, which checks
// every field and adds up the size, then into a `Writer` over a buffer of exactly that size.
// One walk for both passes means sizing and writing cannot disagree about the layout.

interface Sink {
  tag (value: number): void
  flag (field: string, value: boolean): void
  nat (field: string, value: number): void
  optionalNat (field: string, value: number | undefined): void
  string (field: string, value: string): void
  bytes (field: string, value: Uint8Array): void
  /** A list count: commands or entries. */
  count (field: string, value: number): void
}

const utf8Encoder = new TextEncoder()
// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: a leading U+FEFF is data (an id may
// start with it); stripping it would make two frames decode to the same string.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** UTF-8 length of `text`, or −1 if it holds a lone surrogate (TextEncoder would turn it into U+FFFD). */
function utf8Length (text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) continue
    if (unit < 0x800) {
      bytes += 1
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = text.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) return -1
      // Two UTF-16 units, four UTF-8 bytes.
      bytes += 2
      i++
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return -1
    } else {
      bytes += 2
    }
  }
  return bytes
}

class Sizer implements Sink {
  size = 0
  items = 0

  constructor (private readonly itemsMax: number) {}

  tag (): void {
    this.size += 1
  }

  flag (field: string, value: boolean): void {
    if (typeof value !== 'boolean') throw new WireEncodeError(field, `expected a boolean, got ${typeof value}`)
    this.size += 1
  }

  nat (field: string, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new WireEncodeError(field, `expected an integer in 0..2^53-1, got ${String(value)}`)
    }
    this.size += varintBytes(value)
  }

  optionalNat (field: string, value: number | undefined): void {
    this.size += 1
    if (value !== undefined) this.nat(field, value)
  }

  string (field: string, value: string): void {
    if (typeof value !== 'string') throw new WireEncodeError(field, `expected a string, got ${typeof value}`)
    const length = utf8Length(value)
    if (length < 0) throw new WireEncodeError(field, 'lone UTF-16 surrogate')
    if (length > WIRE_LIMITS.stringBytesMax) {
      throw new WireEncodeError(field, `${length} UTF-8 bytes exceed the limit of ${WIRE_LIMITS.stringBytesMax}`)
    }
    this.size += varintBytes(length) + length
  }

  bytes (field: string, value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new WireEncodeError(field, 'expected a Uint8Array')
    this.size += varintBytes(value.byteLength) + value.byteLength
  }

  count (field: string, value: number): void {
    this.items += value
    if (this.items > this.itemsMax) {
      throw new WireEncodeError(field, `more than ${this.itemsMax} commands and entries in one frame`)
    }
    this.size += varintBytes(value)
  }
}

class Writer implements Sink {
  readonly buffer: Uint8Array
  private pos = 0

  constructor (size: number) {
    this.buffer = new Uint8Array(size)
  }

  tag (value: number): void {
    this.buffer[this.pos++] = value
  }

  flag (_field: string, value: boolean): void {
    this.buffer[this.pos++] = value ? 1 : 0
  }

  nat (_field: string, value: number): void {
    // Division, not shifts: shifts truncate to 32 bits and values go up to 2^53 − 1.
    while (value >= 0x80) {
      this.buffer[this.pos++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buffer[this.pos++] = value
  }

  optionalNat (field: string, value: number | undefined): void {
    if (value === undefined) {
      this.buffer[this.pos++] = 0
    } else {
      this.buffer[this.pos++] = 1
      this.nat(field, value)
    }
  }

  string (field: string, value: string): void {
    const units = value.length
    const buffer = this.buffer
    if (units < 0x80) {
      // Optimistically ASCII (ids usually are): copy units as bytes after a one-byte length, in
      // one scan and without a call into the encoder. At the first other unit, start over below.
      const start = this.pos + 1
      let i = 0
      for (; i < units; i++) {
        const unit = value.charCodeAt(i)
        if (unit >= 0x80) break
        buffer[start + i] = unit
      }
      if (i === units) {
        buffer[this.pos] = units
        this.pos = start + units
        return
      }
    }
    const length = utf8Length(value)
    this.nat(field, length)
    utf8Encoder.encodeInto(value, buffer.subarray(this.pos, this.pos + length))
    this.pos += length
  }

  bytes (field: string, value: Uint8Array): void {
    this.nat(field, value.byteLength)
    this.buffer.set(value, this.pos)
    this.pos += value.byteLength
  }

  count (field: string, value: number): void {
    this.nat(field, value)
  }

  finish (): Uint8Array {
    if (this.pos !== this.buffer.byteLength) {
      throw new AssertionError(`wire codec: wrote ${this.pos} bytes, sized ${this.buffer.byteLength}`)
    }
    return this.buffer
  }
}

function emitBallot (sink: Sink, field: string, ballot: Ballot): void {
  if (typeof ballot !== 'object' || ballot === null) throw new WireEncodeError(field, 'expected a ballot')
  sink.nat('ballot.round', ballot.round)
  sink.string('ballot.node', ballot.node)
}

function emitValue (sink: Sink, value: Value): void {
  if (typeof value !== 'object' || value === null) throw new WireEncodeError('value', 'expected a value')
  const commands = value.commands
  if (!Array.isArray(commands)) throw new WireEncodeError('value.commands', 'expected an array')
  sink.string('value.id', value.id)
  sink.optionalNat('value.time', value.time)
  emitCommands(sink, 'value.commands', commands)
}

function emitCommands (sink: Sink, field: string, commands: readonly Command[]): void {
  sink.count(field, commands.length)
  for (let i = 0; i < commands.length; i++) {
    const command = commands[i] as Command
    if (typeof command !== 'object' || command === null) throw new WireEncodeError(field, `item ${i} is not a command`)
    sink.string('command.client', command.client)
    sink.nat('command.seq', command.seq)
    sink.bytes('command.data', command.data)
  }
}

function emitEntries (sink: Sink, field: string, entries: ReadonlyArray<readonly [Slot, LogEntry]>): void {
  if (!Array.isArray(entries)) throw new WireEncodeError(field, 'expected an array')
  sink.count(field, entries.length)
  for (let i = 0; i < entries.length; i++) {
    const pair = entries[i] as readonly [Slot, LogEntry]
    if (!Array.isArray(pair) || pair.length !== 2) throw new WireEncodeError(field, `item ${i} is not a [slot, entry] pair`)
    const entry = pair[1]
    if (typeof entry !== 'object' || entry === null) throw new WireEncodeError(field, `item ${i} has no log entry`)
    sink.nat('entry.slot', pair[0])
    emitBallot(sink, 'entry.ballot', entry.ballot)
    emitValue(sink, entry.value)
  }
}

function rejectCode (reason: RejectMessage['reason']): number {
  const code = Object.hasOwn(REJECT_CODES, reason) ? REJECT_CODES[reason] : undefined
  if (code === undefined) {
    throw new WireEncodeError('reject.reason', `unknown reason ${JSON.stringify(String(reason).slice(0, 64))}`)
  }
  return code
}

function emit (sink: Sink, m: WireMessage): void {
  if (typeof m !== 'object' || m === null) throw new WireEncodeError('message', 'expected an object')
  const tag = Object.hasOwn(WIRE_MESSAGE_TAGS, m.type) ? WIRE_MESSAGE_TAGS[m.type] : undefined
  if (tag === undefined) throw new WireEncodeError('message.type', `unknown type ${JSON.stringify(String(m.type).slice(0, 64))}`)
  sink.tag(WIRE_VERSION)
  sink.tag(tag)
  switch (m.type) {
    case 'probe':
      emitBallot(sink, 'ballot', m.ballot)
      sink.flag('transfer', m.transfer)
      return
    case 'probeReply':
      emitBallot(sink, 'ballot', m.ballot)
      sink.flag('granted', m.granted)
      emitBallot(sink, 'promised', m.promised)
      sink.nat('commitIndex', m.commitIndex)
      return
    case 'prepare':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('fromSlot', m.fromSlot)
      sink.flag('transfer', m.transfer)
      return
    case 'promise':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('commitIndex', m.commitIndex)
      emitEntries(sink, 'entries', m.entries)
      return
    case 'reject':
      emitBallot(sink, 'ballot', m.ballot)
      emitBallot(sink, 'promised', m.promised)
      sink.tag(rejectCode(m.reason))
      return
    case 'accept':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('slot', m.slot)
      emitValue(sink, m.value)
      sink.nat('commitIndex', m.commitIndex)
      return
    case 'accepted':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('slot', m.slot)
      return
    case 'heartbeat':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('commitIndex', m.commitIndex)
      sink.nat('readSeq', m.readSeq)
      return
    case 'heartbeatAck':
      emitBallot(sink, 'ballot', m.ballot)
      sink.nat('readSeq', m.readSeq)
      sink.nat('commitIndex', m.commitIndex)
      return
    case 'catchupRequest':
      sink.nat('fromSlot', m.fromSlot)
      sink.nat('toSlot', m.toSlot)
      return
    case 'catchupReply':
      emitEntries(sink, 'entries', m.entries)
      sink.nat('commitIndex', m.commitIndex)
      return
    case 'forward':
      if (!Array.isArray(m.commands)) throw new WireEncodeError('commands', 'expected an array')
      emitCommands(sink, 'commands', m.commands)
      return
    case 'readRequest':
      sink.string('id', m.id)
      return
    case 'readReply':
      sink.string('id', m.id)
      sink.optionalNat('index', m.index)
      return
    case 'timeoutNow':
      emitBallot(sink, 'ballot', m.ballot)
      return
    case 'snapshotOffer':
      sink.bytes('manifest', m.manifest)
      return
    case 'snapshotChunkRequest':
      sink.string('root', m.root)
      sink.nat('chunk', m.chunk)
      return
    case 'snapshotChunk':
      sink.string('root', m.root)
      sink.nat('chunk', m.chunk)
      sink.bytes('bytes', m.bytes)
      return
    case 'snapshotDone':
      sink.string('root', m.root)
      sink.nat('index', m.index)
  }
}

/**
 * Encoded size of `m` in bytes, without encoding it.
 * @throws WireEncodeError if `m` cannot be encoded
 */
export function wireMessageEncodedBytes (m: WireMessage, options?: WireCodecOptions): number {
  const sizer = new Sizer(wireItemsMax(frameLimit(options)))
  emit(sizer, m)
  return sizer.size
}

/**
 * Encodes one message into a fresh frame.
 * @throws WireEncodeError if `m` cannot be carried faithfully
 * @throws FrameTooLargeError if the frame would exceed `frameBytesMax` (the receiver would refuse it)
 */
export function encodeWireMessage (m: WireMessage, options?: WireCodecOptions): Uint8Array {
  const limit = frameLimit(options)
  const sizer = new Sizer(wireItemsMax(limit))
  emit(sizer, m)
  if (sizer.size > limit) throw new FrameTooLargeError(sizer.size, limit)
  const writer = new Writer(sizer.size)
  emit(writer, m)
  return writer.finish()
}

// ---------------------------------------------------------------------------------------------
// Decoding

class WireReader extends ByteReader {
  private items = 0

  constructor (bytes: Uint8Array, private readonly itemsMax: number) {
    super(bytes)
  }

  override fail (reason: string, cause?: unknown): never {
    throw new WireDecodeError(reason, this.pos, cause === undefined ? {} : { cause })
  }

  flag (field: string): boolean {
    const value = this.byte(field)
    if (value > 1) {
      this.pos--
      this.fail(`${field} byte ${value}, expected 0 or 1`)
    }
    return value === 1
  }

  optionalNat (field: string): number | undefined {
    return this.flag(`${field} presence`) ? this.varint(field) : undefined
  }

  string (field: string): string {
    const length = this.length(field, WIRE_LIMITS.stringBytesMax)
    const start = this.pos
    const bytes = this.bytes
    // Short ASCII strings (small ids) are built faster by hand than by a call into the decoder;
    // from about a dozen bytes on the decoder wins.
    if (length <= 12) {
      let ascii = ''
      let i = 0
      for (; i < length; i++) {
        const b = bytes[start + i] as number
        if (b >= 0x80) break
        ascii += String.fromCharCode(b)
      }
      if (i === length) {
        this.pos += length
        return ascii
      }
    }
    let text: string
    try {
      text = utf8Decoder.decode(bytes.subarray(start, start + length))
    } catch (error) {
      return this.fail(`${field} is not valid UTF-8`, error)
    }
    this.pos += length
    return text
  }

  /** A fresh copy: the frame's buffer may be a pooled Node Buffer or reused by the transport. */
  data (field: string): Uint8Array {
    const length = this.length(field, Number.MAX_SAFE_INTEGER)
    const out = new Uint8Array(length)
    out.set(this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
    return out
  }

  /** A list count, refused before anything is allocated for it. */
  count (field: string, itemBytesMin: number): number {
    const start = this.pos
    const count = this.varint(`${field} count`)
    const left = this.bytes.byteLength - this.pos
    if (count > Math.floor(left / itemBytesMin)) {
      this.pos = start
      this.fail(`${field} count ${count}, but ${left} bytes left hold at most ${Math.floor(left / itemBytesMin)}`)
    }
    if (count > this.itemsMax - this.items) {
      this.pos = start
      this.fail(`${field} count ${count} takes the frame over ${this.itemsMax} commands and entries`)
    }
    this.items += count
    return count
  }

  ballot (): Ballot {
    const round = this.varint('ballot.round')
    const node = this.string('ballot.node')
    return { round, node }
  }

  value (): Value {
    const id = this.string('value.id')
    const time = this.optionalNat('value.time')
    const commands = this.commands('value.commands')
    return time === undefined ? { id, commands } : { id, commands, time }
  }

  commands (field: string): Command[] {
    const count = this.count(field, COMMAND_BYTES_MIN)
    const commands: Command[] = []
    for (let i = 0; i < count; i++) {
      const client = this.string('command.client')
      const seq = this.varint('command.seq')
      const data = this.data('command.data')
      commands.push({ client, seq, data })
    }
    return commands
  }

  entries (): Array<readonly [Slot, LogEntry]> {
    const count = this.count('entries', ENTRY_BYTES_MIN)
    const entries: Array<readonly [Slot, LogEntry]> = []
    for (let i = 0; i < count; i++) {
      const slot = this.varint('entry.slot')
      const ballot = this.ballot()
      const value = this.value()
      entries.push([slot, { ballot, value }])
    }
    return entries
  }

  rejectReason (): RejectMessage['reason'] {
    const code = this.byte('reject.reason')
    const reason = REJECT_REASONS[code]
    if (reason === undefined) {
      this.pos--
      this.fail(`unknown reject reason ${code}`)
    }
    return reason
  }
}

/**
 * Decodes one frame. The result holds exactly the fields of its type, in fresh objects and
 * fresh byte arrays (nothing refers to `bytes`). It is well-formed, not yet validated: pass it
 * through the runtime's trust boundary before acting on it.
 * @throws FrameTooLargeError if `bytes` is longer than `frameBytesMax`
 * @throws WireDecodeError for anything that is not a frame of this format
 */
export function decodeWireMessage (bytes: Uint8Array, options?: WireCodecOptions): WireMessage {
  const limit = frameLimit(options)
  if (!(bytes instanceof Uint8Array)) throw new WireDecodeError('expected a Uint8Array', 0)
  if (bytes.byteLength > limit) throw new FrameTooLargeError(bytes.byteLength, limit)
  const r = new WireReader(bytes, wireItemsMax(limit))
  const version = r.byte('version')
  if (version !== WIRE_VERSION) {
    r.pos = 0
    r.fail(`unknown wire version ${version} (this build speaks version ${WIRE_VERSION})`)
  }
  const tag = r.byte('type tag')
  const m = decodeBody(r, tag)
  r.end()
  return m
}

function decodeBody (r: WireReader, tag: number): WireMessage {
  switch (tag) {
    case WIRE_MESSAGE_TAGS.probe: {
      const ballot = r.ballot()
      return { type: 'probe', ballot, transfer: r.flag('transfer') }
    }
    case WIRE_MESSAGE_TAGS.probeReply: {
      const ballot = r.ballot()
      const granted = r.flag('granted')
      const promised = r.ballot()
      return { type: 'probeReply', ballot, granted, promised, commitIndex: r.varint('commitIndex') }
    }
    case WIRE_MESSAGE_TAGS.prepare: {
      const ballot = r.ballot()
      const fromSlot = r.varint('fromSlot')
      return { type: 'prepare', ballot, fromSlot, transfer: r.flag('transfer') }
    }
    case WIRE_MESSAGE_TAGS.promise: {
      const ballot = r.ballot()
      const commitIndex = r.varint('commitIndex')
      return { type: 'promise', ballot, commitIndex, entries: r.entries() }
    }
    case WIRE_MESSAGE_TAGS.reject: {
      const ballot = r.ballot()
      const promised = r.ballot()
      return { type: 'reject', ballot, promised, reason: r.rejectReason() }
    }
    case WIRE_MESSAGE_TAGS.accept: {
      const ballot = r.ballot()
      const slot = r.varint('slot')
      const value = r.value()
      return { type: 'accept', ballot, slot, value, commitIndex: r.varint('commitIndex') }
    }
    case WIRE_MESSAGE_TAGS.accepted: {
      const ballot = r.ballot()
      return { type: 'accepted', ballot, slot: r.varint('slot') }
    }
    case WIRE_MESSAGE_TAGS.heartbeat: {
      const ballot = r.ballot()
      const commitIndex = r.varint('commitIndex')
      return { type: 'heartbeat', ballot, commitIndex, readSeq: r.varint('readSeq') }
    }
    case WIRE_MESSAGE_TAGS.heartbeatAck: {
      const ballot = r.ballot()
      const readSeq = r.varint('readSeq')
      return { type: 'heartbeatAck', ballot, readSeq, commitIndex: r.varint('commitIndex') }
    }
    case WIRE_MESSAGE_TAGS.catchupRequest: {
      const fromSlot = r.varint('fromSlot')
      return { type: 'catchupRequest', fromSlot, toSlot: r.varint('toSlot') }
    }
    case WIRE_MESSAGE_TAGS.catchupReply: {
      const entries = r.entries()
      return { type: 'catchupReply', entries, commitIndex: r.varint('commitIndex') }
    }
    case WIRE_MESSAGE_TAGS.forward:
      return { type: 'forward', commands: r.commands('commands') }
    case WIRE_MESSAGE_TAGS.readRequest:
      return { type: 'readRequest', id: r.string('id') }
    case WIRE_MESSAGE_TAGS.readReply: {
      const id = r.string('id')
      return { type: 'readReply', id, index: r.optionalNat('index') }
    }
    case WIRE_MESSAGE_TAGS.timeoutNow:
      return { type: 'timeoutNow', ballot: r.ballot() }
    case WIRE_MESSAGE_TAGS.snapshotOffer:
      return { type: 'snapshotOffer', manifest: r.data('manifest') }
    case WIRE_MESSAGE_TAGS.snapshotChunkRequest: {
      const root = r.string('root')
      return { type: 'snapshotChunkRequest', root, chunk: r.varint('chunk') }
    }
    case WIRE_MESSAGE_TAGS.snapshotChunk: {
      const root = r.string('root')
      const chunk = r.varint('chunk')
      return { type: 'snapshotChunk', root, chunk, bytes: r.data('bytes') }
    }
    case WIRE_MESSAGE_TAGS.snapshotDone: {
      const root = r.string('root')
      return { type: 'snapshotDone', root, index: r.varint('index') }
    }
    default:
      r.pos--
      return r.fail(`unknown message type tag 0x${tag.toString(16).padStart(2, '0')}`)
  }
}
