/**
 * A fuzzer for the wire codec (`wire-codec.ts`): it decodes frames an attacker or a broken peer
 * could send and checks the codec's two promises.
 *
 * 1. Decoding throws nothing but `WireDecodeError` and `FrameTooLargeError`. Any other throw is
 *    an *unexpected error* (a `TypeError` from a missed bounds check, a `RangeError` from an
 *    allocation sized by garbage, …).
 * 2. The encoding is canonical: a frame that decodes re-encodes to exactly the same bytes, and
 *    decoding those gives an identical message (same keys, same values, fresh byte arrays).
 *    Any difference is a *round-trip mismatch*.
 *
 * Frames are valid encodings of random messages of every type, then mutated: bit flips, bytes
 * set to boundary values, truncation, extension, insertion, deletion, splicing two frames,
 * length fields overwritten with random or hostile varints; plus fully random frames, with and
 * without a valid header. Everything is drawn from one seeded PRNG, so a run is reproducible from
 * `{ seed, frames }`, and each finding carries the frame's bytes.
 *
 * Pure: no I/O, no clock; `onProgress` is the caller's.
 */
import type { WireMessage } from '../contracts/index.js'
import type { Ballot, Command, LogEntry, Slot, Value } from '../paxos/index.js'
import {
  decodeWireMessage,
  encodeWireMessage,
  FrameTooLargeError,
  WIRE_LIMITS,
  WIRE_MESSAGE_TAGS,
  WIRE_VERSION,
  WireDecodeError,
  wireItemsMax
} from './wire-codec.js'
import type { WireCodecOptions } from './wire-codec.js'

export const CODEC_FUZZ_MUTATIONS = [
  'none', 'bitflip', 'byteset', 'truncate', 'extend', 'insert', 'delete', 'splice', 'length', 'random', 'random-headed'
] as const
export type CodecFuzzMutation = typeof CODEC_FUZZ_MUTATIONS[number]

export interface CodecFuzzOptions {
  readonly seed: number
  readonly frames: number
  /** Called every `progressEvery` frames (default 10,000) and at the end. */
  readonly onProgress?: (progress: { readonly done: number, readonly total: number, readonly decoded: number }) => void
  readonly progressEvery?: number
}

export interface CodecFuzzFinding {
  /** Index of the frame in the run (0-based). */
  readonly frame: number
  readonly mutation: CodecFuzzMutation
  /** The frame, hex (at most the first 512 bytes). */
  readonly hex: string
  readonly bytes: number
  readonly frameBytesMax: number | undefined
  readonly detail: string
}

export interface CodecFuzzReport {
  readonly seed: number
  readonly frames: number
  /** Frames that decoded (and were checked for a canonical round trip). */
  readonly decoded: number
  /** Refusals by error code (`ERR_WIRE_DECODE`, `ERR_FRAME_TOO_LARGE`). */
  readonly refused: Readonly<Record<string, number>>
  /** Per mutation: frames made, frames that decoded. */
  readonly byMutation: Readonly<Record<CodecFuzzMutation, { readonly frames: number, readonly decoded: number }>>
  /** Decoded frames by message type. */
  readonly decodedByType: Readonly<Record<string, number>>
  readonly roundTripMismatches: number
  readonly unexpectedErrorCount: number
  /** The first findings of each kind (at most `FINDINGS_KEPT`). */
  readonly mismatches: readonly CodecFuzzFinding[]
  readonly unexpectedErrors: readonly CodecFuzzFinding[]
}

const FINDINGS_KEPT = 50

// ---------------------------------------------------------------------------------------------
// A small seeded PRNG (SplitMix32). Not for anything but test input.

export class FuzzPrng {
  private state: number

