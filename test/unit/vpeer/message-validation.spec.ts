import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DEFAULT_PAXOS_CONFIG } from '../../../src/paxos/config.js'
import type { PaxosMessage } from '../../../src/paxos/messages.js'
import { CODEC_LIMITS, logEntryEncodedBytes, metaEncodedBytes } from '../../../src/storage/codec.js'
import {
  MAX_CHUNK, MAX_ID_BYTES, MAX_ROUND, MAX_SLOT, isValidNodeId, validateWireMessage, wireLimitsOf
} from '../../../src/vpeer/message-validation.js'
import type { WireDropReason } from '../../../src/vpeer/message-validation.js'
import type { SnapshotMessage, WireMessage } from '../../../src/vpeer/snapshot-transfer.js'

const limits = wireLimitsOf({ ...DEFAULT_PAXOS_CONFIG, catchupEntriesMax: 4, batchCommandsMax: 3, batchBytesMax: 100 })
const B = { round: 3, node: 'n1' }
const bottom = { round: 0, node: '' }
const cmd = (seq: number, n = 2): { client: string, seq: number, data: Uint8Array } => ({ client: 'c1', seq, data: new Uint8Array(n).fill(seq) })
const val = { id: '3.n1.5', commands: [cmd(1), cmd(2)] }
const ROOT = 'ab'.repeat(32)

/** One valid message of every type, as a correct node sends it. */
const SAMPLES: Record<PaxosMessage['type'], PaxosMessage> & Record<SnapshotMessage['type'], SnapshotMessage> = {
  probe: { type: 'probe', ballot: B, transfer: false },
  probeReply: { type: 'probeReply', ballot: B, granted: true, promised: bottom, commitIndex: 0 },
  prepare: { type: 'prepare', ballot: B, fromSlot: 1, transfer: true },
  promise: { type: 'promise', ballot: B, commitIndex: 4, entries: [[5, { ballot: { round: 2, node: 'n2' }, value: val }], [7, { ballot: B, value: { id: 'x', commands: [] } }]] },
  reject: { type: 'reject', ballot: B, promised: { round: 4, node: 'n2' }, reason: 'promised-higher' },
  accept: { type: 'accept', ballot: B, slot: 5, value: val, commitIndex: 4 },
  accepted: { type: 'accepted', ballot: B, slot: 5 },
  heartbeat: { type: 'heartbeat', ballot: B, commitIndex: 4, readSeq: 0 },
  heartbeatAck: { type: 'heartbeatAck', ballot: B, readSeq: 2, commitIndex: 3 },
  catchupRequest: { type: 'catchupRequest', fromSlot: 3, toSlot: 3 },
  catchupReply: { type: 'catchupReply', entries: [[3, { ballot: B, value: val }], [4, { ballot: B, value: val }]], commitIndex: 4 },
  forward: { type: 'forward', commands: [cmd(1), cmd(2), cmd(3), cmd(4)] },
  readRequest: { type: 'readRequest', id: 'n1#abc:r1' },
  readReply: { type: 'readReply', id: 'n1#abc:r1', index: undefined },
  timeoutNow: { type: 'timeoutNow', ballot: B },
  snapshotOffer: { type: 'snapshotOffer', manifest: new Uint8Array([1, 2, 3]) },
  snapshotChunkRequest: { type: 'snapshotChunkRequest', root: ROOT, chunk: 0 },
  snapshotChunk: { type: 'snapshotChunk', root: ROOT, chunk: 2, bytes: new Uint8Array([9]) },
  snapshotDone: { type: 'snapshotDone', root: ROOT, index: 7 }
}

function refused (raw: unknown): WireDropReason {
  const r = validateWireMessage(raw, limits)
  if (r.ok) throw new Error(`accepted ${JSON.stringify(raw)}`)
  return r.reason
}

function accepted (raw: unknown): WireMessage {
  const r = validateWireMessage(raw, limits)
  if (!r.ok) throw new Error(`refused (${r.reason}): ${r.detail}`)
  return r.message
}

/** Every object and byte array reachable from `m`. */
function reachable (m: unknown, out = new Set<unknown>()): Set<unknown> {
  if (typeof m === 'object' && m !== null && !out.has(m)) {
    out.add(m)
    if (!(m instanceof Uint8Array)) for (const v of Object.values(m)) reachable(v, out)
  }
  return out
}

