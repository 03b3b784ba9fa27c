import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { WireMessage } from '../../../src/contracts/index.js'
import type { Ballot, Command, LogEntry, Slot, Value } from '../../../src/paxos/index.js'
import {
  decodeWireMessage,
  DEFAULT_FRAME_BYTES_MAX,
  encodeWireMessage,
  FrameTooLargeError,
  WIRE_LIMITS,
  WIRE_MESSAGE_TAGS,
  WIRE_VERSION,
  WireDecodeError,
  WireEncodeError,
  WireError,
  wireItemsMax,
  wireMessageEncodedBytes
} from '../../../src/alm/wire-codec.js'
import { CodedError } from '../../../src/util/errors.js'

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)
const b1: Ballot = { round: 7, node: 'n1' }
const b2: Ballot = { round: 300, node: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN' }
const bottom: Ballot = { round: 0, node: '' }
const cmd = (client: string, seq: number, ...data: number[]): Command => ({ client, seq, data: bytes(...data) })
const timed: Value = { id: '7.n1.12', commands: [cmd('c1', 1, 1, 2, 3), cmd('☃ client 😀', 2 ** 53 - 1)], time: 1_700_000_000_123 }
const untimed: Value = { id: '7.n1.13', commands: [] }
const zeroTime: Value = { id: '7.n1.14', commands: [cmd('', 0)], time: 0 }
const entries: Array<readonly [Slot, LogEntry]> = [[12, { ballot: b1, value: timed }], [13, { ballot: b2, value: untimed }], [14, { ballot: b1, value: zeroTime }]]
const ROOT = 'ab'.repeat(32)

/** At least one hand-written message of every type, with the edge cases of its fields. */
const EXAMPLES: WireMessage[] = [
  { type: 'probe', ballot: b1, transfer: false },
  { type: 'probe', ballot: b2, transfer: true },
  { type: 'probeReply', ballot: b1, granted: true, promised: bottom, commitIndex: 0 },
  { type: 'probeReply', ballot: b2, granted: false, promised: b1, commitIndex: 2 ** 50 },
  { type: 'prepare', ballot: b1, fromSlot: 1, transfer: true },
  { type: 'promise', ballot: b1, commitIndex: 11, entries },
  { type: 'promise', ballot: b2, commitIndex: 0, entries: [] },
  { type: 'reject', ballot: b1, promised: b2, reason: 'promised-higher' },
  { type: 'reject', ballot: b2, promised: b2, reason: 'leader-alive' },
  { type: 'accept', ballot: b1, slot: 12, value: timed, commitIndex: 11 },
  { type: 'accept', ballot: b1, slot: 13, value: untimed, commitIndex: 0 },
  { type: 'accept', ballot: b1, slot: 14, value: zeroTime, commitIndex: 127 },
  { type: 'accepted', ballot: b2, slot: 128 },
  { type: 'heartbeat', ballot: b1, commitIndex: 16_383, readSeq: 16_384 },
  { type: 'heartbeatAck', ballot: b1, readSeq: 2 ** 52, commitIndex: 9 },
  { type: 'catchupRequest', fromSlot: 1, toSlot: 256 },
  { type: 'catchupReply', entries, commitIndex: 14 },
  { type: 'catchupReply', entries: [], commitIndex: 3 },
  { type: 'forward', commands: [cmd('c1', 5, 0xff), cmd('c2', 0)] },
  { type: 'forward', commands: [] },
  { type: 'readRequest', id: 'r-1' },
  { type: 'readReply', id: 'r-1', index: 0 },
  { type: 'readReply', id: 'r-2', index: undefined },
  { type: 'readReply', id: '\uFEFFbom', index: 2 ** 53 - 1 },
  { type: 'timeoutNow', ballot: b2 },
  { type: 'snapshotOffer', manifest: bytes(1, 0x53, 0, 0, 0) },
  { type: 'snapshotOffer', manifest: bytes() },
  { type: 'snapshotChunkRequest', root: ROOT, chunk: 0 },
  { type: 'snapshotChunk', root: ROOT, chunk: 262_143, bytes: new Uint8Array(1000).map((_, i) => i) },
  { type: 'snapshotDone', root: ROOT, index: 42 }
]

function decodeError (fn: () => unknown): WireDecodeError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(WireDecodeError)
    expect(error).toBeInstanceOf(WireError)
    expect(error).toBeInstanceOf(CodedError)
    expect(error).toMatchObject({ code: 'ERR_WIRE_DECODE', name: 'WireDecodeError' })
    return error as WireDecodeError
  }
  throw new Error('expected WireDecodeError, nothing was thrown')
}

