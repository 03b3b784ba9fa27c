/**
 * The trust boundary: every message a VirtualPeer receives is checked here before the core or
 * snapshot transfer sees it (DESIGN.md, "Trust boundary"). `validateWireMessage` takes anything
 * (`unknown`: whatever the transport decoded, or whatever an in-process sender passed) and
 * returns either a well-typed `WireMessage` or the reason it was refused. It never throws.
 *
 * Rules:
 * - Shapes: a message, a ballot, a value, a command, a log entry are plain objects (prototype
 *   `Object.prototype` or `null`), lists are real arrays (prototype `Array.prototype`, no holes),
 *   bytes are real `Uint8Array`s (checked through the intrinsic TypedArray getters, so a forged
 *   prototype or an overridden `byteLength` does not fool it). Every field read must be an own
 *   data property: accessors (getters that could throw, or answer differently the second time)
 *   are refused. A Proxy whose traps throw is refused too (the whole check is guarded).
 * - Unknown extra fields are ignored: never read, never copied. The protocol is versioned by
 *   the transport's protocol id, so a field this version does not know cannot mean anything to
 *   it, and ignoring costs nothing per key (rejecting would mean enumerating the attacker's keys).
 * - The result is a fresh object built only from validated fields; byte arrays are copied. No
 *   object of the sender reaches the core, so a sender that keeps a reference (in-process
 *   transports pass objects by reference) cannot change a message after it was checked.
 * - Integers are safe non-negative integers below an explicit bound (below). Strings that can
 *   reach storage (node ids, value ids, client ids) must be well-formed UTF-16 (storage refuses a
 *   lone surrogate, which would halt the replica) and at most `MAX_ID_BYTES` UTF-8 bytes.
 * - Sizes come from the receiver's PaxosConfig (`wireLimitsOf`): a value carries at most
 *   `batchCommandsMax` commands of at most `batchBytesMax` bytes in all, a catch-up reply at most
 *   `catchupEntriesMax` entries, a forward at most `proposalQueueMax` commands. Every member of a
 *   group must therefore run with the same batch bounds (or larger ones than any leader's).
 * - Relations a correct sender always keeps: ballots are the bottom ballot `{0, ''}` or have a
 *   round ≥ 1 and a non-empty node, and the bottom ballot appears only where a correct node can
 *   send it (a promised ballot); a catch-up request has 1 ≤ fromSlot ≤ toSlot; a catch-up reply's
 *   slots are consecutive and at most its commit index; a promise's slots ascend strictly above
 *   its commit index.
 *
 * What this cannot judge is whether a well-formed message tells the truth (a forged commit
 * index, an unsolicited catch-up reply): that is the core's job, with its own state.
 */
import { RECEIVER_DEFAULTS } from '../migration/receiver.js'
import { MANIFEST_LIMITS } from '../migration/codec.js'
import type { Ballot, Command, LogEntry, NodeId, PaxosConfig, PaxosMessage, RejectMessage, Slot, Value } from '../paxos/index.js'
import { MAX_BALLOT_ROUND } from '../paxos/index.js'
import type { SnapshotMessage, WireMessage } from './snapshot-transfer.js'

/** Largest round accepted: the core's limit (no node campaigns past it; see ballot.ts). */
export const MAX_ROUND = MAX_BALLOT_ROUND
/**
 * Largest slot (or commit index, or snapshot index) accepted: 2^50 ≈ 1.1e15, 35 years at a
 * million slots a second, and far enough below 2^53 that slot + any window stays exact.
 */
export const MAX_SLOT = 2 ** 50
/** Largest read-confirmation round number (heartbeat readSeq); one per read round of a leadership. */
export const MAX_READ_SEQ = 2 ** 52
/** Largest client session sequence number: any safe integer (storage encodes up to 2^53 − 1). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
/**
 * UTF-8 bytes of a node id, value id, client id or read id; equal to storage's
 * `CODEC_LIMITS.idBytesMax` (a libp2p PeerId string is about 52 characters).
 */
export const MAX_ID_BYTES = 1024
/**
 * Votes in one promise. A correct acceptor sends its votes above its commit index, about the
 * pipeline depth unless it lags far behind in learning commits.
 */
export const MAX_PROMISE_ENTRIES = 65_536
/** Largest snapshot chunk number: the receiver's chunk-count limit. */
export const MAX_CHUNK = RECEIVER_DEFAULTS.chunkCountMax - 1
/** Largest snapshot chunk accepted, bytes: the receiver's limit. */
export const MAX_CHUNK_BYTES = RECEIVER_DEFAULTS.chunkBytesMax
/**
 * Largest encoded snapshot manifest: the session table, two member lists and a hash per chunk,
 * at their codec limits, plus a little for the fixed fields.
 */