describe('validateWireMessage: what correct nodes send', () => {
  for (const [type, sample] of Object.entries(SAMPLES)) {
    it(`${type} passes unchanged, as a fresh object sharing nothing with the input`, () => {
      const out = accepted(sample)
      expect(out).toEqual(sample)
      const theirs = reachable(sample)
      for (const o of reachable(out)) expect(theirs.has(o)).toBe(false)
    })
  }

  it('accepts Buffers and null-prototype objects, readReply with an index or without the field', () => {
    expect(accepted({ ...SAMPLES.forward, commands: [{ ...cmd(1), data: Buffer.from('ab') }] })).toEqual({ type: 'forward', commands: [{ client: 'c1', seq: 1, data: new Uint8Array([97, 98]) }] })
    expect(accepted(Object.assign(Object.create(null) as object, { type: 'accepted', ballot: B, slot: 1 }))).toEqual({ type: 'accepted', ballot: B, slot: 1 })
    expect(accepted({ type: 'readReply', id: 'r', index: 9 })).toEqual({ type: 'readReply', id: 'r', index: 9 })
    expect(accepted({ type: 'readReply', id: 'r' })).toEqual({ type: 'readReply', id: 'r', index: undefined })
  })

  it('ignores unknown extra fields and never copies them', () => {
    const out = accepted({ ...SAMPLES.accepted, evil: { deep: 1 }, __proto__x: 2 })
    expect(Object.keys(out).sort()).toEqual(['ballot', 'slot', 'type'])
  })

  it('accepts the bounds themselves', () => {
    expect(accepted({ type: 'accept', ballot: { round: MAX_ROUND, node: 'n'.repeat(MAX_ID_BYTES) }, slot: MAX_SLOT, value: { id: 'v', commands: [cmd(1, 100)] }, commitIndex: MAX_SLOT }).type).toBe('accept')
    const timed = accepted({ ...SAMPLES.accept, value: { id: 'v', commands: [], time: Number.MAX_SAFE_INTEGER } })
    expect(timed.type === 'accept' ? timed.value.time : undefined).toBe(Number.MAX_SAFE_INTEGER)
    expect(accepted({ type: 'snapshotChunkRequest', root: ROOT, chunk: MAX_CHUNK }).type).toBe('snapshotChunkRequest')
  })
})

