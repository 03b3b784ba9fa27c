import { describe, expect, it } from 'vitest'
import { SessionTable } from '../../../src/vpeer/sessions.js'
import type { Outcome } from '../../../src/vpeer/sessions.js'
import type { Command } from '../../../src/paxos/types.js'

const cmd = (client: string, seq: number): Command => ({ client, seq, data: new Uint8Array() })
const ok = (result: string): Outcome<string> => ({ ok: true, result })

describe('SessionTable', () => {
  it('runs a new command, then answers its duplicates with the remembered outcome', () => {
    const t = new SessionTable<string>(4)
    expect(t.lookup(cmd('a', 1))).toBeUndefined()
    t.record(cmd('a', 1), ok('one'))
    expect(t.lookup(cmd('a', 1))).toEqual(ok('one'))
    expect(t.lookup(cmd('a', 1))).toEqual(ok('one'))
    // Another client's seq 1 is another command.
    expect(t.lookup(cmd('b', 1))).toBeUndefined()
    expect(t.size).toBe(1)
  })

  it('remembers failures as well as results', () => {
    const t = new SessionTable<string>(4)
    const failure: Outcome<string> = { ok: false, code: 'ERR_APPLY', message: 'boom' }
    t.record(cmd('a', 1), failure)
    expect(t.lookup(cmd('a', 1))).toEqual(failure)
  })

  it('keeps the last `window` sequence numbers and answers older ones with expired', () => {
    const t = new SessionTable<string>(3)
    for (let seq = 1; seq <= 5; seq++) t.record(cmd('a', seq), ok(`r${seq}`))
    // maxSeq 5, window 3: seqs 3, 4, 5 are remembered; 1 and 2 are expired.
    expect(t.lookup(cmd('a', 1))).toBe('expired')
    expect(t.lookup(cmd('a', 2))).toBe('expired')
    for (const seq of [3, 4, 5]) expect(t.lookup(cmd('a', seq))).toEqual(ok(`r${seq}`))
    expect(t.lookup(cmd('a', 6))).toBeUndefined()
    expect(t.toJSON()).toEqual([['a', 5, [[3, ok('r3')], [4, ok('r4')], [5, ok('r5')]], 0]])
  })

  it('a seq inside the window that never ran is not a duplicate (it must run)', () => {
    const t = new SessionTable<string>(4)
    t.record(cmd('a', 1), ok('r1'))
    t.record(cmd('a', 3), ok('r3'))
    expect(t.lookup(cmd('a', 2))).toBeUndefined()
    t.record(cmd('a', 2), ok('r2'))
    expect(t.lookup(cmd('a', 2))).toEqual(ok('r2'))
    expect(t.lookup(cmd('a', 3))).toEqual(ok('r3'))
  })

  it('evicts per client: one busy client does not expire another\'s commands', () => {
    const t = new SessionTable<string>(2)
    t.record(cmd('quiet', 1), ok('q1'))
    for (let seq = 1; seq <= 10; seq++) t.record(cmd('busy', seq), ok(`b${seq}`))
    expect(t.lookup(cmd('quiet', 1))).toEqual(ok('q1'))
    expect(t.lookup(cmd('busy', 8))).toBe('expired')
    expect(t.lookup(cmd('busy', 9))).toEqual(ok('b9'))
    expect(t.size).toBe(2)
  })

  it('a window of 1 remembers only the latest command', () => {
    const t = new SessionTable<string>(1)
    t.record(cmd('a', 1), ok('r1'))
    t.record(cmd('a', 2), ok('r2'))
    expect(t.lookup(cmd('a', 1))).toBe('expired')
    expect(t.lookup(cmd('a', 2))).toEqual(ok('r2'))
  })

  it('two tables fed the same commands evict identically (the table is replicated state)', () => {
    const a = new SessionTable<string>(3)
    const b = new SessionTable<string>(3)
    const script: Array<[string, number]> = [['x', 1], ['y', 1], ['x', 3], ['x', 2], ['y', 5], ['x', 7], ['y', 2], ['x', 8]]
    for (const [client, seq] of script) {
      for (const t of [a, b]) t.record(cmd(client, seq), ok(`${client}${seq}`))
    }
    expect(a.toJSON()).toEqual(b.toJSON())
    expect(a.lookup(cmd('x', 3))).toBe('expired')
    expect(a.lookup(cmd('x', 8))).toEqual(ok('x8'))
  })
})

