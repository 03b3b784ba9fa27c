import { beforeEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { PaxosNode } from '../../../src/paxos/node.js'
import type { RandomSource, Ready } from '../../../src/paxos/node.js'
import type { Envelope, PaxosMessage, PromiseMessage, RejectMessage } from '../../../src/paxos/messages.js'
import type { Ballot, Configuration, DurableState, LogEntry, Slot, Value } from '../../../src/paxos/types.js'
import { emptyDurableState } from '../../../src/paxos/types.js'
import { compareBallots } from '../../../src/paxos/ballot.js'
import { DurableImage } from '../../../src/sim/core-cluster.js'
import { markCount } from '../../../src/util/marks.js'

// One acceptor driven by hand-built messages; every output is read from `ready()`. The node
// under test is "a"; "b" and "c" are the other voters, "l" a learner, "zz" a stranger.

const configuration: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: ['l'] }
/** Election timeouts at the top of the range, so a few ticks never start a campaign. */
const random: RandomSource = { int: (_min, max) => max - 1 }

const ballot = (round: number, node: string): Ballot => ({ round, node })
const value = (id: string): Value => ({ id, commands: [{ client: 'c1', seq: 1, data: new TextEncoder().encode(id) }] })
const entry = (b: Ballot, id: string): LogEntry => ({ ballot: b, value: value(id) })

function makeNode (durable: DurableState = emptyDurableState()): PaxosNode {
  const node = new PaxosNode({ id: 'a', configuration }, durable, random)
  drain(node) // the first Ready only announces the soft state
  expect(node.ready()).toBeUndefined()
  return node
}

/** Takes the next Ready (if any) and acknowledges it. */
function drain (node: PaxosNode): Ready | undefined {
  const rd = node.ready()
  if (rd !== undefined) node.advance(rd)
  return rd
}

function only (rd: Ready | undefined): Envelope {
  expect(rd).toBeDefined()
  expect(rd?.send).toHaveLength(1)
  return rd?.send[0] as Envelope
}

function prepare (b: Ballot, fromSlot = 1, transfer = false): PaxosMessage {
  return { type: 'prepare', ballot: b, fromSlot, transfer }
}

function accept (b: Ballot, slot: Slot, id: string, commitIndex = 0): PaxosMessage {
  return { type: 'accept', ballot: b, slot, value: value(id), commitIndex }
}

/** A node that has promised (2, b), chosen slots 1–2, and accepted slots 3 and 5 above its commit index. */
function nodeWithVotes (): PaxosNode {
  const log = new Map<Slot, LogEntry>([
    [1, entry(ballot(1, 'b'), 'v1')],
    [2, entry(ballot(1, 'b'), 'v2')],
    [3, entry(ballot(2, 'b'), 'v3')],
    [5, entry(ballot(1, 'c'), 'v5')]
  ])
  return makeNode({ promised: ballot(2, 'b'), commitIndex: 2, log })
}

