import { describe, expect, it } from 'vitest'
import { CorruptSnapshotError } from '../../../src/migration/errors.js'
import { ApplyContextClosedError, InvalidArgumentError, OutboxFullError } from '../../../src/vpeer/errors.js'
import {
  DEFAULT_OUTBOX_LIMITS, OUTBOX_CEILINGS, Outbox, applyOutboxAck, decodeOutboxState, isGroupName, outboxAckCommand, outboxLimits, outputClient, outputSender
} from '../../../src/vpeer/outbox.js'
import type { OutboxState } from '../../../src/vpeer/outbox.js'
import { decodeRuntimeBlob, encodeRuntimeBlob } from '../../../src/vpeer/snapshots.js'
import { SessionTable } from '../../../src/vpeer/sessions.js'

const enc = new TextEncoder()
const bytes = (s: string): Uint8Array => enc.encode(s)

function emit (outbox: Outbox, slot: number, ...sends: Array<[string, string]>): void {
  const stage = outbox.stage()
  for (const [target, data] of sends) stage.send(target, bytes(data))
  stage.commit(slot)
}

describe('Outbox', () => {
  it('numbers outputs per target from 1, in emission order, and keeps them until acknowledged', () => {
    const outbox = new Outbox()
    emit(outbox, 5, ['b', 'x1'], ['c', 'y1'], ['b', 'x2'])
    emit(outbox, 6, ['b', 'x3'])
    expect(outbox.pendingAfter('b', 0, 10).map(e => [e.seq, e.slot, new TextDecoder().decode(e.data)])).toEqual([[1, 5, 'x1'], [2, 5, 'x2'], [3, 6, 'x3']])
    expect(outbox.pendingAfter('b', 1, 1).map(e => e.seq)).toEqual([2])
    expect(outbox.pendingTargets()).toEqual(['b', 'c'])
    expect(outbox.status()).toEqual([
      { target: 'b', nextSeq: 4, acked: 0, pending: 3, pendingBytes: 6 },
      { target: 'c', nextSeq: 2, acked: 0, pending: 1, pendingBytes: 2 }
    ])
    expect(outbox.pendingOutputs).toBe(4)
  })

  it('acknowledgements are a monotonic max: repeated and older ones change nothing; never-issued ones are refused', () => {
    const outbox = new Outbox()
    emit(outbox, 1, ['b', '1'], ['b', '2'], ['b', '3'])
    expect(outbox.ack('b', 2)).toEqual({ ok: true, result: { target: 'b', acked: 2, changed: true } })
    expect(outbox.ack('b', 2)).toEqual({ ok: true, result: { target: 'b', acked: 2, changed: false } })
    expect(outbox.ack('b', 1)).toEqual({ ok: true, result: { target: 'b', acked: 2, changed: false } })
    expect(outbox.pendingAfter('b', 0, 10).map(e => e.seq)).toEqual([3])
    expect(outbox.ack('b', 4)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(outbox.ack('nobody', 1)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(outbox.ack('b', 3)).toMatchObject({ ok: true })
    expect(outbox.pendingTargets()).toEqual([])
    // The record stays: sequence numbers never restart (the receiver deduplicates by them).
    emit(outbox, 2, ['b', '4'])
    expect(outbox.pendingAfter('b', 0, 10).map(e => e.seq)).toEqual([4])
    expect(outbox.pendingBytes).toBe(1)
  })

  it('acknowledgement commands: client \\u0000out/<target>, seq = through, no body', () => {
    const outbox = new Outbox()
    emit(outbox, 1, ['b', '1'], ['b', '2'])
    const c = outboxAckCommand('b', 2)
    expect(c.client).toBe('\u0000out/b')
    expect(applyOutboxAck(outbox, c)).toMatchObject({ ok: true, result: { acked: 2 } })
    expect(applyOutboxAck(outbox, { ...c, data: bytes('x') })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(applyOutboxAck(outbox, { ...c, client: '\u0000out/b/c' })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
  })

  it('refuses sends beyond its limits with OutboxFullError, counting the outputs staged earlier in the same apply', () => {
    const outbox = new Outbox(outboxLimits({ maxPendingPerTarget: 2, maxPendingBytes: 10, maxTargets: 2, maxMessageBytes: 4 }))
    const stage = outbox.stage()
    stage.send('b', bytes('1'))
    stage.send('b', bytes('2'))
    expect(() => { stage.send('b', bytes('3')) }).toThrow(OutboxFullError)
    stage.send('c', bytes('1234'))
    expect(() => { stage.send('d', bytes('1')) }).toThrow(OutboxFullError) // a third target
    expect(() => { stage.send('c', bytes('12345')) }).toThrow(InvalidArgumentError) // over maxMessageBytes
    stage.send('c', bytes('12'))
    expect(() => { stage.send('c', bytes('1')) }).toThrow(OutboxFullError) // per target again
    stage.commit(1)
    expect(outbox.pendingBytes).toBe(8)
    const next = outbox.stage()
    const full = (() => { try { next.send('b', bytes('x')) } catch (e) { return e } })() as OutboxFullError
    expect(full.code).toBe('ERR_OUTBOX_FULL')
    expect(() => { next.send('c', bytes('123')) }).toThrow(OutboxFullError) // 8 + 3 > 10 bytes
    expect(outbox.ack('b', 1)).toMatchObject({ ok: true })
    next.send('b', bytes('x'))
    next.commit(2)
    expect(outbox.status().map(t => [t.target, t.pending])).toEqual([['b', 2], ['c', 2]])
  })

  it('validates group names and messages; a closed stage (apply returned) refuses; a dropped stage leaves nothing', () => {
    const outbox = new Outbox()
    const stage = outbox.stage()
    for (const bad of ['', 'a/b', 'a b', '\u0000x', 'x'.repeat(257)]) expect(() => { stage.send(bad, bytes('1')) }).toThrow(InvalidArgumentError)
    expect(() => { stage.send('b', 'text' as unknown as Uint8Array) }).toThrow(InvalidArgumentError)
    stage.send('b', bytes('kept?'))
    stage.close()
    expect(() => { stage.send('b', bytes('late')) }).toThrow(ApplyContextClosedError)
    expect(outbox.status()).toEqual([])
    expect(isGroupName('bafyreib3f5xkpzmxnzzbh4hq3crt4kvpc6vlm5zzwm7cz4xw2gljswq6e4')).toBe(true)
    expect(outputSender(outputClient('g1'))).toBe('g1')
    expect(outputSender('vp/g1')).toBeUndefined()
    expect(() => outboxLimits({ maxPendingBytes: OUTBOX_CEILINGS.maxPendingBytes + 1 })).toThrow(InvalidArgumentError)
    expect(() => outboxLimits({ maxTargets: 0 })).toThrow(InvalidArgumentError)
    expect(outboxLimits()).toEqual(DEFAULT_OUTBOX_LIMITS)
  })

  it('copies the message: the state machine may reuse its buffer', () => {
    const outbox = new Outbox()
    const buf = bytes('abc')
    emit(outbox, 1)
    const stage = outbox.stage()
    stage.send('b', buf)
    buf[0] = 0x7a
    stage.commit(1)
    expect(new TextDecoder().decode(outbox.pendingAfter('b', 0, 1)[0]?.data)).toBe('abc')
  })

  it('round-trips through its snapshot form and refuses damaged forms', () => {
    const outbox = new Outbox()
    emit(outbox, 3, ['b', '1'], ['b', '2'], ['a', '\u00ff\u0000'])
    outbox.ack('b', 1)
    const state = JSON.parse(JSON.stringify(outbox.toJSON())) as OutboxState
    expect(state.map(t => t[0])).toEqual(['a', 'b'])
    const copy = new Outbox()
    copy.restore(decodeOutboxState(state))
    expect(copy.toJSON()).toEqual(outbox.toJSON())
    expect(copy.status()).toEqual(outbox.status())
    copy.restore(undefined)
    expect(copy.status()).toEqual([])
    const damaged: unknown[] = [
      'x', [['b', 3, 1]], [['b', 0, 0, []]], [['b', 3, 3, []]],
      [['b', 3, 1, [[2, 3, 'Mg==']]], ['a', 2, 0, [[1, 3, 'MQ==']]]], // out of order
      [['b', 3, 1, [[3, 3, 'Mg==']]]], // seq gap
      [['b', 3, 1, []]], // entries missing
      [['b', 3, 1, [[2, 3, 'M===']]]], // bad base64
      [['b', 3, 1, [[2, 3, 'Mh==']]]], // non-canonical base64
      [['a/b', 2, 1, []]]
    ]
    for (const d of damaged) expect(() => decodeOutboxState(d), JSON.stringify(d)).toThrow(CorruptSnapshotError)
  })
})

describe('runtime blob version 4 (the outbox)', () => {
  const configs = [{ fromSlot: 1, configuration: { epoch: 1, voters: ['a', 'b', 'c'], learners: [] } }]

  it('carries the outbox; older blobs decode with an empty one; a v4 blob without the field is damaged', () => {
    const outbox = new Outbox()
    emit(outbox, 2, ['b', 'hello'])
    const blob = decodeRuntimeBlob(encodeRuntimeBlob([], configs, undefined, undefined, undefined, outbox.toJSON()))
    expect(blob.outbox).toEqual(outbox.toJSON())
    expect(decodeRuntimeBlob(encodeRuntimeBlob([], configs)).outbox).toBeUndefined()
    const v3 = { v: 3, sessions: [['c1', 3, [[3, { ok: true, result: 7 }]], 1500]], configs, sessionClock: 2000, tombstones: [], access: [['root', true]] }
    const old = decodeRuntimeBlob(enc.encode(JSON.stringify(v3)))
    expect(old.outbox).toBeUndefined()
    expect(old.access).toEqual([['root', true]])
    expect(old.sessions).toEqual(v3.sessions)
    const restored = new Outbox()
    restored.restore(old.outbox)
    expect(restored.status()).toEqual([])
    // An outbox in a v3 blob is not read (v3 never had one).
    expect(decodeRuntimeBlob(enc.encode(JSON.stringify({ ...v3, outbox: 'x' }))).outbox).toBeUndefined()
    const v4 = { ...v3, v: 4 }
    expect(() => decodeRuntimeBlob(enc.encode(JSON.stringify(v4)))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(enc.encode(JSON.stringify({ ...v4, outbox: [['b', 1, 1, []]] })))).toThrow(CorruptSnapshotError)
    expect(decodeRuntimeBlob(enc.encode(JSON.stringify({ ...v4, outbox: [] }))).outbox).toBeUndefined()
  })
})

describe('SessionTable: kept sessions (other VPs) never expire', () => {
  const cmd = (client: string, seq: number) => ({ client, seq, data: new Uint8Array() })

  it('a sender session outlives any idle time and still answers a redelivery from its window', () => {
    const table = new SessionTable<number>(4, 1000, c => c.startsWith('\u0000vp/'))
    table.advance(10)
    table.record(cmd('\u0000vp/a', 1), { ok: true, result: 1 })
    table.record(cmd('\u0000vp/a', 2), { ok: true, result: 2 })
    table.record(cmd('client', 1), { ok: true, result: 9 })
    table.advance(10 + 5000)
    expect(table.lookup(cmd('client', 2))).toBe('expired')
    expect(table.lookup(cmd('\u0000vp/a', 2))).toEqual({ ok: true, result: 2 })
    expect(table.lookup(cmd('\u0000vp/a', 3))).toBeUndefined()
    for (let s = 3; s <= 8; s++) table.record(cmd('\u0000vp/a', s), { ok: true, result: s })
    // The window: older seqs are answered 'expired' (never run again).
    expect(table.lookup(cmd('\u0000vp/a', 4))).toBe('expired')
    expect(table.lookup(cmd('\u0000vp/a', 5))).toEqual({ ok: true, result: 5 })
    // It travels with the table and lands in the kept part again.
    const copy = new SessionTable<number>(4, 1000, c => c.startsWith('\u0000vp/'))
    copy.restore(table.toJSON(), table.expiryState())
    copy.advance(10 + 50_000)
    expect(copy.lookup(cmd('\u0000vp/a', 8))).toEqual({ ok: true, result: 8 })
    expect(copy.toJSON()).toEqual(table.toJSON().filter(e => e[0] !== 'client'))
  })
})