describe('SessionTable expiry (by the log\'s proposal times)', () => {
  const TTL = 1000

  it('forgets a session idle for ttlMs, refuses it for another ttlMs, then treats the client as new', () => {
    const t = new SessionTable<string>(4, TTL)
    t.advance(10_000)
    t.record(cmd('a', 1), ok('a1'))
    t.advance(10_999)
    expect(t.lookup(cmd('a', 1))).toEqual(ok('a1'))
    t.advance(11_000) // idle for exactly ttlMs
    expect(t.size).toBe(0)
    expect(t.forgotten).toBe(1)
    // A retry of any of its commands is refused rather than run a second time.
    expect(t.lookup(cmd('a', 1))).toBe('expired')
    expect(t.lookup(cmd('a', 2))).toBe('expired')
    t.advance(11_999)
    expect(t.lookup(cmd('a', 1))).toBe('expired')
    t.advance(12_000)
    expect(t.forgotten).toBe(0)
    expect(t.lookup(cmd('a', 1))).toBeUndefined()
  })

  it('a command keeps its session alive; only idle sessions go, oldest activity first', () => {
    const t = new SessionTable<string>(4, TTL)
    t.advance(1)
    t.record(cmd('a', 1), ok('a1'))
    t.record(cmd('b', 1), ok('b1'))
    t.advance(800)
    t.record(cmd('a', 2), ok('a2')) // a moves behind b
    t.advance(1001)
    expect(t.lookup(cmd('b', 1))).toBe('expired')
    expect(t.lookup(cmd('a', 1))).toEqual(ok('a1'))
    expect(t.toJSON().map(e => e[0])).toEqual(['a'])
    t.advance(1800)
    expect(t.size).toBe(0)
  })

  it('the clock never goes back: a slot proposed by a leader with a slower clock expires nothing and revives nothing', () => {
    const t = new SessionTable<string>(4, TTL)
    t.advance(5000)
    t.record(cmd('a', 1), ok('a1'))
    t.advance(3000)
    expect(t.nowMs).toBe(5000)
    t.record(cmd('b', 1), ok('b1')) // active "at 5000", not at 3000
    t.advance(5999)
    expect(t.size).toBe(2)
    t.advance(6000)
    expect(t.size).toBe(0)
  })

  it('a session restored from a version-1 snapshot (no activity time) counts as active at the next advance', () => {
    const t = new SessionTable<string>(4, TTL)
    t.restore([['old', 3, [[3, ok('o3')]]]])
    t.advance(1_700_000_000_000)
    expect(t.lookup(cmd('old', 3))).toEqual(ok('o3'))
    t.advance(1_700_000_000_999)
    expect(t.size).toBe(1)
    t.advance(1_700_000_001_000)
    expect(t.size).toBe(0)
  })

  it('round-trips through toJSON/expiryState/restore, tombstones included, and evicts identically afterwards', () => {
    const a = new SessionTable<string>(4, TTL)
    for (let i = 0; i < 50; i++) {
      a.advance(i * 100)
      a.record(cmd(`c${i % 17}`, Math.floor(i / 17) + 1), ok(`r${i}`))
    }
    const b = new SessionTable<string>(4, TTL)
    b.restore(a.toJSON(), a.expiryState())
    for (const t of [a, b]) t.advance(6000)
    expect(b.toJSON()).toEqual(a.toJSON())
    expect(b.expiryState()).toEqual(a.expiryState())
    expect(a.forgotten).toBeGreaterThan(0)
  })

  it('memory stays bounded with many short-lived clients', () => {
    const t = new SessionTable<string>(16, 60_000)
    // 100,000 clients, one command each, one every 10 ms: 1,000 s of log time.
    for (let i = 0; i < 100_000; i++) {
      t.advance(i * 10)
      t.record(cmd(`client-${i}`, 1), ok('done'))
    }
    // At most ttl / 10 ms sessions remembered, and as many tombstones.
    expect(t.size).toBe(6000)
    expect(t.forgotten).toBe(6000)
  })
})