export const MAX_MANIFEST_BYTES = MANIFEST_LIMITS.sessionsBytesMax +
  2 * MANIFEST_LIMITS.membersMax * (MANIFEST_LIMITS.idBytesMax + 2) + 32 * RECEIVER_DEFAULTS.chunkCountMax + 4096

const SNAPSHOT_ROOT = /^[0-9a-f]{64}$/

/** Bounds that depend on the receiver's configuration. */
export interface WireLimits {
  /** Commands in one slot's value. */
  readonly batchCommandsMax: number
  /** Data bytes of all commands of one slot's value (and so of one command). */
  readonly batchBytesMax: number
  /** Entries in one catch-up reply. */
  readonly catchupEntriesMax: number
  /** Commands in one forward (a follower forwards everything it has pending). */
  readonly forwardCommandsMax: number
}

export function wireLimitsOf (config: Pick<PaxosConfig, 'batchCommandsMax' | 'batchBytesMax' | 'catchupEntriesMax' | 'proposalQueueMax'>): WireLimits {
  return {
    batchCommandsMax: config.batchCommandsMax,
    batchBytesMax: config.batchBytesMax,
    catchupEntriesMax: config.catchupEntriesMax,
    forwardCommandsMax: config.proposalQueueMax
  }
}

/**
 * Why a message was dropped:
 * - `shape`: not a plain object where one is needed (null, an array, a class instance, a
 *   getter, a hole in an array, bytes that are not a Uint8Array);
 * - `type`: `type` is not one of the known message types;
 * - `field`: a field is missing or of the wrong type (a string where a number belongs, …);
 * - `range`: a number that is not a safe integer in its range (NaN, 6.5, −1, Infinity, above its bound);
 * - `size`: a string, list or byte array over its bound;
 * - `relation`: fields that a correct sender never combines (bottom ballot where a real one
 *   belongs, `fromSlot > toSlot`, non-consecutive catch-up slots, an unknown reject reason …);
 * - `sender`: the transport's sender id itself is not a valid node id;
 * - `exception`: inspecting the message threw (a Proxy with throwing traps).
 */
export type WireDropReason = 'shape' | 'type' | 'field' | 'range' | 'size' | 'relation' | 'sender' | 'exception'

export const WIRE_DROP_REASONS: readonly WireDropReason[] = ['shape', 'type', 'field', 'range', 'size', 'relation', 'sender', 'exception']

export type WireValidation =
  | { readonly ok: true, readonly message: WireMessage }
  | { readonly ok: false, readonly reason: WireDropReason, readonly detail: string }

class Invalid extends Error {
  constructor (readonly reason: WireDropReason, readonly detail: string) {
    super(detail)
  }
}

function fail (reason: WireDropReason, detail: string): never {
  throw new Invalid(reason, detail)
}

/**
 * Checks `raw` against the wire format (see the module comment). Never throws.
 */
export function validateWireMessage (raw: unknown, limits: WireLimits): WireValidation {
  try {
    return { ok: true, message: parseMessage(raw, limits) }
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.reason, detail: error.detail }
    return { ok: false, reason: 'exception', detail: `inspecting the message threw: ${describeError(error)}` }
  }
}

/** Whether `from`, as the transport reported it, is a usable node id. Never throws. */
export function isValidNodeId (from: unknown): from is NodeId {
  if (typeof from !== 'string' || from.length === 0 || from.length > MAX_ID_BYTES) return false
  const n = idBytes(from)
  return n >= 0 && n <= MAX_ID_BYTES
}