  constructor (seed: number) {
    // Fold a seed of up to 53 bits into 32.
    this.state = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 0x1_0000_0000), 0x27d4eb2d)) | 0
  }

  /** Uniform in 0..2^32 − 1. */
  u32 (): number {
    this.state = (this.state + 0x9e3779b9) | 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }

  /** Uniform in 0..n − 1 (n ≤ 2^32). */
  int (n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n)
  }

  /** True with probability p. */
  chance (p: number): boolean {
    return this.u32() < p * 0x1_0000_0000
  }

  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
}

// ---------------------------------------------------------------------------------------------
// Random valid messages, biased to the edges of each field's encoding.

const NAT_EDGES = [0, 1, 127, 128, 255, 16_383, 16_384, 2 ** 31 - 1, 2 ** 32, 2 ** 50, 2 ** 52, 2 ** 53 - 1]
const UNITS = ['a', 'Z', '0', '.', '-', ' ', 'é', 'ß', '☃', '中', '\uFEFF', '😀', '𝄞', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff']
const REASONS = ['promised-higher', 'leader-alive'] as const

function nat (rng: FuzzPrng): number {
  switch (rng.int(4)) {
    case 0: return rng.int(10)
    case 1: return rng.pick(NAT_EDGES)
    case 2: return rng.int(1 << 21)
    default: return rng.int(1 << 21) * 0x1_0000_0000 + rng.u32()
  }
}

function text (rng: FuzzPrng): string {
  const r = rng.int(20)
  if (r === 0) return ''
  if (r === 1) return 'x'.repeat(WIRE_LIMITS.stringBytesMax - rng.int(3)) // at (or just under) the limit
  const length = 1 + rng.int(r < 15 ? 8 : 40)
  let s = ''
  for (let i = 0; i < length; i++) s += r < 12 ? String.fromCharCode(0x61 + rng.int(26)) : rng.pick(UNITS)
  return s
}

function data (rng: FuzzPrng): Uint8Array {
  const length = rng.chance(0.05) ? rng.int(3000) : rng.int(24)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = rng.int(256)
  return out
}

function ballot (rng: FuzzPrng): Ballot {
  return rng.chance(0.1) ? { round: 0, node: '' } : { round: nat(rng), node: text(rng) }
}

function commands (rng: FuzzPrng, max: number): Command[] {
  const out: Command[] = []
  for (let n = rng.int(max + 1); n > 0; n--) out.push({ client: text(rng), seq: nat(rng), data: data(rng) })
  return out
}

function value (rng: FuzzPrng): Value {
  const id = text(rng)
  const cs = commands(rng, 4)
  return rng.chance(0.5) ? { id, commands: cs } : { id, commands: cs, time: nat(rng) }
}

function entries (rng: FuzzPrng): Array<readonly [Slot, LogEntry]> {
  const out: Array<readonly [Slot, LogEntry]> = []
  for (let n = rng.int(4); n > 0; n--) out.push([nat(rng), { ballot: ballot(rng), value: value(rng) }])
  return out
}

const TYPES = Object.keys(WIRE_MESSAGE_TAGS) as Array<WireMessage['type']>

/** A random valid message of a random type. */
export function randomWireMessage (rng: FuzzPrng): WireMessage {
  const type = rng.pick(TYPES)
  switch (type) {
    case 'probe': return { type, ballot: ballot(rng), transfer: rng.chance(0.5) }
    case 'probeReply': return { type, ballot: ballot(rng), granted: rng.chance(0.5), promised: ballot(rng), commitIndex: nat(rng) }
    case 'prepare': return { type, ballot: ballot(rng), fromSlot: nat(rng), transfer: rng.chance(0.5) }
    case 'promise': return { type, ballot: ballot(rng), commitIndex: nat(rng), entries: entries(rng) }
    case 'reject': return { type, ballot: ballot(rng), promised: ballot(rng), reason: rng.pick(REASONS) }
    case 'accept': return { type, ballot: ballot(rng), slot: nat(rng), value: value(rng), commitIndex: nat(rng) }
    case 'accepted': return { type, ballot: ballot(rng), slot: nat(rng) }
    case 'heartbeat': return { type, ballot: ballot(rng), commitIndex: nat(rng), readSeq: nat(rng) }
    case 'heartbeatAck': return { type, ballot: ballot(rng), readSeq: nat(rng), commitIndex: nat(rng) }
    case 'catchupRequest': return { type, fromSlot: nat(rng), toSlot: nat(rng) }
    case 'catchupReply': return { type, entries: entries(rng), commitIndex: nat(rng) }
    case 'forward': return { type, commands: commands(rng, 6) }
    case 'readRequest': return { type, id: text(rng) }
    case 'readReply': return { type, id: text(rng), index: rng.chance(0.5) ? undefined : nat(rng) }
    case 'timeoutNow': return { type, ballot: ballot(rng) }
    case 'snapshotOffer': return { type, manifest: data(rng) }
    case 'snapshotChunkRequest': return { type, root: text(rng), chunk: nat(rng) }
    case 'snapshotChunk': return { type, root: text(rng), chunk: nat(rng), bytes: data(rng) }
    case 'snapshotDone': return { type, root: text(rng), index: nat(rng) }
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xc0, 0xed, 0xef, 0xf4, 0xf8, 0xfe, 0xff]

function randomBytes (rng: FuzzPrng, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = rng.chance(0.3) ? rng.pick(INTERESTING_BYTES) : rng.int(256)
  return out
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.byteLength
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** A varint for a length field: canonical or not, small, at the edge of what is left, or absurd. */
function hostileVarint (rng: FuzzPrng, left: number): Uint8Array {
  const candidates = [0, 1, 2, 3, left, left + 1, Math.max(0, left - 1), Math.floor(left / 3), 127, 128, 1024, 1025, wireItemsMax(), wireItemsMax() + 1, 2 ** 31, 2 ** 53 - 1]
  const n = rng.chance(0.8) ? rng.pick(candidates) : nat(rng)
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  // Now and then a redundant continuation group, or a group too many.
  if (rng.chance(0.1)) {
    out[out.length - 1] = (out[out.length - 1] as number) | 0x80
    out.push(rng.chance(0.5) ? 0 : 0x80, ...(rng.chance(0.5) ? [0] : []))
  }
  return Uint8Array.from(out)
}

function mutateOnce (rng: FuzzPrng, frame: Uint8Array, other: () => Uint8Array, kind: CodecFuzzMutation): Uint8Array {
  const at = (): number => (frame.byteLength === 0 ? 0 : rng.int(frame.byteLength))
  switch (kind) {
    case 'none':
      return frame
    case 'bitflip': {
      if (frame.byteLength === 0) return frame
      const out = frame.slice()
      const i = at()
      out[i] = (out[i] as number) ^ (1 << rng.int(8))
      return out
    }
    case 'byteset': {
      if (frame.byteLength === 0) return frame
      const out = frame.slice()
      out[at()] = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(256)
      return out
    }
    case 'truncate':
      return frame.slice(0, at())
    case 'extend':
      return concat(frame, randomBytes(rng, 1 + rng.int(rng.chance(0.9) ? 4 : 64)))
    case 'insert': {
      const i = at()
      return concat(frame.subarray(0, i), randomBytes(rng, 1 + rng.int(4)), frame.subarray(i))
    }
    case 'delete': {
      const i = at()
      return concat(frame.subarray(0, i), frame.subarray(Math.min(frame.byteLength, i + 1 + rng.int(4))))
    }
    case 'splice': {
      const b = other()
      return concat(frame.subarray(0, at()), b.subarray(b.byteLength === 0 ? 0 : rng.int(b.byteLength)))
    }
    case 'length': {
      // Past the header, where counts and lengths live; replace 0–2 bytes with a hostile varint.
      const i = frame.byteLength <= 2 ? frame.byteLength : 2 + rng.int(frame.byteLength - 2)
      const drop = Math.min(frame.byteLength, i + rng.int(3))
      return concat(frame.subarray(0, i), hostileVarint(rng, frame.byteLength - drop), frame.subarray(drop))
    }
    case 'random':
      return randomBytes(rng, rng.int(rng.chance(0.9) ? 24 : 400))
    case 'random-headed':
      return concat(Uint8Array.of(WIRE_VERSION, rng.chance(0.95) ? rng.pick(Object.values(WIRE_MESSAGE_TAGS)) : rng.int(256)), randomBytes(rng, rng.int(rng.chance(0.9) ? 40 : 400)))
  }
}

// How often each mutation is chosen (in 1/100).
const WEIGHTS: ReadonlyArray<readonly [CodecFuzzMutation, number]> = [
  ['none', 6], ['bitflip', 14], ['byteset', 14], ['truncate', 8], ['extend', 6], ['insert', 8], ['delete', 8],
  ['splice', 8], ['length', 14], ['random', 4], ['random-headed', 10]
]

function pickMutation (rng: FuzzPrng): CodecFuzzMutation {
  let r = rng.int(100)
  for (const [kind, weight] of WEIGHTS) {
    if (r < weight) return kind
    r -= weight
  }
  return 'bitflip'
}

// ---------------------------------------------------------------------------------------------
// Checks

/** Structural equality of decoded messages: same own keys (undefined values included), same classes. */
export function wireEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  if (a instanceof Uint8Array) {
    const y = b as Uint8Array
    if (a.byteLength !== y.byteLength) return false
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== y[i]) return false
    return true
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false
    if (!wireEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** A byte array of `m` that is not a fresh plain Uint8Array of its own. */
function sharedBytes (m: unknown, frame: Uint8Array): string | undefined {
  if (m instanceof Uint8Array) {
    if (Object.getPrototypeOf(m) !== Uint8Array.prototype) return 'a byte array that is not a plain Uint8Array'
    if (m.buffer === frame.buffer) return 'a byte array that is a view into the frame'
    return undefined
  }
  if (typeof m === 'object' && m !== null) {
    for (const v of Object.values(m)) {
      const found = sharedBytes(v, frame)
      if (found !== undefined) return found
    }
  }
  return undefined
}

function hex (bytes: Uint8Array): string {
  let s = ''
  const n = Math.min(bytes.byteLength, 512)
  for (let i = 0; i < n; i++) s += (bytes[i] as number).toString(16).padStart(2, '0')
  return n < bytes.byteLength ? `${s}…` : s
}

function describe (error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}${error.stack === undefined ? '' : `\n${error.stack.split('\n').slice(1, 4).join('\n')}`}`
  return `a thrown ${typeof error}: ${String(error)}`
}

function isRefusal (error: unknown): error is WireDecodeError | FrameTooLargeError {
  return (error instanceof WireDecodeError && error.code === 'ERR_WIRE_DECODE') ||
    (error instanceof FrameTooLargeError && error.code === 'ERR_FRAME_TOO_LARGE')
}

/**
 * Runs `frames` fuzzed frames through the decoder (see the module comment). Deterministic in
 * `{ seed, frames }`. Never throws for what the codec does: findings are in the report.
 */
export function fuzzWireCodec (options: CodecFuzzOptions): CodecFuzzReport {
  const { seed, frames } = options
  const progressEvery = options.progressEvery ?? 10_000
  const rng = new FuzzPrng(seed)
  const refused: Record<string, number> = {}
  const byMutation = Object.fromEntries(CODEC_FUZZ_MUTATIONS.map(k => [k, { frames: 0, decoded: 0 }])) as Record<CodecFuzzMutation, { frames: number, decoded: number }>
  const decodedByType: Record<string, number> = Object.fromEntries(TYPES.map(t => [t, 0]))
  const mismatches: CodecFuzzFinding[] = []
  const unexpectedErrors: CodecFuzzFinding[] = []
  let mismatchCount = 0
  let unexpectedCount = 0
  let decoded = 0

  // A few recent valid frames to splice with.
  const recent: Uint8Array[] = []
  const other = (): Uint8Array => recent.length === 0 ? new Uint8Array(0) : rng.pick(recent)

  for (let n = 0; n < frames; n++) {
    if (options.onProgress !== undefined && n > 0 && n % progressEvery === 0) options.onProgress({ done: n, total: frames, decoded })
    const kind = pickMutation(rng)
    let frame: Uint8Array = new Uint8Array(0)
    const finding = (detail: string, limit: number | undefined): CodecFuzzFinding =>
      ({ frame: n, mutation: kind, hex: hex(frame), bytes: frame.byteLength, frameBytesMax: limit, detail })
    const mismatch = (detail: string, limit: number | undefined): void => {
      mismatchCount++
      if (mismatches.length < FINDINGS_KEPT) mismatches.push(finding(detail, limit))
    }

    if (kind === 'random' || kind === 'random-headed') {
      frame = mutateOnce(rng, new Uint8Array(0), other, kind)
    } else {
      const original = randomWireMessage(rng)
      frame = encodeWireMessage(original)
      if (recent.length < 64) recent.push(frame)
      else recent[rng.int(64)] = frame
      if (kind === 'none') {
        // The plain round trip of a valid message; mutated frames are checked for canonicity below.
        try {
          if (!wireEqual(decodeWireMessage(frame), original)) mismatch('a valid message did not decode to itself', undefined)
        } catch (error) {
          mismatch(`a valid message failed to decode: ${describe(error)}`, undefined)
        }
      } else {
        frame = mutateOnce(rng, frame, other, kind)
        // Stack a second mutation now and then.
        if (rng.chance(0.2)) frame = mutateOnce(rng, frame, other, pickMutation(rng))
      }
    }
    byMutation[kind].frames++

    // Now and then a small frame limit, so FrameTooLargeError is exercised too.
    const limit = rng.chance(0.03) ? 2 + rng.int(frame.byteLength + 4) : undefined
    const codecOptions: WireCodecOptions | undefined = limit === undefined ? undefined : { frameBytesMax: limit }

    let m: WireMessage
    try {
      m = decodeWireMessage(frame, codecOptions)
    } catch (error) {
      if (isRefusal(error)) {
        refused[error.code] = (refused[error.code] ?? 0) + 1
      } else {
        unexpectedCount++
        if (unexpectedErrors.length < FINDINGS_KEPT) unexpectedErrors.push(finding(`decode threw ${describe(error)}`, limit))
      }
      continue
    }
    decoded++
    byMutation[kind].decoded++
    decodedByType[m.type] = (decodedByType[m.type] ?? 0) + 1

    const shared = sharedBytes(m, frame)
    if (shared !== undefined) mismatch(`decoded message holds ${shared}`, limit)
    let again: Uint8Array
    try {
      again = encodeWireMessage(m, codecOptions)
    } catch (error) {
      mismatch(`decoded message does not re-encode: ${describe(error)}`, limit)
      continue
    }
    if (!bytesEqual(again, frame)) {
      mismatch(`not canonical: re-encodes to ${hex(again)}`, limit)
      continue
    }
    try {
      if (!wireEqual(decodeWireMessage(again, codecOptions), m)) mismatch('decoding the re-encoded frame gives another message', limit)
    } catch (error) {
      mismatch(`the re-encoded frame does not decode: ${describe(error)}`, limit)
    }
  }
  options.onProgress?.({ done: frames, total: frames, decoded })

  return {
    seed,
    frames,
    decoded,
    refused,
    byMutation,
    decodedByType,
    roundTripMismatches: mismatchCount,
    unexpectedErrorCount: unexpectedCount,
    mismatches,
    unexpectedErrors
  }
}