function encodeError (fn: () => unknown): WireEncodeError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(WireEncodeError)
    expect(error).toMatchObject({ code: 'ERR_WIRE_ENCODE' })
    return error as WireEncodeError
  }
  throw new Error('expected WireEncodeError, nothing was thrown')
}

/** Every Uint8Array reachable from `value`. */
function byteArrays (value: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (value instanceof Uint8Array) out.push(value)
  else if (Array.isArray(value)) for (const v of value) byteArrays(v, out)
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) byteArrays(v, out)
  return out
}

function expectRoundTrip (m: WireMessage): Uint8Array {
  const frame = encodeWireMessage(m)
  expect(frame.byteLength).toBe(wireMessageEncodedBytes(m))
  expect(frame[0]).toBe(WIRE_VERSION)
  expect(frame[1]).toBe(WIRE_MESSAGE_TAGS[m.type])
  const decoded = decodeWireMessage(frame)
  // toStrictEqual: same keys (an absent `time` stays absent, `index: undefined` stays present),
  // same classes (plain Uint8Array, not Buffer), same values.
  expect(decoded).toStrictEqual(m)
  expect(encodeWireMessage(decoded)).toEqual(frame)
  for (const data of byteArrays(decoded)) {
    expect(data.buffer).not.toBe(frame.buffer)
    expect(Object.getPrototypeOf(data)).toBe(Uint8Array.prototype)
  }
  return frame
}

// fast-check: arbitrary messages of every type. 'binary' strings cover every code point, astral
// planes included, and never a lone surrogate.
const text = fc.string({ unit: 'binary', maxLength: 24 })
const nat = fc.maxSafeNat()
const smallNat = fc.nat({ max: 300 })
const anyNat = fc.oneof(nat, smallNat, fc.constantFrom(0, 127, 128, 16_383, 16_384, 2 ** 53 - 1))
const ballotArb: fc.Arbitrary<Ballot> = fc.record({ round: anyNat, node: text })
const commandArb: fc.Arbitrary<Command> = fc.record({ client: text, seq: anyNat, data: fc.uint8Array({ maxLength: 40 }) })
const valueArb: fc.Arbitrary<Value> = fc.record({ id: text, commands: fc.array(commandArb, { maxLength: 5 }), time: anyNat }, { requiredKeys: ['id', 'commands'] })
const entriesArb = fc.array(fc.tuple(anyNat, fc.record({ ballot: ballotArb, value: valueArb })).map(([s, e]) => [s, e] as const), { maxLength: 4 })
const messageArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ type: fc.constant('probe' as const), ballot: ballotArb, transfer: fc.boolean() }),
  fc.record({ type: fc.constant('probeReply' as const), ballot: ballotArb, granted: fc.boolean(), promised: ballotArb, commitIndex: anyNat }),
  fc.record({ type: fc.constant('prepare' as const), ballot: ballotArb, fromSlot: anyNat, transfer: fc.boolean() }),
  fc.record({ type: fc.constant('promise' as const), ballot: ballotArb, commitIndex: anyNat, entries: entriesArb }),
  fc.record({ type: fc.constant('reject' as const), ballot: ballotArb, promised: ballotArb, reason: fc.constantFrom('promised-higher' as const, 'leader-alive' as const) }),
  fc.record({ type: fc.constant('accept' as const), ballot: ballotArb, slot: anyNat, value: valueArb, commitIndex: anyNat }),
  fc.record({ type: fc.constant('accepted' as const), ballot: ballotArb, slot: anyNat }),
  fc.record({ type: fc.constant('heartbeat' as const), ballot: ballotArb, commitIndex: anyNat, readSeq: anyNat }),
  fc.record({ type: fc.constant('heartbeatAck' as const), ballot: ballotArb, readSeq: anyNat, commitIndex: anyNat }),
  fc.record({ type: fc.constant('catchupRequest' as const), fromSlot: anyNat, toSlot: anyNat }),
  fc.record({ type: fc.constant('catchupReply' as const), entries: entriesArb, commitIndex: anyNat }),
  fc.record({ type: fc.constant('forward' as const), commands: fc.array(commandArb, { maxLength: 6 }) }),
  fc.record({ type: fc.constant('readRequest' as const), id: text }),
  fc.record({ type: fc.constant('readReply' as const), id: text, index: fc.option(anyNat, { nil: undefined }) }),
  fc.record({ type: fc.constant('timeoutNow' as const), ballot: ballotArb }),
  fc.record({ type: fc.constant('snapshotOffer' as const), manifest: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ type: fc.constant('snapshotChunkRequest' as const), root: text, chunk: anyNat }),
  fc.record({ type: fc.constant('snapshotChunk' as const), root: text, chunk: anyNat, bytes: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ type: fc.constant('snapshotDone' as const), root: text, index: anyNat })