function describeError (error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : typeof error
  } catch {
    return 'an unprintable error'
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

const PAXOS_TYPES = new Set<string>(['probe', 'probeReply', 'prepare', 'promise', 'reject', 'accept', 'accepted', 'heartbeat', 'heartbeatAck',
  'catchupRequest', 'catchupReply', 'forward', 'readRequest', 'readReply', 'timeoutNow'])
const SNAPSHOT_TYPES = new Set<string>(['snapshotOffer', 'snapshotChunkRequest', 'snapshotChunk', 'snapshotDone'])
const REJECT_REASONS = new Set<string>(['promised-higher', 'leader-alive'] satisfies Array<RejectMessage['reason']>)

function parseMessage (raw: unknown, limits: WireLimits): WireMessage {
  const o = record(raw, 'message')
  const type = field(o, 'type', 'message')
  if (typeof type !== 'string') fail('field', 'message.type: not a string')
  if (PAXOS_TYPES.has(type)) return parsePaxos(o, type as PaxosMessage['type'], limits)
  if (SNAPSHOT_TYPES.has(type)) return parseSnapshot(o, type as SnapshotMessage['type'])
  fail('type', `unknown message type ${JSON.stringify(type.slice(0, 64))}`)
}

function parsePaxos (o: object, type: PaxosMessage['type'], limits: WireLimits): PaxosMessage {
  const at = type
  switch (type) {
    case 'probe':
      return { type, ballot: realBallot(o, 'ballot', at), transfer: bool(o, 'transfer', at) }
    case 'probeReply':
      return { type, ballot: realBallot(o, 'ballot', at), granted: bool(o, 'granted', at), promised: ballot(o, 'promised', at), commitIndex: slot0(o, 'commitIndex', at) }
    case 'prepare':
      return { type, ballot: realBallot(o, 'ballot', at), fromSlot: slot1(o, 'fromSlot', at), transfer: bool(o, 'transfer', at) }
    case 'promise': {
      const b = realBallot(o, 'ballot', at)
      const commitIndex = slot0(o, 'commitIndex', at)
      const entries = logEntries(o, 'entries', at, MAX_PROMISE_ENTRIES, limits)
      let previous = commitIndex
      for (const [s] of entries) {
        if (s <= previous) fail('relation', `promise.entries: slot ${s} not above ${previous} (the commit index or the previous entry)`)
        previous = s
      }
      return { type, ballot: b, commitIndex, entries }
    }
    case 'reject': {
      const reason = field(o, 'reason', at)
      if (typeof reason !== 'string') fail('field', 'reject.reason: not a string')
      if (!REJECT_REASONS.has(reason)) fail('relation', `reject.reason: unknown reason ${JSON.stringify(reason.slice(0, 64))}`)
      return { type, ballot: realBallot(o, 'ballot', at), promised: ballot(o, 'promised', at), reason: reason as RejectMessage['reason'] }
    }
    case 'accept':
      return { type, ballot: realBallot(o, 'ballot', at), slot: slot1(o, 'slot', at), value: value(field(o, 'value', at), `${at}.value`, limits), commitIndex: slot0(o, 'commitIndex', at) }
    case 'accepted':
      return { type, ballot: realBallot(o, 'ballot', at), slot: slot1(o, 'slot', at) }
    case 'heartbeat':
      return { type, ballot: realBallot(o, 'ballot', at), commitIndex: slot0(o, 'commitIndex', at), readSeq: int(o, 'readSeq', at, 0, MAX_READ_SEQ) }
    case 'heartbeatAck':
      return { type, ballot: realBallot(o, 'ballot', at), readSeq: int(o, 'readSeq', at, 0, MAX_READ_SEQ), commitIndex: slot0(o, 'commitIndex', at) }
    case 'catchupRequest': {
      const fromSlot = slot1(o, 'fromSlot', at)
      const toSlot = slot1(o, 'toSlot', at)
      if (fromSlot > toSlot) fail('relation', `catchupRequest: fromSlot ${fromSlot} > toSlot ${toSlot}`)
      return { type, fromSlot, toSlot }
    }
    case 'catchupReply': {
      const commitIndex = slot0(o, 'commitIndex', at)
      const entries = logEntries(o, 'entries', at, limits.catchupEntriesMax, limits)
      const first = entries[0]
      if (first !== undefined) {
        for (let i = 1; i < entries.length; i++) {
          if ((entries[i] as readonly [Slot, LogEntry])[0] !== first[0] + i) fail('relation', `catchupReply.entries: slots not consecutive at index ${i}`)
        }
        const last = first[0] + entries.length - 1
        if (last > commitIndex) fail('relation', `catchupReply: slot ${last} above the sender's commit index ${commitIndex}`)
      }
      return { type, entries, commitIndex }
    }
    case 'forward': {
      const list = array(field(o, 'commands', at), `${at}.commands`, limits.forwardCommandsMax)
      const commands = list.map((c, i) => command(c, `${at}.commands[${i}]`, limits.batchBytesMax))
      return { type, commands }
    }
    case 'readRequest':
      return { type, id: id(o, 'id', at) }
    case 'readReply': {
      const raw = optionalField(o, 'index', at)
      const index = raw === undefined ? undefined : checkInt(raw, `${at}.index`, 0, MAX_SLOT)
      return { type, id: id(o, 'id', at), index }
    }
    case 'timeoutNow':
      return { type, ballot: realBallot(o, 'ballot', at) }
  }
}

function parseSnapshot (o: object, type: SnapshotMessage['type']): SnapshotMessage {
  const at = type
  switch (type) {
    case 'snapshotOffer':
      return { type, manifest: bytes(field(o, 'manifest', at), `${at}.manifest`, MAX_MANIFEST_BYTES) }
    case 'snapshotChunkRequest':
      return { type, root: root(o, at), chunk: int(o, 'chunk', at, 0, MAX_CHUNK) }
    case 'snapshotChunk':
      return { type, root: root(o, at), chunk: int(o, 'chunk', at, 0, MAX_CHUNK), bytes: bytes(field(o, 'bytes', at), `${at}.bytes`, MAX_CHUNK_BYTES) }
    case 'snapshotDone':
      return { type, root: root(o, at), index: slot0(o, 'index', at) }
  }
}

// ---------------------------------------------------------------------------------------------
// Parts

function logEntries (o: object, name: string, at: string, max: number, limits: WireLimits): Array<readonly [Slot, LogEntry]> {
  const list = array(field(o, name, at), `${at}.${name}`, max)
  return list.map((item, i) => {
    const where = `${at}.${name}[${i}]`
    const pair = array(item, where, 2)
    if (pair.length !== 2) fail('shape', `${where}: expected [slot, entry]`)
    const s = checkInt(pair[0], `${where}[0]`, 1, MAX_SLOT)
    const e = record(pair[1], `${where}[1]`)
    const entry: LogEntry = { ballot: realBallot(e, 'ballot', `${where}[1]`), value: value(field(e, 'value', `${where}[1]`), `${where}[1].value`, limits) }
    return [s, entry] as const
  })
}

function value (raw: unknown, where: string, limits: WireLimits): Value {
  const o = record(raw, where)
  const valueId = id(o, 'id', where)
  const list = array(field(o, 'commands', where), `${where}.commands`, limits.batchCommandsMax)
  let total = 0
  const commands = list.map((c, i) => {
    const cmd = command(c, `${where}.commands[${i}]`, limits.batchBytesMax)
    total += cmd.data.byteLength
    if (total > limits.batchBytesMax) fail('size', `${where}.commands: more than ${limits.batchBytesMax} data bytes`)
    return cmd
  })
  const time = optionalField(o, 'time', where)
  if (time === undefined) return { id: valueId, commands }
  return { id: valueId, commands, time: checkInt(time, `${where}.time`, 0, Number.MAX_SAFE_INTEGER) }
}

function command (raw: unknown, where: string, maxBytes: number): Command {
  const o = record(raw, where)
  return { client: id(o, 'client', where), seq: int(o, 'seq', where, 0, MAX_SEQ), data: bytes(field(o, 'data', where), `${where}.data`, maxBytes) }
}

/** A ballot in which someone actually proposes: round ≥ 1, a node id. */
function realBallot (o: object, name: string, at: string): Ballot {
  const b = ballot(o, name, at)
  if (b.round === 0) fail('relation', `${at}.${name}: the bottom ballot where a real one belongs`)
  return b
}

/** A ballot: `{0, ''}` (bottom) or round ≥ 1 with a node id. */
function ballot (o: object, name: string, at: string): Ballot {
  const where = `${at}.${name}`
  const b = record(field(o, name, at), where)
  const round = int(b, 'round', where, 0, MAX_ROUND)
  const node = field(b, 'node', where)
  if (typeof node !== 'string') fail('field', `${where}.node: not a string`)
  if (round === 0) {
    if (node !== '') fail('relation', `${where}: round 0 with node ${JSON.stringify(node.slice(0, 64))} (only the bottom ballot has round 0)`)
    return { round: 0, node: '' }
  }
  return { round, node: checkId(node, `${where}.node`) }
}

function root (o: object, at: string): string {
  const r = field(o, 'root', at)
  if (typeof r !== 'string') fail('field', `${at}.root: not a string`)
  if (r.length !== 64) fail('size', `${at}.root: ${r.length} characters, expected 64`)
  if (!SNAPSHOT_ROOT.test(r)) fail('field', `${at}.root: not lowercase hex`)
  return r
}

function id (o: object, name: string, at: string): string {
  const v = field(o, name, at)
  if (typeof v !== 'string') fail('field', `${at}.${name}: not a string`)
  return checkId(v, `${at}.${name}`)
}

function checkId (v: string, where: string): string {
  if (v.length === 0) fail('field', `${where}: empty`)
  // A UTF-16 unit is at most 3 UTF-8 bytes; skip the count for ids that are obviously too long.
  if (v.length > MAX_ID_BYTES) fail('size', `${where}: ${v.length} characters exceed ${MAX_ID_BYTES} bytes`)
  const n = idBytes(v)
  if (n < 0) fail('field', `${where}: not well-formed UTF-16 (lone surrogate)`)
  if (n > MAX_ID_BYTES) fail('size', `${where}: ${n} UTF-8 bytes exceed ${MAX_ID_BYTES}`)
  return v
}

/** UTF-8 length of `s`, or −1 if it holds a lone surrogate (which UTF-8 cannot carry). */
function idBytes (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i)
    if (u < 0x80) n += 1
    else if (u < 0x800) n += 2
    else if (u >= 0xd800 && u <= 0xdbff) {
      const low = s.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) return -1
      n += 4
      i++
    } else if (u >= 0xdc00 && u <= 0xdfff) return -1
    else n += 3
  }
  return n
}

