import type { PaxosConfigInit } from '../../../src/paxos/config.js'
import type { PaxosMessage } from '../../../src/paxos/messages.js'
import type { SnapshotMeta } from '../../../src/migration/snapshot.js'
import type { DurableState, NodeId, PersistBatch, Slot } from '../../../src/paxos/types.js'
import { KvStateMachine } from '../../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../../src/sim/kv.js'
import { Prng } from '../../../src/sim/prng.js'
import { flushMicrotasks, Scheduler } from '../../../src/sim/scheduler.js'
import { SimClock } from '../../../src/sim/sim-clock.js'
import { SimNetwork } from '../../../src/sim/sim-network.js'
import type { AbortOptions, Storage } from '../../../src/contracts/index.js'
import { VirtualPeer } from '../../../src/vpeer/virtual-peer.js'

export type KvPeer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>

/**
 * Wraps a Storage and remembers which of its calls are still running, so the driver can wait
 * for real I/O (LevelDB) before it moves virtual time on: to the simulation the disk then looks
 * instantaneous, and a run does not depend on how fast the machine's disk is.
 */
export class TrackedStorage implements Storage {
  readonly inner: Storage
  private readonly running = new Set<Promise<unknown>>()

  constructor (inner: Storage) {
    this.inner = inner
  }

  load (options?: AbortOptions): Promise<DurableState> { return this.track(this.inner.load(options)) }
  persist (batch: PersistBatch, options?: AbortOptions): Promise<void> { return this.track(this.inner.persist(batch, options)) }
  close (): Promise<void> { return this.track(this.inner.close()) }
  installSnapshot (meta: SnapshotMeta, state: Uint8Array, options?: AbortOptions): Promise<void> { return this.track(this.inner.installSnapshot(meta, state, options)) }
  loadSnapshot (options?: AbortOptions): Promise<{ meta: SnapshotMeta, state: Uint8Array } | undefined> { return this.track(this.inner.loadSnapshot(options)) }
  compact (upTo: Slot, options?: AbortOptions): Promise<void> { return this.track(this.inner.compact(upTo, options)) }

  get busy (): boolean { return this.running.size > 0 }
  async idle (): Promise<void> { await Promise.allSettled([...this.running]) }

  private track<T> (p: Promise<T>): Promise<T> {
    this.running.add(p)
    const done = (): void => { this.running.delete(p) }
    p.then(done, done)
    return p
  }
}

export interface WorldOptions {
  readonly ids: readonly NodeId[]
  readonly seed?: number
  readonly paxos?: Partial<Omit<PaxosConfigInit, 'id' | 'configuration'>>
  readonly sessionWindow?: number
  readonly sessionTtlMs?: number
}

interface Member {
  storage: TrackedStorage
  clock: SimClock
  peer: KvPeer | undefined
  sm: KvStateMachine | undefined
  incarnation: number
}

/**
 * VirtualPeers assembled by hand over one Scheduler, a fault-free SimNetwork and SimClocks,
 * with storage supplied by the test (MemoryStorage or LevelStorage). Unlike SimCluster it
 * exposes each node's storage, lets a peer be created without being started, and restarts a
 * node from whatever its storage holds.
 */
export class PeerWorld {
  readonly scheduler = new Scheduler()
  readonly prng: Prng
  readonly network: SimNetwork<PaxosMessage>
  readonly ids: readonly NodeId[]
  private readonly members = new Map<NodeId, Member>()
  private readonly options: WorldOptions

  constructor (options: WorldOptions, storageOf: (id: NodeId) => Storage) {
    this.options = options
    this.ids = options.ids
    this.prng = new Prng(options.seed ?? 1)
    this.network = new SimNetwork<PaxosMessage>(this.scheduler, this.prng.fork('network'))
    for (const id of this.ids) {
      this.members.set(id, { storage: new TrackedStorage(storageOf(id)), clock: new SimClock(this.scheduler), peer: undefined, sm: undefined, incarnation: 0 })
    }
  }