describe('acceptor, Phase 1 (prepare → promise | reject)', () => {
  // Reference: PMMC §3, acceptor: on p1a(λ, b), "if b > ballot_num then ballot_num := b";
  // the reply carries ballot_num, so a lower ballot learns it was preempted.
  it('rejects a prepare below its promise with reason promised-higher, and writes nothing', () => {
    const node = makeNode()
    drain(node)
    node.step('c', prepare(ballot(5, 'c')))
    drain(node)
    for (const stale of [ballot(4, 'b'), ballot(5, 'b')]) {
      const before = markCount('acceptor: prepare with stale ballot rejected')
      node.step('b', prepare(stale))
      const rd = node.ready()
      const env = only(rd)
      expect(env.to).toBe('b')
      expect(env.message).toEqual<RejectMessage>({ type: 'reject', ballot: stale, promised: ballot(5, 'c'), reason: 'promised-higher' })
      expect(rd?.persist).toBeUndefined()
      expect(markCount('acceptor: prepare with stale ballot rejected')).toBe(before + 1)
      if (rd !== undefined) node.advance(rd)
    }
    expect(node.softState().ballot).toEqual(ballot(5, 'c'))
  })

  // Reference: PMMC §3, acceptor: p1b carries "accepted", the acceptor's votes, so the new
  // leader re-proposes the value of the highest ballot. Votes at or below the commit index are
  // chosen and are fetched with catch-up instead.
  it('answers a higher prepare with a promise carrying its votes above the commit index, persisted in the same Ready', () => {
    const node = nodeWithVotes()
    node.step('c', prepare(ballot(4, 'c'), 1))
    const rd = node.ready()
    const env = only(rd)
    expect(env.to).toBe('c')
    expect(env.message).toEqual<PromiseMessage>({
      type: 'promise',
      ballot: ballot(4, 'c'),
      commitIndex: 2,
      entries: [[3, entry(ballot(2, 'b'), 'v3')], [5, entry(ballot(1, 'c'), 'v5')]]
    })
    // The promise leaves only after this Ready's persist is durable (Ready contract, step 1).
    expect(rd?.persist?.promised).toEqual(ballot(4, 'c'))
    expect(rd?.persist?.entries).toEqual([])
    if (rd !== undefined) node.advance(rd)
    expect(node.softState().ballot).toEqual(ballot(4, 'c'))
  })

  it('answers a prepare equal to its promise with a promise, and has nothing new to persist', () => {
    const node = nodeWithVotes()
    node.step('b', prepare(ballot(2, 'b'), 4))
    const rd = node.ready()
    const env = only(rd)
    expect(env.message).toEqual<PromiseMessage>({ type: 'promise', ballot: ballot(2, 'b'), commitIndex: 2, entries: [[5, entry(ballot(1, 'c'), 'v5')]] })
    expect(rd?.persist).toBeUndefined()
  })

  it('ignores a prepare from a learner (only voters may lead)', () => {
    const node = makeNode()
    node.step('l', prepare(ballot(9, 'l')))
    expect(node.ready()).toBeUndefined()
    expect(node.softState().ballot).toEqual(ballot(0, ''))
  })
})

describe('acceptor, Phase 2 (accept → accepted | reject)', () => {
  // Reference: PMMC §3, acceptor: on p2a(λ, ⟨b, s, c⟩), "if b = ballot_num then accepted :=
  // accepted ∪ {⟨b, s, c⟩}"; the reply carries ballot_num either way.
  it('rejects an accept below its promise and records nothing', () => {
    const node = nodeWithVotes()
    node.step('c', prepare(ballot(4, 'c')))
    drain(node)
    const before = markCount('acceptor: accept with stale ballot rejected')
    node.step('b', accept(ballot(2, 'b'), 6, 'stale'))
    const rd = node.ready()
    expect(only(rd).message).toEqual<RejectMessage>({ type: 'reject', ballot: ballot(2, 'b'), promised: ballot(4, 'c'), reason: 'promised-higher' })
    expect(rd?.persist).toBeUndefined()
    expect(markCount('acceptor: accept with stale ballot rejected')).toBe(before + 1)
    if (rd !== undefined) node.advance(rd)
    // The stale vote is not in the log: a later promise does not report it.
    node.step('c', prepare(ballot(4, 'c'), 6))
    expect(only(node.ready()).message).toMatchObject({ type: 'promise', entries: [] })
  })

  it('acknowledges an accept at its promise and persists the vote in the same Ready', () => {
    const node = nodeWithVotes()
    node.step('c', prepare(ballot(4, 'c')))
    drain(node)
    node.step('c', accept(ballot(4, 'c'), 6, 'v6', 2))
    const rd = node.ready()
    expect(rd?.send).toContainEqual({ to: 'c', message: { type: 'accepted', ballot: ballot(4, 'c'), slot: 6 } })
    expect(rd?.persist?.entries).toEqual([[6, entry(ballot(4, 'c'), 'v6')]])
  })

  it('an accept above its promise raises the promise in the same Ready that acknowledges it', () => {
    const node = nodeWithVotes()
    node.step('c', accept(ballot(7, 'c'), 3, 'v3-new', 2))
    const rd = node.ready()
    expect(rd?.send).toContainEqual({ to: 'c', message: { type: 'accepted', ballot: ballot(7, 'c'), slot: 3 } })
    expect(rd?.persist?.promised).toEqual(ballot(7, 'c'))
    expect(rd?.persist?.entries).toEqual([[3, entry(ballot(7, 'c'), 'v3-new')]])
  })

  it('drops an accept whose ballot is not the sender\'s (forged) or that comes from a learner', () => {
    const node = nodeWithVotes()
    const before = markCount('acceptor: accept from a non-voter or forged ballot dropped')
    node.step('b', accept(ballot(9, 'c'), 6, 'forged'))
    node.step('l', accept(ballot(9, 'l'), 6, 'learner'))
    expect(node.ready()).toBeUndefined()
    expect(markCount('acceptor: accept from a non-voter or forged ballot dropped')).toBe(before + 2)
  })
})

