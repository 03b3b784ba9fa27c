import { describe, expect, it } from 'vitest'
import type { ApplyContext, StateMachine } from '../../src/contracts/index.js'
import type { NodeId } from '../../src/paxos/index.js'
import { Prng } from '../../src/sim/prng.js'
import { flushMicrotasks, Scheduler } from '../../src/sim/scheduler.js'
import { SimClock } from '../../src/sim/sim-clock.js'
import { SimNetwork } from '../../src/sim/sim-network.js'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import { OutboxFullError, StoppedError } from '../../src/vpeer/errors.js'
import type { DeliveredOutput, DeliverFn } from '../../src/vpeer/outbox-delivery.js'
import type { OutboxLimits } from '../../src/vpeer/outbox.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { VirtualPeer } from '../../src/vpeer/virtual-peer.js'

// VP-to-VP messages end to end in the simulator: two groups of three members in one process
// (virtual time, seeded), group A's state machine emits outputs to group B with ctx.send, A's
// leader delivers them by calling a B member's receiveOutputs. B's state machine counts every
// application per output, so a duplicate or a loss shows in its state.

const enc = new TextEncoder()

/** A's commands: emit `count` outputs to `to`, payload keys `${tag}.${i}`. */
interface EmitCommand { readonly tag: string, readonly count: number, readonly to: string, readonly catchFull?: boolean }
/** B's commands (what A's outputs decode to with B's JSON codec). */
interface CountCommand { readonly key: string }

class Emitter implements StateMachine<EmitCommand, number, 'state', { emitted: number, refused: number }> {
  emitted = 0
  refused = 0
  apply (cmd: EmitCommand, ctx: ApplyContext): number {
    for (let i = 0; i < cmd.count; i++) {
      try {
        ctx.send(cmd.to, enc.encode(JSON.stringify({ key: `${cmd.tag}.${i}` })))
        this.emitted++
      } catch (error) {
        if (cmd.catchFull === true && error instanceof OutboxFullError) { this.refused++; continue }
        throw error
      }
    }
    return this.emitted
  }

  query (): { emitted: number, refused: number } { return { emitted: this.emitted, refused: this.refused } }
  snapshot (): Uint8Array { return enc.encode(JSON.stringify([this.emitted, this.refused])) }
  restore (bytes: Uint8Array): void { [this.emitted, this.refused] = JSON.parse(new TextDecoder().decode(bytes)) as [number, number] }
}

class Counter implements StateMachine<CountCommand, number, 'state', Record<string, number>> {
  counts: Record<string, number> = {}
  /** (sender, seq) in the order applied. */
  order: Array<[string, number]> = []
  apply (cmd: CountCommand, ctx: ApplyContext): number {
    this.counts[cmd.key] = (this.counts[cmd.key] ?? 0) + 1
    this.order.push([ctx.fromGroup ?? '?', ctx.seq])
    return this.counts[cmd.key] ?? 0
  }

  query (): Record<string, number> { return this.counts }
  snapshot (): Uint8Array { return enc.encode(JSON.stringify([this.counts, this.order])) }
  restore (bytes: Uint8Array): void { [this.counts, this.order] = JSON.parse(new TextDecoder().decode(bytes)) as [Record<string, number>, Array<[string, number]>] }
}

type AnyPeer = VirtualPeer<any, number, 'state', unknown>

interface Member {
  readonly id: NodeId
  readonly storage: MemoryStorage
  readonly clock: SimClock
  peer: AnyPeer | undefined
  sm: Emitter | Counter | undefined
  incarnation: number
}

/** A hook a test sets to act inside the deliverer of A's member `id` (crash someone, delay). */
type DeliverHook = (id: NodeId, target: string, outputs: readonly DeliveredOutput[], phase: 'before' | 'sent' | 'after') => Promise<void> | void

interface GroupOptions {
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
  readonly outbox?: Partial<OutboxLimits>
  readonly deliver?: boolean
  readonly sessionTtlMs?: number
}

class World {
  readonly scheduler = new Scheduler()
  readonly prng: Prng
  readonly network: SimNetwork<WireMessage>
  readonly groups = new Map<string, Group>()
  hook: DeliverHook | undefined
  /** Every (target, seq) handed to a deliverer, with how many times. */
  readonly handed = new Map<string, number>()
  /** receiveOutputs calls that rejected. */
  receiveErrors = 0