function slot0 (o: object, name: string, at: string): Slot {
  return int(o, name, at, 0, MAX_SLOT)
}

function slot1 (o: object, name: string, at: string): Slot {
  return int(o, name, at, 1, MAX_SLOT)
}

function int (o: object, name: string, at: string, min: number, max: number): number {
  return checkInt(field(o, name, at), `${at}.${name}`, min, max)
}

function checkInt (v: unknown, where: string, min: number, max: number): number {
  if (typeof v !== 'number') fail('field', `${where}: not a number`)
  if (!Number.isSafeInteger(v)) fail('range', `${where}: ${String(v)} is not a safe integer`)
  if (v < min || v > max) fail('range', `${where}: ${v} outside ${min}..${max}`)
  return v
}

function bool (o: object, name: string, at: string): boolean {
  const v = field(o, name, at)
  if (typeof v !== 'boolean') fail('field', `${at}.${name}: not a boolean`)
  return v
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** A plain object (prototype Object.prototype or null; not an array). */
function record (v: unknown, where: string): object {
  if (typeof v !== 'object' || v === null) fail('shape', `${where}: ${v === null ? 'null' : typeof v}, expected an object`)
  const proto: unknown = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) fail('shape', `${where}: not a plain object`)
  return v
}

/** An own data property (undefined when absent). Accessors are refused: they could throw or lie. */
function optionalField (o: object, name: string, at: string): unknown {
  const d = Object.getOwnPropertyDescriptor(o, name)
  if (d === undefined) return undefined
  if (!('value' in d)) fail('shape', `${at}.${name}: an accessor, not a data property`)
  return d.value
}