describe('acceptor input filtering', () => {
  // A stranger may be a removed member or a member of a configuration this node has not learned
  // yet: it never changes acceptor state or gets a vote, but it is told our commit index (probe)
  // and served catch-up, so it can learn the configuration; a leader message from a stranger
  // that is ahead makes us catch up from it.
  it('never changes state or votes for an unknown sender, but helps it (and itself) catch up', () => {
    const node = nodeWithVotes()
    const messages: PaxosMessage[] = [
      prepare(ballot(9, 'zz')),
      accept(ballot(9, 'zz'), 6, 'x'),
      { type: 'heartbeat', ballot: ballot(9, 'zz'), commitIndex: 5, readSeq: 0 },
      { type: 'probe', ballot: ballot(9, 'zz'), transfer: false },
      { type: 'forward', commands: [] },
      { type: 'readRequest', id: 'r' }
    ]
    const before = markCount('step: unknown sender dropped')
    for (const m of messages) node.step('zz', m)
    const rd = node.ready()
    expect(node.softState().ballot).toEqual(ballot(2, 'b'))
    expect(rd?.persist?.promised).toBeUndefined()
    expect(rd?.persist?.entries ?? []).toEqual([])
    const types = (rd?.send ?? []).map(e => e.message.type)
    expect(types).not.toContain('promise')
    expect(types).not.toContain('accepted')
    expect(types).not.toContain('heartbeatAck')
    const probeReply = rd?.send.find(e => e.message.type === 'probeReply')?.message
    expect(probeReply).toMatchObject({ granted: false })
    expect(types).toContain('catchupRequest')
    expect(markCount('step: unknown sender dropped')).toBe(before + 2)
  })
})

describe('acceptor, leader stickiness', () => {
  let node: PaxosNode
  beforeEach(() => {
    node = makeNode()
    node.step('b', { type: 'heartbeat', ballot: ballot(2, 'b'), commitIndex: 0, readSeq: 0 })
    const rd = drain(node)
    expect(rd?.softState?.leader).toBe('b')
    expect(rd?.persist?.promised).toEqual(ballot(2, 'b'))
  })

  // A node that heard a live leader within electionTicksMin refuses to help depose it (Raft's
  // check-quorum / pre-vote idea), so a node returning from a partition cannot disrupt the group.
  it('refuses a higher prepare with reason leader-alive, and keeps its promise', () => {
    const before = markCount('acceptor: prepare refused, leader alive')
    node.step('c', prepare(ballot(3, 'c')))
    const rd = node.ready()
    expect(only(rd).message).toEqual<RejectMessage>({ type: 'reject', ballot: ballot(3, 'c'), promised: ballot(2, 'b'), reason: 'leader-alive' })
    expect(rd?.persist).toBeUndefined()
    expect(markCount('acceptor: prepare refused, leader alive')).toBe(before + 1)
    if (rd !== undefined) node.advance(rd)
    expect(node.softState().ballot).toEqual(ballot(2, 'b'))
  })

  it('promises a higher prepare marked transfer (the leader asked for it)', () => {
    node.step('c', prepare(ballot(3, 'c'), 1, true))
    const rd = node.ready()
    expect(only(rd).message).toMatchObject({ type: 'promise', ballot: ballot(3, 'c') })
    expect(rd?.persist?.promised).toEqual(ballot(3, 'c'))
  })

  it('promises a higher prepare from the leader itself', () => {
    node.step('b', prepare(ballot(3, 'b')))
    expect(only(node.ready()).message).toMatchObject({ type: 'promise', ballot: ballot(3, 'b') })
  })

  it('promises a higher prepare once the leader has been silent for electionTicksMin ticks', () => {
    for (let i = 0; i < node.config.electionTicksMin - 1; i++) node.tick()
    node.step('c', prepare(ballot(3, 'c')))
    expect(only(drain(node)).message).toMatchObject({ type: 'reject', reason: 'leader-alive' })
    node.tick()
    node.step('c', prepare(ballot(3, 'c')))
    expect(only(node.ready()).message).toMatchObject({ type: 'promise', ballot: ballot(3, 'c') })
  })
})