  constructor (seed: number) {
    this.prng = new Prng(seed)
    this.network = new SimNetwork<WireMessage>(this.scheduler, this.prng.fork('network'))
  }

  group (name: string): Group {
    const g = this.groups.get(name)
    if (g === undefined) throw new Error(`no group ${name}`)
    return g
  }

  async runFor (ms: number): Promise<void> { await this.scheduler.runForAsync(ms) }

  async until (what: string, cond: () => boolean, limitMs = 60_000): Promise<void> {
    const end = this.scheduler.now() + limitMs
    while (!cond()) {
      if (this.scheduler.now() >= end) throw new Error(`not reached within ${limitMs} ms: ${what}`)
      await this.runFor(10)
    }
  }

  async settle<T> (p: Promise<T>, limitMs = 60_000): Promise<T> {
    let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
    p.then(value => { outcome = { ok: true, value } }, (error: unknown) => { outcome = { ok: false, error } })
    await flushMicrotasks()
    await this.until('the promise settled', () => outcome !== undefined, limitMs)
    if (outcome?.ok === true) return outcome.value
    throw (outcome as { error: unknown }).error
  }
}

class Group {
  readonly members = new Map<NodeId, Member>()
  constructor (readonly world: World, readonly name: string, readonly ids: readonly NodeId[], readonly kind: 'emitter' | 'counter', readonly options: GroupOptions = {}) {
    for (const id of ids) this.members.set(id, { id, storage: new MemoryStorage(), clock: new SimClock(world.scheduler), peer: undefined, sm: undefined, incarnation: 0 })
    world.groups.set(name, this)
  }

  member (id: NodeId): Member {
    const m = this.members.get(id)
    if (m === undefined) throw new Error(`no member ${id}`)
    return m
  }

  async boot (id: NodeId): Promise<AnyPeer> {
    const m = this.member(id)
    m.incarnation++
    if (m.incarnation > 1) this.world.network.reconnect(id)
    const sm = this.kind === 'emitter' ? new Emitter() : new Counter()
    const peer = await VirtualPeer.create<any, number, 'state', unknown>({
      id,
      configuration: { epoch: 0, voters: [...this.ids], learners: [] },
      transport: this.world.network.endpoint(id),
      storage: m.storage,
      clock: m.clock,
      stateMachine: sm as StateMachine<any, number, 'state', unknown>,
      random: this.world.prng.fork(`node:${id}:${m.incarnation}`),
      clientId: `${id}/${m.incarnation}`,
      group: this.name,
      ...(this.options.deliver === false ? {} : { deliver: this.deliverer(id) }),
      outboxDelivery: { maxBatch: 4, retryMinMs: 50, retryMaxMs: 400, callTimeoutMs: 1000 },
      snapshotEverySlots: this.options.snapshotEverySlots ?? 0,
      logRetentionSlots: this.options.logRetentionSlots ?? 1000,
      ...(this.options.outbox !== undefined ? { outbox: this.options.outbox } : {}),
      ...(this.options.sessionTtlMs !== undefined ? { sessionTtlMs: this.options.sessionTtlMs } : {})
    })
    m.peer = peer
    m.sm = sm
    peer.start()
    return peer
  }

  async bootAll (): Promise<void> {
    for (const id of this.ids) await this.boot(id)
  }