function field (o: object, name: string, at: string): unknown {
  const v = optionalField(o, name, at)
  if (v === undefined) fail('field', `${at}.${name}: missing`)
  return v
}

/** A real array, without holes or accessors, at most `max` long; returns a fresh copy of its items. */
function array (v: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(v) || Object.getPrototypeOf(v) !== Array.prototype) fail('shape', `${where}: not an array`)
  const d = Object.getOwnPropertyDescriptor(v, 'length')
  const length: unknown = d?.value
  if (typeof length !== 'number') fail('shape', `${where}: no length`)
  if (length > max) fail('size', `${where}: ${length} items exceed ${max}`)
  const out = new Array<unknown>(length)
  for (let i = 0; i < length; i++) {
    const item = Object.getOwnPropertyDescriptor(v, i)
    if (item === undefined || !('value' in item)) fail('shape', `${where}[${i}]: a hole or an accessor`)
    out[i] = item.value
  }
  return out
}

// The intrinsic TypedArray getters read internal slots, which no prototype trick can fake.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)?.get as (this: unknown) => string | undefined
const typedArrayByteLength = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteLength')?.get as (this: unknown) => number

/** A real Uint8Array (a Buffer is one) of at most `max` bytes; returns a copy. */
function bytes (v: unknown, where: string, max: number): Uint8Array {
  if (typeof v !== 'object' || v === null || !ArrayBuffer.isView(v) || typedArrayTag.call(v) !== 'Uint8Array') fail('shape', `${where}: not a Uint8Array`)
  const length = typedArrayByteLength.call(v)
  if (length > max) fail('size', `${where}: ${length} bytes exceed ${max}`)
  const out = new Uint8Array(length)
  // `set` from a typed array copies through internal slots, not through the source's methods.
  out.set(v as Uint8Array)
  return out
}