describe('acceptor durability (property)', () => {
  // Reference: PMMC §3 and DESIGN.md: acceptors persist `promised` and each accepted value
  // before replying. Model the disk as the image of every persist batch so far (including the
  // Ready that carries the reply) and check each reply against it.
  it('every promise and accepted it sends is covered by what is durable when it is sent', () => {
    const senders = ['b', 'c'] as const
    const msgArb = fc.oneof(
      fc.record({ kind: fc.constant('prepare' as const), from: fc.constantFrom(...senders), round: fc.integer({ min: 1, max: 6 }), fromSlot: fc.integer({ min: 1, max: 4 }), transfer: fc.boolean() }),
      fc.record({ kind: fc.constant('accept' as const), from: fc.constantFrom(...senders), round: fc.integer({ min: 1, max: 6 }), slot: fc.integer({ min: 1, max: 6 }), commitIndex: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 20 }) })
    )
    let promisesChecked = 0
    let acceptedChecked = 0
    fc.assert(fc.property(fc.array(msgArb, { minLength: 1, maxLength: 30 }), script => {
      const disk = new DurableImage()
      const node = new PaxosNode({ id: 'a', configuration }, emptyDurableState(), random)
      const flush = (): void => {
        for (let rd = node.ready(); rd !== undefined; rd = node.ready()) {
          if (rd.persist !== undefined) disk.apply(rd.persist)
          for (const env of rd.send) {
            const m = env.message
            if (m.type === 'promise') {
              promisesChecked++
              expect(compareBallots(disk.promised, m.ballot)).toBeGreaterThanOrEqual(0)
              for (const [slot, e] of m.entries) expect(disk.log.get(slot)).toEqual(e)
            } else if (m.type === 'accepted') {
              acceptedChecked++
              expect(compareBallots(disk.promised, m.ballot)).toBeGreaterThanOrEqual(0)
              expect(disk.log.get(m.slot)?.ballot).toEqual(m.ballot)
            }
          }
          node.advance(rd)
        }
      }
      for (const step of script) {
        if (step.kind === 'tick') {
          for (let i = 0; i < step.n; i++) node.tick()
        } else if (step.kind === 'prepare') {
          node.step(step.from, prepare(ballot(step.round, step.from), step.fromSlot, step.transfer))
        } else {
          // One value per slot per ballot, as a real leader proposes.
          node.step(step.from, accept(ballot(step.round, step.from), step.slot, `${step.round}.${step.from}.${step.slot}`, step.commitIndex))
        }
        flush()
      }
    }), { numRuns: 200 })
    expect(promisesChecked).toBeGreaterThan(0)
    expect(acceptedChecked).toBeGreaterThan(0)
  })
})

describe('catch-up replies', () => {
  // A reply must fit one frame of the network transport: 256 full batches would not.
  it('are bounded in bytes as well as entries, and always carry at least one entry', () => {
    const big = (id: string): LogEntry => ({ ballot: ballot(1, 'b'), value: { id, commands: [{ client: 'c1', seq: 1, data: new Uint8Array(300_000) }] } })
    const log = new Map<Slot, LogEntry>()
    for (let s = 1; s <= 40; s++) log.set(s, big(`v${s}`))
    const node = new PaxosNode({ id: 'a', configuration, batchBytesMax: 400_000 }, { promised: ballot(1, 'b'), commitIndex: 40, log }, random)
    drain(node)
    node.step('b', { type: 'catchupRequest', fromSlot: 1, toSlot: 40 })
    const reply = drain(node)?.send.find(e => e.message.type === 'catchupReply')?.message
    if (reply?.type !== 'catchupReply') throw new Error('no reply')
    // 4 batches' worth (1.6 MB) of 300 kB entries: 6 entries, the sixth crossing the budget.
    expect(reply.entries.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6])
    node.step('b', { type: 'catchupRequest', fromSlot: 7, toSlot: 7 })
    const one = drain(node)?.send.find(e => e.message.type === 'catchupReply')?.message
    expect(one?.type === 'catchupReply' && one.entries.length).toBe(1)
  })
})