// fast-check makes some records with a null prototype; the decoder makes plain objects.
).map(m => structuredClone(m))

/** Either a typed refusal, or a message that re-encodes to exactly `frame` (canonical). */
function expectRefusedOrCanonical (frame: Uint8Array): void {
  let decoded: WireMessage
  try {
    decoded = decodeWireMessage(frame)
  } catch (error) {
    expect(error).toBeInstanceOf(WireDecodeError)
    return
  }
  expect(encodeWireMessage(decoded)).toEqual(frame)
}

describe('wire codec: round trips', () => {
  it('the examples cover every message type', () => {
    expect(new Set(EXAMPLES.map(m => m.type))).toEqual(new Set(Object.keys(WIRE_MESSAGE_TAGS)))
  })

  it.each(EXAMPLES.map(m => [m.type, m] as const))('%s round-trips exactly', (_type, m) => {
    expectRoundTrip(m)
  })

  it('decodes from a view into a larger buffer (a Node Buffer from a stream) and copies out of it', () => {
    const frame = encodeWireMessage({ type: 'snapshotChunk', root: ROOT, chunk: 3, bytes: bytes(9, 8, 7) })
    const pool = Buffer.alloc(frame.byteLength + 20, 0xee)
    pool.set(frame, 10)
    const view = pool.subarray(10, 10 + frame.byteLength)
    const m = decodeWireMessage(view)
    expect(m).toStrictEqual({ type: 'snapshotChunk', root: ROOT, chunk: 3, bytes: bytes(9, 8, 7) })
    view.fill(0)
    expect(m.type === 'snapshotChunk' && [...m.bytes]).toEqual([9, 8, 7])
  })

  it('absent time and time 0 are different frames; so are an absent read index and index 0', () => {
    const withTime = encodeWireMessage({ type: 'accept', ballot: b1, slot: 1, value: { id: 'v', commands: [], time: 0 }, commitIndex: 0 })
    const without = encodeWireMessage({ type: 'accept', ballot: b1, slot: 1, value: { id: 'v', commands: [] }, commitIndex: 0 })
    expect(withTime).not.toEqual(without)
    expect(encodeWireMessage({ type: 'readReply', id: 'r', index: 0 })).not.toEqual(encodeWireMessage({ type: 'readReply', id: 'r', index: undefined }))
  })

  it('keeps the wire format: golden frames', () => {
    // If this fails, the format changed: bump WIRE_VERSION instead of editing these bytes.
    const hex = (m: WireMessage): string => Buffer.from(encodeWireMessage(m)).toString('hex')
    expect(hex({ type: 'probe', ballot: { round: 300, node: 'n1' }, transfer: true })).toBe('0101ac02026e3101')
    expect(hex({ type: 'reject', ballot: b1, promised: bottom, reason: 'leader-alive' })).toBe('010507026e31000001')
    expect(hex({ type: 'accept', ballot: b1, slot: 2, value: { id: 'v', commands: [cmd('c', 1, 0xaa)], time: 5 }, commitIndex: 1 }))
      .toBe('010607026e3102' + '0176' + '0105' + '01' + '016301' + '01aa' + '01')
    expect(hex({ type: 'readReply', id: 'r', index: undefined })).toBe('010e017200')
    expect(hex({ type: 'snapshotDone', root: 'x', index: 128 })).toBe('012301788001')
  })

  it('every arbitrary message of every type round-trips, and re-encodes to the same bytes', () => {
    fc.assert(fc.property(messageArb, (m) => {
      expectRoundTrip(m)
    }), { numRuns: 3000 })
  })

  it('a frame that decodes is canonical: random bytes and mutated frames either refuse or re-encode identically', () => {
    const tags = Object.values(WIRE_MESSAGE_TAGS)
    const headed = fc.tuple(fc.constantFrom(...tags), fc.uint8Array({ maxLength: 60 })).map(([tag, rest]) => bytes(WIRE_VERSION, tag, ...rest))
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 60 }), headed), expectRefusedOrCanonical), { numRuns: 5000 })
    const mutated = fc.tuple(messageArb, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([m, at, byte]) => {
      const frame = encodeWireMessage(m).slice()
      frame[at % frame.byteLength] = byte
      return frame
    })
    fc.assert(fc.property(mutated, expectRefusedOrCanonical), { numRuns: 5000 })
  })
})