describe('validateWireMessage: the messages of issue 7 §2 and their kin', () => {
  it.each<[string, unknown, WireDropReason]>([
    ['catchupReply with entries: 5', { type: 'catchupReply', entries: 5, commitIndex: 9 }, 'shape'],
    ['null', null, 'shape'],
    ['undefined', undefined, 'shape'],
    ['a string', 'accept', 'shape'],
    ['an array', [SAMPLES.accept], 'shape'],
    ['a heartbeat without ballot', { type: 'heartbeat', commitIndex: 0, readSeq: 0 }, 'field'],
    ['a catchupReply entry of null', { type: 'catchupReply', entries: [null], commitIndex: 9 }, 'shape'],
    ['a forward whose commands is not an array', { type: 'forward', commands: { length: 1, 0: cmd(1) } }, 'shape'],
    ['an accept with slot NaN', { ...SAMPLES.accept, slot: Number.NaN }, 'range'],
    ['an accept with slot 6.5', { ...SAMPLES.accept, slot: 6.5 }, 'range'],
    ['an accept without value', { type: 'accept', ballot: B, slot: 5, commitIndex: 4 }, 'field'],
    ['a prepare with round Infinity', { ...SAMPLES.prepare, ballot: { round: Infinity, node: 'n1' } }, 'range'],
    ['a prepare with round MAX_SAFE_INTEGER', { ...SAMPLES.prepare, ballot: { round: Number.MAX_SAFE_INTEGER, node: 'n1' } }, 'range'],
    ['a prepare with round MAX_ROUND + 1', { ...SAMPLES.prepare, ballot: { round: MAX_ROUND + 1, node: 'n1' } }, 'range'],
    ['a negative slot', { ...SAMPLES.accepted, slot: -1 }, 'range'],
    ['slot 0 where slots start at 1', { ...SAMPLES.accepted, slot: 0 }, 'range'],
    ['a slot beyond MAX_SLOT', { ...SAMPLES.accepted, slot: MAX_SLOT + 1 }, 'range'],
    ['a slot as a string', { ...SAMPLES.accepted, slot: '5' }, 'field'],
    ['a bigint slot', { ...SAMPLES.accepted, slot: 5n }, 'field'],
    ['an unknown type', { type: 'takeover', ballot: B }, 'type'],
    ['a type that is not a string', { type: 7 }, 'field'],
    ['a prototype-inherited type', Object.create({ type: 'accepted', ballot: B, slot: 1 }), 'shape'],
    ['a class instance', new (class { type = 'accepted'; ballot = B; slot = 1 })(), 'shape'],
    ['round 0 with a node', { ...SAMPLES.heartbeat, ballot: { round: 0, node: 'n1' } }, 'relation'],
    ['the bottom ballot in an accept', { ...SAMPLES.accept, ballot: bottom }, 'relation'],
    ['a ballot with an empty node', { ...SAMPLES.accepted, ballot: { round: 2, node: '' } }, 'field'],
    ['a ballot with a lone surrogate', { ...SAMPLES.accepted, ballot: { round: 2, node: 'n\ud800' } }, 'field'],
    ['a node id over MAX_ID_BYTES', { ...SAMPLES.accepted, ballot: { round: 2, node: 'é'.repeat(513) } }, 'size'],
    ['an unknown reject reason', { ...SAMPLES.reject, reason: 'because' }, 'relation'],
    ['a transfer flag that is 1', { ...SAMPLES.probe, transfer: 1 }, 'field'],
    ['catchupRequest fromSlot > toSlot', { type: 'catchupRequest', fromSlot: 9, toSlot: 3 }, 'relation'],
    ['catchupRequest from slot 0', { type: 'catchupRequest', fromSlot: 0, toSlot: 3 }, 'range'],
    ['catchupReply with too many entries', { type: 'catchupReply', entries: [1, 2, 3, 4, 5].map(s => [s, { ballot: B, value: val }]), commitIndex: 9 }, 'size'],
    ['catchupReply with a gap', { type: 'catchupReply', entries: [[3, { ballot: B, value: val }], [5, { ballot: B, value: val }]], commitIndex: 9 }, 'relation'],
    ['catchupReply above its commit index', { type: 'catchupReply', entries: [[3, { ballot: B, value: val }]], commitIndex: 2 }, 'relation'],
    ['promise entries out of order', { ...SAMPLES.promise, entries: [[7, { ballot: B, value: val }], [5, { ballot: B, value: val }]] }, 'relation'],
    ['promise entry at its commit index', { ...SAMPLES.promise, entries: [[4, { ballot: B, value: val }]] }, 'relation'],
    ['a value with too many commands', { ...SAMPLES.accept, value: { id: 'v', commands: [cmd(1), cmd(2), cmd(3), cmd(4)] } }, 'size'],
    ['a value over batchBytesMax', { ...SAMPLES.accept, value: { id: 'v', commands: [cmd(1, 60), cmd(2, 60)] } }, 'size'],
    ['a command over batchBytesMax', { type: 'forward', commands: [cmd(1, 101)] }, 'size'],
    ['a command with data as a plain array', { type: 'forward', commands: [{ client: 'c', seq: 1, data: [1, 2] }] }, 'shape'],
    ['a command with a Uint16Array', { type: 'forward', commands: [{ client: 'c', seq: 1, data: new Uint16Array(2) }] }, 'shape'],
    ['a command with a forged Uint8Array', { type: 'forward', commands: [{ client: 'c', seq: 1, data: Object.create(Uint8Array.prototype) }] }, 'shape'],
    ['a command with a negative seq', { type: 'forward', commands: [{ client: 'c', seq: -1, data: new Uint8Array(0) }] }, 'range'],
    ['an empty value id', { ...SAMPLES.accept, value: { id: '', commands: [] } }, 'field'],
    ['a value time that is not a number', { ...SAMPLES.accept, value: { id: 'v', commands: [], time: '5' } }, 'field'],
    ['a negative value time', { ...SAMPLES.accept, value: { id: 'v', commands: [], time: -1 } }, 'range'],
    ['a fractional value time', { ...SAMPLES.accept, value: { id: 'v', commands: [], time: 1.5 } }, 'range'],
    ['a holey array', { type: 'forward', commands: [cmd(1), , cmd(2)] }, 'shape'], // eslint-disable-line no-sparse-arrays
    ['a readReply with index NaN', { type: 'readReply', id: 'r', index: Number.NaN }, 'range'],
    ['a readReply with index null', { type: 'readReply', id: 'r', index: null }, 'field'],
    ['a chunk request with a short root', { type: 'snapshotChunkRequest', root: 'ab', chunk: 0 }, 'size'],
    ['a chunk request with an upper-case root', { type: 'snapshotChunkRequest', root: 'AB'.repeat(32), chunk: 0 }, 'field'],
    ['a chunk request with chunk −1', { type: 'snapshotChunkRequest', root: ROOT, chunk: -1 }, 'range'],
    ['a chunk request with chunk 1e9', { type: 'snapshotChunkRequest', root: ROOT, chunk: 1e9 }, 'range'],
    ['a snapshot offer with a string manifest', { type: 'snapshotOffer', manifest: 'abc' }, 'shape'],
    ['a snapshotDone without index', { type: 'snapshotDone', root: ROOT }, 'field']
  ])('refuses %s', (_name, raw, reason) => {
    expect(refused(raw)).toBe(reason)
  })

  it('refuses getters (they could throw or answer differently twice) without calling them', () => {
    let calls = 0
    const m = { type: 'accepted', ballot: B, get slot () { calls++; return 1 } }
    expect(refused(m)).toBe('shape')
    expect(calls).toBe(0)
  })

  it('refuses a Proxy whose traps throw, without throwing', () => {
    const trap = (): never => { throw new Error('gotcha') }
    const p = new Proxy({}, { getPrototypeOf: trap, getOwnPropertyDescriptor: trap, get: trap, has: trap, ownKeys: trap })
    expect(refused(p)).toBe('exception')
    expect(refused({ ...SAMPLES.accept, value: p })).toBe('exception')
  })

  it('refuses a Uint8Array whose byteLength is overridden to lie, or copies its true bytes', () => {
    const data = new Uint8Array([1, 2, 3])
    Object.defineProperty(data, 'byteLength', { get: () => 0 })
    const out = accepted({ type: 'forward', commands: [{ client: 'c', seq: 1, data }] })
    expect(out).toEqual({ type: 'forward', commands: [{ client: 'c', seq: 1, data: new Uint8Array([1, 2, 3]) }] })
  })

  it('an enormous array is refused by its length before any element is read', () => {
    const huge: unknown[] = []
    huge.length = 2 ** 32 - 1
    expect(refused({ type: 'forward', commands: huge })).toBe('size')
  })
})