  /** Member `id`'s deliver: after a little network time, a running member of the target (its leader if known) takes the outputs. */
  private deliverer (id: NodeId): DeliverFn {
    const world = this.world
    const clock = this.member(id).clock
    const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => { clock.after(ms, resolve) }) }
    return async (target, outputs, sender, signal) => {
      for (const o of outputs) world.handed.set(`${target}#${o.seq}`, (world.handed.get(`${target}#${o.seq}`) ?? 0) + 1)
      await world.hook?.(id, target, outputs, 'before')
      await sleep(3)
      if (signal.aborted) throw new Error('aborted in transit')
      const receiver = world.group(target).entry()
      if (receiver === undefined) throw new Error(`no member of ${target} reachable`)
      const call = receiver.receiveOutputs(sender.group, outputs, { signal })
      await world.hook?.(id, target, outputs, 'sent')
      const through = await call.catch((error: unknown) => { world.receiveErrors++; throw error })
      await sleep(3)
      await world.hook?.(id, target, outputs, 'after')
      return through
    }
  }

  /** The running leader, or any running member. */
  entry (): AnyPeer | undefined {
    const running = [...this.members.values()].map(m => m.peer).filter((p): p is AnyPeer => p?.running === true)
    return running.find(p => p.status().role === 'leader') ?? running[0]
  }

  peer (id: NodeId): AnyPeer {
    const p = this.member(id).peer
    if (p === undefined) throw new Error(`${id} has no peer`)
    return p
  }

  leader (): NodeId | undefined {
    let best: { id: NodeId, round: number } | undefined
    for (const m of this.members.values()) {
      const p = m.peer
      if (p === undefined || !p.running) continue
      const s = p.status()
      if (s.role === 'leader' && (best === undefined || s.ballot.round > best.round)) best = { id: m.id, round: s.ballot.round }
    }
    return best?.id
  }

  async electLeader (): Promise<NodeId> {
    await this.world.until(`a leader of ${this.name}`, () => {
      const l = this.leader()
      return l !== undefined && [...this.members.values()].every(m => m.peer?.running !== true || m.peer.status().leader === l)
    })
    return this.leader() as NodeId
  }

  crash (id: NodeId): void {
    const m = this.member(id)
    m.peer?.halt()
    m.clock.stopAll()
    this.world.network.disconnect(id)
  }

  running (): Member[] {
    return [...this.members.values()].filter(m => m.peer?.running === true)
  }

  counter (id: NodeId): Counter {
    return this.member(id).sm as Counter
  }
}

/** Every payload key tag.0 … tag.(n−1) applied exactly once on every running member of B, in seq order. */
function expectExactlyOnce (b: Group, expected: string[]): void {
  for (const m of b.running()) {
    const c = m.sm as Counter
    expect(Object.keys(c.counts).sort(), `${m.id} keys`).toEqual([...expected].sort())
    expect(Object.values(c.counts).every(n => n === 1), `${m.id} counts ${JSON.stringify(c.counts)}`).toBe(true)
    expect(c.order.map(([, seq]) => seq), `${m.id} order`).toEqual(expected.map((_, i) => i + 1))
    expect(c.order.every(([from]) => from === 'A')).toBe(true)
  }
}