describe('wire codec: strict decoding', () => {
  it('refuses every truncation of every example', () => {
    for (const m of EXAMPLES) {
      const frame = encodeWireMessage(m)
      for (let n = 0; n < frame.byteLength; n++) {
        const error = decodeError(() => decodeWireMessage(frame.subarray(0, n)))
        expect(error.offset).toBeLessThanOrEqual(n)
      }
    }
  })

  it('refuses trailing bytes', () => {
    for (const m of EXAMPLES) {
      const frame = encodeWireMessage(m)
      const longer = new Uint8Array(frame.byteLength + 1)
      longer.set(frame)
      const error = decodeError(() => decodeWireMessage(longer))
      expect(error.reason).toBe('1 trailing bytes')
      expect(error.offset).toBe(frame.byteLength)
    }
  })

  it('refuses an unknown version, naming it', () => {
    const frame = encodeWireMessage({ type: 'timeoutNow', ballot: b1 })
    for (const version of [0, 2, 0x7f, 0xff]) {
      const other = frame.slice()
      other[0] = version
      const error = decodeError(() => decodeWireMessage(other))
      expect(error.reason).toContain(`unknown wire version ${version}`)
      expect(error.offset).toBe(0)
    }
  })

  it('refuses every unknown type tag', () => {
    const known = new Set<number>(Object.values(WIRE_MESSAGE_TAGS))
    for (let tag = 0; tag < 256; tag++) {
      if (known.has(tag)) continue
      const error = decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, 7, 2, 0x6e, 0x31, 0)))
      expect(error.reason).toContain('unknown message type tag')
      expect(error.offset).toBe(1)
    }
  })

  it('refuses a frame over the limit with FrameTooLargeError, before reading it', () => {
    const frame = encodeWireMessage({ type: 'snapshotChunk', root: ROOT, chunk: 0, bytes: new Uint8Array(100) })
    expect(decodeWireMessage(frame, { frameBytesMax: frame.byteLength }).type).toBe('snapshotChunk')
    for (const [input, limit] of [[frame, frame.byteLength - 1], [bytes(9, 9, 9), 2], [new Uint8Array(DEFAULT_FRAME_BYTES_MAX + 1), undefined]] as const) {
      let thrown: unknown
      try {
        decodeWireMessage(input, limit === undefined ? undefined : { frameBytesMax: limit })
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(FrameTooLargeError)
      expect(thrown).toBeInstanceOf(WireError)
      expect(thrown).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE', bytes: input.byteLength, limit: limit ?? DEFAULT_FRAME_BYTES_MAX })
    }
    // The sender learns it too, before anything is sent.
    expect(() => encodeWireMessage({ type: 'snapshotOffer', manifest: new Uint8Array(100) }, { frameBytesMax: 50 })).toThrow(FrameTooLargeError)
  })

  it('carries the largest snapshot chunk a receiver accepts under the default limit', () => {
    const chunk = new Uint8Array(16 * 1024 * 1024)
    chunk[chunk.length - 1] = 0x5a
    const m: WireMessage = { type: 'snapshotChunk', root: ROOT, chunk: 262_143, bytes: chunk }
    const decoded = decodeWireMessage(encodeWireMessage(m))
    expect(decoded.type === 'snapshotChunk' && decoded.bytes[chunk.length - 1]).toBe(0x5a)
  })

  it('refuses a boolean, presence or reason byte other than the defined ones', () => {
    const probe = encodeWireMessage({ type: 'probe', ballot: b1, transfer: true })
    for (const bad of [2, 0x80, 0xff]) {
      const frame = probe.slice()
      frame[frame.byteLength - 1] = bad
      expect(decodeError(() => decodeWireMessage(frame)).reason).toBe(`transfer byte ${bad}, expected 0 or 1`)
    }
    const reply = encodeWireMessage({ type: 'readReply', id: 'r', index: undefined })
    reply[reply.byteLength - 1] = 2
    expect(decodeError(() => decodeWireMessage(reply)).reason).toContain('index presence byte 2')
    const accept = encodeWireMessage({ type: 'accept', ballot: b1, slot: 2, value: { id: 'v', commands: [] }, commitIndex: 1 })
    // version, tag, round, node (2 + 'n1'), slot, id (1 + 'v'): the time presence byte is at 9.
    expect(accept[9]).toBe(0)
    accept[9] = 3
    expect(decodeError(() => decodeWireMessage(accept))).toMatchObject({ offset: 9, reason: 'value.time presence byte 3, expected 0 or 1' })
    const reject = encodeWireMessage({ type: 'reject', ballot: b1, promised: b1, reason: 'leader-alive' })
    reject[reject.byteLength - 1] = 2
    expect(decodeError(() => decodeWireMessage(reject)).reason).toBe('unknown reject reason 2')
  })

  it('refuses non-canonical and oversized varints', () => {
    const tag = WIRE_MESSAGE_TAGS.catchupRequest
    expect(decodeWireMessage(bytes(WIRE_VERSION, tag, 0x85, 0x01, 0x01))).toStrictEqual({ type: 'catchupRequest', fromSlot: 133, toSlot: 1 })
    expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, 0x85, 0x00, 0x01))).reason).toContain('non-canonical varint in fromSlot')
    expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, 0x01, 0x80, 0x80, 0x00))).reason).toContain('non-canonical varint in toSlot')
    // 2^53 needs 8 groups and exceeds a safe integer; 9 groups is over the length limit.
    expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01))).reason).toContain('exceeds 2^53-1')
    expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, ...new Array<number>(9).fill(0xff), 0x01))).reason).toContain('longer than 8 bytes')
  })

  it('refuses a huge count with few bytes behind it, at the count (before allocating for it)', () => {
    const big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f] // 2^53 − 1
    for (const tag of [WIRE_MESSAGE_TAGS.forward, WIRE_MESSAGE_TAGS.catchupReply]) {
      const error = decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, ...big, 0, 0, 0, 0, 0, 0)))
      expect(error.reason).toMatch(/count 9007199254740991, but 6 bytes left hold at most [0-9]+/)
      expect(error.offset).toBe(2)
    }
    // Counts that the bytes could hold, one item short: refused as truncation, not by allocating.
    expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, WIRE_MESSAGE_TAGS.forward, 3, 0, 0, 0, 0, 0, 0))).reason).toMatch(/count 3, but 6 bytes left hold at most 2/)
  })

  it('refuses more commands and entries than wireItemsMax, though the bytes hold them', () => {
    expect(wireItemsMax()).toBe(Math.floor(DEFAULT_FRAME_BYTES_MAX / 64))
    expect(wireItemsMax(1000)).toBe(WIRE_LIMITS.itemsFloor)
    const count = wireItemsMax() + 1
    const frame = new Uint8Array(2 + 3 + 3 * count)
    frame.set([WIRE_VERSION, WIRE_MESSAGE_TAGS.forward])
    frame.set([(count & 0x7f) | 0x80, ((count >> 7) & 0x7f) | 0x80, count >> 14], 2)
    const error = decodeError(() => decodeWireMessage(frame))
    expect(error.reason).toContain(`count ${count} takes the frame over ${count - 1} commands and entries`)
    encodeError(() => encodeWireMessage({ type: 'forward', commands: new Array<Command>(count).fill(cmd('', 0)) }))
    // Commands and entries count together, and the budget follows the frame limit.
    const limit = 64 * 5000
    const entry: readonly [Slot, LogEntry] = [1, { ballot: b1, value: { id: 'v', commands: new Array<Command>(999).fill(cmd('', 0)) } }]
    const five = encodeWireMessage({ type: 'catchupReply', entries: new Array(5).fill(entry), commitIndex: 5 }, { frameBytesMax: limit })
    expect(decodeWireMessage(five, { frameBytesMax: limit }).type).toBe('catchupReply') // 5 + 5 × 999 = 5000
    const six = encodeWireMessage({ type: 'catchupReply', entries: new Array(6).fill(entry), commitIndex: 6 })
    expect(decodeError(() => decodeWireMessage(six, { frameBytesMax: limit })).reason).toContain('over 5000 commands and entries')
    encodeError(() => encodeWireMessage({ type: 'catchupReply', entries: new Array(6).fill(entry), commitIndex: 6 }, { frameBytesMax: limit }))
  })

  it('refuses invalid UTF-8 and strings over the limit; keeps a leading BOM', () => {
    const tag = WIRE_MESSAGE_TAGS.readRequest
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x98], [0xf4, 0x90, 0x80, 0x80]]) {
      expect(decodeError(() => decodeWireMessage(bytes(WIRE_VERSION, tag, bad.length, ...bad))).reason).toBe('id is not valid UTF-8')
    }
    expect(decodeWireMessage(bytes(WIRE_VERSION, tag, 3, 0xe2, 0x98, 0x83))).toStrictEqual({ type: 'readRequest', id: '☃' })
    expect(decodeWireMessage(bytes(WIRE_VERSION, tag, 4, 0xef, 0xbb, 0xbf, 0x78))).toStrictEqual({ type: 'readRequest', id: '\uFEFFx' })
    const max = 'é'.repeat(WIRE_LIMITS.stringBytesMax / 2)
    expectRoundTrip({ type: 'readRequest', id: max })
    const over = new Uint8Array(2 + 2 + 1025).fill(0x61)
    over.set([WIRE_VERSION, tag, 0x81, 0x08])
    expect(decodeError(() => decodeWireMessage(over)).reason).toBe('id length 1025 exceeds the limit of 1024')
    encodeError(() => encodeWireMessage({ type: 'readRequest', id: `${max}x` }))
  })

  it('refuses input that is not bytes, with a typed error', () => {
    decodeError(() => decodeWireMessage('0101' as unknown as Uint8Array))
    decodeError(() => decodeWireMessage(undefined as unknown as Uint8Array))
  })
})