describe('validateWireMessage: properties', () => {
  it('never throws, on anything at all', () => {
    fc.assert(fc.property(fc.anything({ withBigInt: true, withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true }), raw => {
      const r = validateWireMessage(raw, limits)
      expect(typeof r.ok).toBe('boolean')
    }), { numRuns: 2000 })
  })

  it('a sample with one field replaced by anything is refused, or accepted as something that validates to itself', () => {
    const samples = Object.values(SAMPLES) as unknown as Array<Record<string, unknown>>
    const wild = fc.oneof(
      fc.anything(),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, -1, 0.5, 2 ** 53, MAX_ROUND + 1, MAX_SLOT + 1, -0, 1e12, '', '\ud800', null, undefined, [], {})
    )
    fc.assert(fc.property(fc.constantFrom(...samples), wild, fc.nat(), (sample, v, k) => {
      const keys = Object.keys(sample)
      const key = keys[k % keys.length] as string
      const r = validateWireMessage({ ...sample, [key]: v }, limits)
      if (r.ok) expect(validateWireMessage(r.message, limits)).toEqual(r)
    }), { numRuns: 3000 })
  })
})

describe('bounds fit what storage can hold', () => {
  it('the largest accepted round plus one, the largest slot and the longest id are storable', () => {
    expect(MAX_ID_BYTES).toBeLessThanOrEqual(CODEC_LIMITS.idBytesMax)
    expect(() => metaEncodedBytes({ promised: { round: MAX_ROUND + 1, node: 'n'.repeat(MAX_ID_BYTES) }, commitIndex: MAX_SLOT })).not.toThrow()
    expect(Number.isSafeInteger(MAX_ROUND + 1) && Number.isSafeInteger(MAX_SLOT + 2 ** 20)).toBe(true)
  })

  it('every value the validator accepts with the default limits is storable as a log entry', () => {
    const d = wireLimitsOf(DEFAULT_PAXOS_CONFIG)
    expect(d.batchCommandsMax).toBeLessThanOrEqual(CODEC_LIMITS.commandsPerValueMax)
    expect(d.batchBytesMax).toBeLessThanOrEqual(CODEC_LIMITS.commandDataBytesMax)
    const m = validateWireMessage({ type: 'accept', ballot: { round: MAX_ROUND, node: '\u{1F600}'.repeat(256) }, slot: MAX_SLOT, commitIndex: 0, value: { id: 'é'.repeat(512), commands: [{ client: '\u0000cfg/x', seq: Number.MAX_SAFE_INTEGER, data: new Uint8Array(8) }] } }, d)
    if (!m.ok || m.message.type !== 'accept') throw new Error('refused')
    const accept = m.message
    expect(() => logEntryEncodedBytes({ ballot: accept.ballot, value: accept.value })).not.toThrow()
  })
})

describe('isValidNodeId', () => {
  it('wants a non-empty well-formed string of at most MAX_ID_BYTES UTF-8 bytes', () => {
    expect(isValidNodeId('n1')).toBe(true)
    expect(isValidNodeId('é'.repeat(512))).toBe(true)
    for (const bad of ['', '\ud800', 'a\udc00b', 'é'.repeat(513), 'x'.repeat(MAX_ID_BYTES + 1), 7, null, undefined, {}]) expect(isValidNodeId(bad)).toBe(false)
  })
})