function keys (tag: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${tag}.${i}`)
}

async function twoGroups (seed: number, a: GroupOptions = {}, b: GroupOptions = {}): Promise<{ world: World, A: Group, B: Group }> {
  const world = new World(seed)
  const A = new Group(world, 'A', ['a1', 'a2', 'a3'], 'emitter', a)
  const B = new Group(world, 'B', ['b1', 'b2', 'b3'], 'counter', { deliver: false, ...b })
  await A.bootAll()
  await B.bootAll()
  await A.electLeader()
  await B.electLeader()
  return { world, A, B }
}

function acked (g: Group, id: NodeId, target = 'B'): number {
  return g.peer(id).outboxStatus().find(t => t.target === target)?.acked ?? 0
}

describe('VP-to-VP messages (outbox, delivery, exactly once at the receiver)', () => {
  it('delivers every output once, in order, and the acknowledgements empty the outbox on every member of A', async () => {
    const { world, A, B } = await twoGroups(11)
    const leader = A.leader() as NodeId
    for (let i = 0; i < 5; i++) await world.settle(A.peer(leader).submit({ tag: `t${i}`, count: 3, to: 'B' }))
    const expected = Array.from({ length: 5 }, (_, i) => keys(`t${i}`, 3)).flat()
    await world.until('A acknowledged everything on every member', () => A.ids.every(id => acked(A, id) === 15 && A.peer(id).outboxStatus()[0]?.pending === 0))
    await world.runFor(200)
    expectExactlyOnce(B, expected)
    expect(A.peer('a1').outboxStatus()).toEqual([{ target: 'B', nextSeq: 16, acked: 15, pending: 0, pendingBytes: 0 }])
    // The receiver's state machine sees who sent it.
    expect(B.counter('b1').order[0]).toEqual(['A', 1])
  })

  it("A's leader crashes after B applied a batch but before its acknowledgement committed: the new leader redelivers, B applies each once", async () => {
    const { world, A, B } = await twoGroups(12)
    const first = A.leader() as NodeId
    let crashed = false
    world.hook = (id, _target, outputs, phase) => {
      if (phase === 'after' && !crashed && id === first && (outputs[0]?.seq ?? 0) >= 5) {
        crashed = true
        A.crash(id)
        throw new StoppedError()
      }
    }
    const submitted = A.peer(first).submit({ tag: 'x', count: 12, to: 'B' })
    await world.until('the first leader crashed mid-delivery', () => crashed)
    await expect(submitted).resolves.toBe(12)
    const second = await A.electLeader()
    expect(second).not.toBe(first)
    await world.until('the new leader acknowledged everything', () => acked(A, second) === 12)
    await world.runFor(300)
    expectExactlyOnce(B, keys('x', 12))
    // The crash left a delivered batch unacknowledged: some seqs were handed over twice, and B deduplicated them.
    expect([...world.handed.values()].some(n => n > 1)).toBe(true)
  })

  it("A's leader crashes while outputs are in transit (before B got them): none is lost", async () => {
    const { world, A, B } = await twoGroups(13)
    const first = A.leader() as NodeId
    let crashed = false
    world.hook = async (id, _target, outputs, phase) => {
      if (phase === 'before' && !crashed && id === first && (outputs[0]?.seq ?? 0) >= 5) {
        // A slow network: time for anything already submitted (an early acknowledgement) to commit, then the crash.
        await new Promise<void>(resolve => { A.member(id).clock.after(100, resolve) })
        crashed = true
        A.crash(id)
        throw new StoppedError()
      }
    }
    void A.peer(first).submit({ tag: 'y', count: 12, to: 'B' }).catch(() => {})
    await world.until('the first leader crashed in transit', () => crashed)
    const second = await A.electLeader()
    await world.until('the new leader acknowledged everything', () => acked(A, second) === 12)
    await world.runFor(300)
    expectExactlyOnce(B, keys('y', 12))
  })

  it("B's leader crashes mid-delivery: A retries (another member of B), still exactly once", async () => {
    const { world, A, B } = await twoGroups(14)
    const aLeader = A.leader() as NodeId
    const bLeader = B.leader() as NodeId
    let crashed = false
    world.hook = (_id, _target, outputs, phase) => {
      if (phase === 'sent' && !crashed && (outputs[0]?.seq ?? 0) >= 9) {
        crashed = true
        // B's leader goes down right after it was handed these outputs (some may have committed).
        B.crash(bLeader)
      }
    }
    for (let i = 0; i < 4; i++) void A.peer(aLeader).submit({ tag: `z${i}`, count: 4, to: 'B' })
    await world.until('B lost its leader', () => crashed)
    await B.electLeader()
    await world.until('A acknowledged everything', () => acked(A, aLeader) === 16)
    await B.boot(bLeader)
    await world.until('the restarted member caught up', () => B.counter(bLeader).order.length >= 16)
    await world.runFor(300)
    expectExactlyOnce(B, Array.from({ length: 4 }, (_, i) => keys(`z${i}`, 4)).flat())
    expect(A.peer(aLeader).status().role).toBe('leader')
    // The crash failed a delivery, which A retried.
    expect(world.receiveErrors).toBeGreaterThan(0)
  })

  it('the outbox survives a snapshot and a restart of all of A, and reaches a member that lagged through a snapshot transfer', async () => {
    // No deliverer reachable at first: B is not started, so outputs pile up in A's outbox.
    const world = new World(15)
    const A = new Group(world, 'A', ['a1', 'a2', 'a3'], 'emitter', { snapshotEverySlots: 10, logRetentionSlots: 2 })
    const B = new Group(world, 'B', ['b1', 'b2', 'b3'], 'counter', { deliver: false })
    await A.bootAll()
    const leader = await A.electLeader()
    const lagging = A.ids.find(id => id !== leader) as NodeId
    A.crash(lagging)
    for (let i = 0; i < 30; i++) await world.settle(A.peer(leader).submit({ tag: `s${i}`, count: 1, to: 'B' }))
    await world.runFor(500)
    const before = A.peer(leader).outboxStatus()
    expect(before).toEqual([{ target: 'B', nextSeq: 31, acked: 0, pending: 30, pendingBytes: before[0]?.pendingBytes }])
    expect(A.peer(leader).status().snapshotIndex).toBeGreaterThan(20)
    // The lagging member's log is compacted away on the others: it gets a snapshot.
    let transferred = false
    const lag = await A.boot(lagging)
    lag.addEventListener('snapshot', () => { transferred = true })
    await world.until('a snapshot transfer to the lagging member', () => transferred && lag.applied >= A.peer(leader).applied)
    expect(lag.outboxStatus()).toEqual(before)
    // Now all of A restarts from storage (snapshot + the log above it).
    for (const id of A.ids) A.crash(id)
    for (const id of A.ids) await A.boot(id)
    await A.electLeader()
    for (const id of A.ids) expect(A.peer(id).outboxStatus(), id).toEqual(before)
    // B comes up: the outputs from before the snapshot are delivered, once each.
    await B.bootAll()
    await B.electLeader()
    const newLeader = A.leader() as NodeId
    await world.until('A acknowledged everything', () => acked(A, newLeader) === 30)
    await world.runFor(300)
    expectExactlyOnce(B, Array.from({ length: 30 }, (_, i) => `s${i}.0`))
  })

  it('a full outbox refuses outputs alike on every replica: OutboxFullError inside apply, ERR_OUTBOX_FULL to the submitter', async () => {
    const world = new World(16)
    const A = new Group(world, 'A', ['a1', 'a2', 'a3'], 'emitter', { deliver: false, outbox: { maxPendingPerTarget: 5 } })
    await A.bootAll()
    const leader = await A.electLeader()
    expect(await world.settle(A.peer(leader).submit({ tag: 'f', count: 4, to: 'B' }))).toBe(4)
    // The state machine catches the refusal and goes on: 1 sent, 2 refused.
    expect(await world.settle(A.peer(leader).submit({ tag: 'g', count: 3, to: 'B', catchFull: true }))).toBe(5)
    // It lets the refusal through: the command fails with the refusal's code.
    const error = await world.settle(A.peer(leader).submit({ tag: 'h', count: 1, to: 'B' })).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(OutboxFullError)
    expect((error as OutboxFullError).code).toBe('ERR_OUTBOX_FULL')
    await world.runFor(300)
    for (const id of A.ids) {
      expect(A.peer(id).outboxStatus().map(t => [t.target, t.nextSeq, t.pending]), id).toEqual([['B', 6, 5]])
      expect((A.member(id).sm as Emitter).query(), id).toEqual({ emitted: 5, refused: 2 })
    }
  })

  it("a sender's session at the receiver never expires: outputs after a long quiet spell still apply", async () => {
    const { world, A, B } = await twoGroups(18, {}, { sessionTtlMs: 1000 })
    const leader = A.leader() as NodeId
    await world.settle(A.peer(leader).submit({ tag: 'early', count: 3, to: 'B' }))
    await world.until('acknowledged', () => acked(A, leader) === 3)
    // B's own clients move B's log time past the session TTL (a client session would be a tombstone now).
    const bLeader = B.leader() as NodeId
    for (let i = 0; i < 13; i++) {
      await world.settle(B.peer(bLeader).submit({ key: `local.${i}` }))
      await world.runFor(100)
    }
    await world.settle(A.peer(leader).submit({ tag: 'late', count: 3, to: 'B' }))
    await world.until('acknowledged', () => acked(A, leader) === 6)
    await world.runFor(200)
    for (const m of B.running()) {
      const c = m.sm as Counter
      const fromA = Object.keys(c.counts).filter(k => !k.startsWith('local.')).sort()
      expect(fromA, m.id).toEqual([...keys('early', 3), ...keys('late', 3)].sort())
    }
  })

  it('a deliver call that hangs (and ignores its signal) times out and is retried', async () => {
    const { world, A, B } = await twoGroups(19)
    const leader = A.leader() as NodeId
    let hung = 0
    world.hook = async (_id, _target, _outputs, phase) => {
      if (phase === 'before' && hung === 0) {
        hung++
        await new Promise<void>(() => {})
      }
    }
    await world.settle(A.peer(leader).submit({ tag: 'h', count: 6, to: 'B' }))
    await world.until('acknowledged despite the hung call', () => acked(A, leader) === 6, 5000)
    await world.runFor(200)
    expect(hung).toBe(1)
    expectExactlyOnce(B, keys('h', 6))
  })

  it('is deterministic: the same seed gives the same delivery trace', async () => {
    const run = async (): Promise<string> => {
      const { world, A, B } = await twoGroups(17)
      const leader = A.leader() as NodeId
      for (let i = 0; i < 3; i++) void A.peer(leader).submit({ tag: `d${i}`, count: 5, to: 'B' })
      await world.until('acknowledged', () => acked(A, leader) === 15)
      return JSON.stringify([world.scheduler.now(), [...world.handed], B.counter(B.leader() as NodeId).order])
    }
    expect(await run()).toBe(await run())
  })
})