describe('wire codec: encoding refuses what it cannot carry', () => {
  const cases: Array<[string, unknown]> = [
    ['negative round', { type: 'timeoutNow', ballot: { round: -1, node: 'n' } }],
    ['fractional slot', { type: 'accepted', ballot: b1, slot: 1.5 }],
    ['unsafe integer', { type: 'catchupRequest', fromSlot: 2 ** 53, toSlot: 1 }],
    ['NaN', { type: 'heartbeat', ballot: b1, commitIndex: Number.NaN, readSeq: 0 }],
    ['lone surrogate', { type: 'readRequest', id: 'a\ud800' }],
    ['lone low surrogate', { type: 'timeoutNow', ballot: { round: 1, node: '\udc00' } }],
    ['string where a number belongs', { type: 'snapshotDone', root: ROOT, index: '5' }],
    ['number where a boolean belongs', { type: 'probe', ballot: b1, transfer: 1 }],
    ['unknown reason', { type: 'reject', ballot: b1, promised: b1, reason: 'tired' }],
    ['inherited reason name', { type: 'reject', ballot: b1, promised: b1, reason: 'toString' }],
    ['unknown type', { type: 'gossip' }],
    ['inherited type name', { type: 'constructor' }],
    ['data not bytes', { type: 'forward', commands: [{ client: 'c', seq: 1, data: [1, 2] }] }],
    ['entries not pairs', { type: 'catchupReply', entries: [[1]], commitIndex: 1 }],
    ['time not an integer', { type: 'accept', ballot: b1, slot: 1, value: { id: 'v', commands: [], time: 1.5 }, commitIndex: 0 }]
  ]
  it.each(cases)('%s', (_name, m) => {
    encodeError(() => encodeWireMessage(m as WireMessage))
  })

  it('validates frameBytesMax', () => {
    expect(() => decodeWireMessage(bytes(1), { frameBytesMax: 0 })).toThrow(/frameBytesMax/)
    expect(() => encodeWireMessage({ type: 'timeoutNow', ballot: b1 }, { frameBytesMax: Number.NaN })).toThrow(/frameBytesMax/)
  })
})