  /** Creates node `id`'s peer from its storage. `start` defaults to true. */
  async boot (id: NodeId, start = true): Promise<KvPeer> {
    const m = this.member(id)
    m.incarnation++
    if (m.incarnation > 1) this.network.reconnect(id)
    const sm = new KvStateMachine()
    const created = VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id,
      configuration: { epoch: 0, voters: [...this.ids], learners: [] },
      transport: this.network.endpoint(id),
      storage: m.storage,
      clock: m.clock,
      stateMachine: sm,
      random: this.prng.fork(`node:${id}:${m.incarnation}`),
      clientId: `${id}/${m.incarnation}`,
      ...(this.options.paxos !== undefined ? { paxos: this.options.paxos } : {}),
      ...(this.options.sessionWindow !== undefined ? { sessionWindow: this.options.sessionWindow } : {}),
      ...(this.options.sessionTtlMs !== undefined ? { sessionTtlMs: this.options.sessionTtlMs } : {})
    })
    await this.drainIo()
    const peer = await created
    m.peer = peer
    m.sm = sm
    if (start) peer.start()
    return peer
  }

  async bootAll (): Promise<void> {
    for (const id of this.ids) await this.boot(id)
  }

  peer (id: NodeId): KvPeer {
    const p = this.member(id).peer
    if (p === undefined) throw new Error(`${id} has no peer`)
    return p
  }

  storage (id: NodeId): TrackedStorage {
    return this.member(id).storage
  }

  /** Gives node `id` another storage for its next `boot` (a reopened database, for example). */
  setStorage (id: NodeId, storage: Storage): void {
    this.member(id).storage = new TrackedStorage(storage)
  }

  digest (id: NodeId): string {
    const sm = this.member(id).sm
    if (sm === undefined) throw new Error(`${id} has no state machine`)
    return sm.digest()
  }

  /** Volatile state is lost; the node's storage stays as it is. */
  crash (id: NodeId): void {
    const m = this.member(id)
    m.peer?.halt()
    m.clock.stopAll()
    this.network.disconnect(id)
  }

  /** The highest-ballot running leader. */
  leader (): NodeId | undefined {
    let best: { id: NodeId, round: number } | undefined
    for (const id of this.ids) {
      const p = this.member(id).peer
      if (p === undefined || !p.running) continue
      const s = p.status()
      if (s.role === 'leader' && (best === undefined || s.ballot.round > best.round)) best = { id, round: s.ballot.round }
    }
    return best?.id
  }

  /** Runs virtual time until a leader is known to every running peer. */
  async electLeader (limitMs = 10_000): Promise<NodeId> {
    const end = this.scheduler.now() + limitMs
    while (this.scheduler.now() < end) {
      const l = this.leader()
      const running = this.ids.map(id => this.member(id).peer).filter(p => p?.running === true)
      if (l !== undefined && running.every(p => p?.status().leader === l)) return l
      await this.runFor(10)
    }
    throw new Error('no leader elected')
  }

  /** Runs the world until `p` settles (or `limitMs` of virtual time passed, which throws). */
  async settle<T> (p: Promise<T>, limitMs = 20_000): Promise<T> {
    let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
    p.then(value => { outcome = { ok: true, value } }, (error: unknown) => { outcome = { ok: false, error } })
    const end = this.scheduler.now() + limitMs
    await this.drainIo()
    while (outcome === undefined && this.scheduler.now() < end) await this.runFor(5)
    if (outcome === undefined) throw new Error(`did not settle within ${limitMs} ms of virtual time`)
    if (outcome.ok) return outcome.value
    throw outcome.error
  }

  /** Runs `durationMs` of virtual time, one event at a time, waiting for storage I/O after each. */
  async runFor (durationMs: number): Promise<void> {
    const end = this.scheduler.now() + durationMs
    for (;;) {
      await this.drainIo()
      const next = this.scheduler.nextTimeMs()
      if (next === undefined || next > end) break
      await this.scheduler.stepAsync()
    }
    await this.scheduler.runUntilAsync(end)
  }

  async stopAll (): Promise<void> {
    for (const m of this.members.values()) {
      await m.peer?.stop()
      m.clock.stopAll()
    }
    await this.drainIo()
  }

  private async drainIo (): Promise<void> {
    for (;;) {
      await flushMicrotasks()
      const busy = [...this.members.values()].filter(m => m.storage.busy)
      if (busy.length === 0) return
      await Promise.all(busy.map(m => m.storage.idle()))
    }
  }

  private member (id: NodeId): Member {
    const m = this.members.get(id)
    if (m === undefined) throw new Error(`no node ${id}`)
    return m
  }
}

/**
 * Runs `scheduler` (virtual time, microtasks flushed after every event) until `p` settles, the
 * way a test must await a VirtualPeer operation: start the promise, then drive the world.
 */
export async function runUntilSettled<T> (scheduler: Scheduler, p: Promise<T>, limitMs = 20_000, stepMs = 5): Promise<T> {
  let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
  p.then(value => { outcome = { ok: true, value } }, (error: unknown) => { outcome = { ok: false, error } })
  const end = scheduler.now() + limitMs
  await flushMicrotasks()
  while (outcome === undefined && scheduler.now() < end) await scheduler.runForAsync(stepMs)
  if (outcome === undefined) throw new Error(`did not settle within ${limitMs} ms of virtual time`)
  if (outcome.ok) return outcome.value
  throw outcome.error
}

/** The rejection of `p` (fails the test if `p` resolves). */
export async function rejectionOf (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}
