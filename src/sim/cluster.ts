import type { DurableState, NodeId, PaxosConfig, PaxosMutations, PersistBatch } from '../paxos/index.js'
import { BOTTOM_BALLOT, PAXOS_MUTATIONS } from '../paxos/index.js'
import { createHash } from 'node:crypto'
import { MemoryStorage } from '../storage/memory-storage.js'
import { VirtualPeer, jsonCodec } from '../vpeer/virtual-peer.js'
import type { CommandCodec } from '../vpeer/virtual-peer.js'
import type { StateMachine, Storage, Transport } from '../contracts/index.js'
import type { WireMessage } from '../vpeer/snapshot-transfer.js'
import { isSnapshotMessage } from '../vpeer/snapshot-transfer.js'
import { SafetyChecker } from './checkers.js'
import { DurabilityChecker } from './durability.js'
import { KvStateMachine } from './kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from './kv.js'
import { Prng } from './prng.js'
import { Scheduler } from './scheduler.js'
import { SimClock } from './sim-clock.js'
import { SimNetwork } from './sim-network.js'
import type { NetworkFaults } from './sim-network.js'
import { UnknownNodeError } from './sim-errors.js'

/** A node's VirtualPeer, typed by the application's command, result, query and answer. */
export type SimPeer<C = KvCommand, R = KvResult, Q = KvQuery, A = KvAnswer> = VirtualPeer<C, R, Q, A>
export type KvPeer = SimPeer

/** Mutations of the runtime around the core (the core's own are in PaxosMutations). */
export interface SimMutations extends PaxosMutations {
  /** An acceptor that loses its promised ballot when it restarts (a storage bug). */
  forgetPromiseOnRestart?: boolean
  /**
   * An acceptor that loses its promise and its votes above the commit index when it restarts
   * (it persisted only the learned log): the classic "acceptor forgets what it accepted" bug.
   */
  forgetVotesOnRestart?: boolean
}

/** Every mutation name the simulator accepts (the core's and the runtime's), for the CLI and the tests. */
export const SIM_MUTATIONS: ReadonlyArray<keyof SimMutations> = [
  ...PAXOS_MUTATIONS,
  ...Object.keys({ forgetPromiseOnRestart: true, forgetVotesOnRestart: true } satisfies Record<Exclude<keyof SimMutations, keyof PaxosMutations>, true>) as Array<keyof SimMutations>
]

/**
 * A simulated world. `C, R, Q, A` are the application's command, result, query and answer
 * types (the state machine's); they default to the built-in key-value store's.
 */
export interface SimClusterOptions<C = KvCommand, R = KvResult, Q = KvQuery, A = KvAnswer> {
  readonly seed: number
  readonly nodes: number
  /** Nodes that start outside the group (candidates for replacement), named after the members. */
  readonly spares?: number
  readonly network?: Partial<NetworkFaults>
  /** Fsync latency, uniform in [min, max] ms of virtual time. */
  readonly fsyncMs?: { readonly min: number, readonly max: number }
  /** Each node's clock runs at a rate drawn from [1 − skew, 1 + skew]. */
  readonly clockSkew?: number
  readonly tickMs?: number
  readonly paxos?: Partial<Omit<PaxosConfig, 'id' | 'configuration'>>
  readonly mutations?: SimMutations
  readonly trace?: (line: string) => void
  /** Passed to every VirtualPeer (snapshots and compaction; default: the VirtualPeer defaults). */
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
  readonly snapshotChunkBytes?: number
  /** Wraps a node's transport (tests: corrupt or watch messages in flight). */
  readonly wrapTransport?: (id: NodeId, transport: Transport<WireMessage>) => Transport<WireMessage>
  /**
   * Builds each incarnation's state machine: every boot (the first and each restart) gets a
   * fresh one, which the runtime restores from the node's simulated disk. Default: a fresh
   * KvStateMachine, which is only right when `C, R, Q, A` are the KV types (their defaults).
   */
  readonly stateMachine?: (id: NodeId) => StateMachine<C, R, Q, A>
  /**
   * A canonical form of a replica's state, compared across replicas after every slot (replica
   * equality). Default: the state machine's own `digest()` if it has one, else a hash of its
   * `snapshot()` (which must then give equal bytes for equal states).
   */
  readonly digest?: (stateMachine: StateMachine<C, R, Q, A>) => string
  /** How commands become log bytes (default: JSON, VirtualPeer's default). */
  readonly codec?: CommandCodec<C>
  /**
   * Trace each state machine `restore` from the node's own disk at boot (restores from a peer's
   * snapshot are traced by the runtime already). Off by default, so the KV runs' traces stay
   * as published.
   */
  readonly traceRestores?: boolean
  /**
   * Automatic replacement of dead voters; candidates are the non-members, live ones first (the DHT's role).
   * `candidates` overrides that pool, e.g. to let spares become available only over time.
   */
  readonly replacement?: { readonly replaceAfterTicks: number, readonly caughtUpSlots?: number, readonly checkEveryTicks?: number, readonly candidates?: () => readonly NodeId[] }
  /**
   * Fault "crash after the fsync, before the send": called each time one of a node's persists
   * has become durable, before its runtime goes on to send that Ready's messages; returning
   * true crashes the node right there (restarting it is the caller's business).
   */
  readonly crashAfterPersist?: (id: NodeId, batch: PersistBatch) => boolean
}

interface SimNode<C, R, Q, A> {
  readonly id: NodeId
  readonly storage: MemoryStorage
  readonly clock: SimClock
  peer: SimPeer<C, R, Q, A> | undefined
  sm: StateMachine<C, R, Q, A> | undefined
  incarnation: number
  up: boolean
}

/**
 * N VirtualPeers over one seeded simulated world: virtual time, a faulty network, disks that
 * lose unsynced writes on a crash, skewed clocks. Every apply is reported to a SafetyChecker
 * (agreement, validity, integrity, replica equality) and every persist and send to a
 * DurabilityChecker. Same seed ⇒ same run.
 *
 * Faults, one call each: `crash(id)`, `restart(id)`, `partition(group)` / `isolate(id)` /
 * `heal()`, `skewClock(id, rate)`; finer network faults (loss, duplication, reordering,
 * one-way blocks, clogs) are on `network`. Time advances only through `scheduler`
 * (`await cluster.scheduler.runUntilAsync(ms)`).
 *
 * Generic over the application's state machine types; `new SimCluster({ seed, nodes })` runs
 * the built-in KV store, `new SimCluster({ seed, nodes, stateMachine: () => new Mine() })` runs yours.
 */
export class SimCluster<C = KvCommand, R = KvResult, Q = KvQuery, A = KvAnswer> {
  readonly scheduler = new Scheduler()
  readonly prng: Prng
  readonly network: SimNetwork<WireMessage>
  readonly checker: SafetyChecker
  /** Durability rules (replies only after the fsync, nothing durable lost or lowered); reports into `checker`. */
  readonly durability: DurabilityChecker
  /** Every node: the bootstrap voters first, then the spares, then nodes added by `addSpare`. */
  readonly ids: readonly NodeId[]
  readonly bootstrapVoters: readonly NodeId[]
  crashes = 0
  restarts = 0
  /** Snapshots received from a peer and installed (not the ones loaded from a node's own disk at boot). */
  snapshotInstalls = 0
  private readonly nodes = new Map<NodeId, SimNode<C, R, Q, A>>()
  private readonly options: SimClusterOptions<C, R, Q, A>
  private readonly codec: CommandCodec<C>
  private readonly storagePrng: Prng
  private readonly clockPrng: Prng
  /** The array behind `ids`: `addSpare` appends to it. */
  private readonly allIds: NodeId[]

  constructor (options: SimClusterOptions<C, R, Q, A>) {
    this.options = options
    this.codec = options.codec ?? jsonCodec<C>()
    this.prng = new Prng(options.seed)
    this.network = new SimNetwork<WireMessage>(this.scheduler, this.prng.fork('network'), options.network)
    this.checker = new SafetyChecker(() => this.scheduler.now())
    this.durability = new DurabilityChecker(message => { this.checker.report('durability', message) })
    this.storagePrng = this.prng.fork('storage')
    this.allIds = Array.from({ length: options.nodes + (options.spares ?? 0) }, (_, i) => `n${i + 1}`)
    this.ids = this.allIds
    this.bootstrapVoters = this.ids.slice(0, options.nodes)
    this.clockPrng = this.prng.fork('clocks')
    for (const id of this.ids) this.createNode(id)
  }

  /** Fresh storage and clock for a node that has never run (draws in the same order as before). */
  private createNode (id: NodeId): void {
    const skew = this.options.clockSkew ?? 0
    const fsync = this.options.fsyncMs ?? { min: 0.2, max: 2 }
    const storage = new MemoryStorage({
      schedule: sync => { this.scheduler.after(fsync.min + this.storagePrng.float() * (fsync.max - fsync.min), sync, 'fsync') }
    })
    const clock = new SimClock(this.scheduler, { rate: 1 - skew + this.clockPrng.float() * 2 * skew })
    this.nodes.set(id, { id, storage, clock, peer: undefined, sm: undefined, incarnation: 0, up: false })
  }

  /**
   * A node that did not exist before joins the world (a spare handed out by the DHT): new id,
   * empty storage, booted with the bootstrap configuration like every spare, outside the group
   * until a membership change adds it.
   */
  async addSpare (): Promise<NodeId> {
    const id = `n${this.allIds.length + 1}`
    this.allIds.push(id)
    this.createNode(id)
    await this.boot(id)
    this.trace(`${id} added as a spare`)
    return id
  }

  async start (): Promise<void> {
    for (const id of this.ids) await this.boot(id)
  }

  /** The running peer of node `id`; undefined while it is down. */
  peer (id: NodeId): SimPeer<C, R, Q, A> | undefined {
    const n = this.nodes.get(id)
    return n?.up === true ? n.peer : undefined
  }

  isUp (id: NodeId): boolean {
    return this.nodes.get(id)?.up === true
  }

  upIds (): NodeId[] {
    return this.ids.filter(id => this.isUp(id))
  }

  /**
   * The members (voters and learners) of the newest configuration any live node knows: where
   * a client that looked the group up would send its requests.
   */
  memberIds (): NodeId[] {
    let best: { commit: number, members: NodeId[] } | undefined
    for (const id of this.upIds()) {
      const s = this.peer(id)?.status()
      if (s === undefined) continue
      if (best === undefined || s.commitIndex > best.commit) best = { commit: s.commitIndex, members: [...s.configuration.voters, ...s.configuration.learners] }
    }
    return best?.members ?? [...this.bootstrapVoters]
  }

  /** The highest-ballot live leader, if any. */
  leader (): NodeId | undefined {
    let best: { id: NodeId, round: number } | undefined
    for (const id of this.upIds()) {
      const s = this.peer(id)?.status()
      if (s?.role === 'leader' && (best === undefined || s.ballot.round > best.round)) best = { id, round: s.ballot.round }
    }
    return best?.id
  }

  /**
   * Crashes node `id`: its process stops at once, volatile state and writes not yet fsynced
   * are lost, messages in flight to or from it are dropped. No-op if it is down already.
   * @throws UnknownNodeError
   */
  crash (id: NodeId): void {
    const n = this.node(id)
    if (!n.up) return
    n.up = false
    this.crashes++
    n.peer?.halt()
    n.clock.stopAll()
    n.storage.crash()
    this.network.disconnect(id)
    this.trace(`${id} crashed`)
  }

  /**
   * Restarts a crashed node: a new incarnation with a fresh state machine, booted from what its
   * simulated disk kept (snapshot, then log). No-op if it is up.
   * @throws UnknownNodeError
   */
  async restart (id: NodeId): Promise<void> {
    const n = this.node(id)
    if (n.up) return
    this.restarts++
    await this.boot(id)
    this.trace(`${id} restarted (incarnation ${n.incarnation})`)
  }

  /**
   * Symmetric partition: the nodes of `group` talk only among themselves, and the nodes of
   * `others` (default: every node not in `group`) only among themselves. Nodes in neither form
   * a third side. Replaces any earlier partition; `heal()` ends it.
   * @throws UnknownNodeError
   */
  partition (group: readonly NodeId[], others?: readonly NodeId[]): void {
    for (const id of [...group, ...(others ?? [])]) this.node(id)
    const rest = others ?? this.ids.filter(id => !group.includes(id))
    this.network.partition([group, rest])
    this.trace(`partition {${group.join(',')}} | {${rest.join(',')}}`)
  }

  /** Cuts node `id` off from every other node (it keeps running). `heal()` ends it. */
  isolate (id: NodeId): void {
    this.partition([id])
  }

  /** Ends the partition and removes every one-way block and clog (loss and delay settings stay). */
  heal (): void {
    this.network.heal()
    this.trace('network healed')
  }

  /**
   * Node `id`'s clock runs at `rate` × real speed from now on (1.1: its timers fire 10 % early,
   * in virtual time; 0.9: late), across restarts, until changed again. Models the tick-rate
   * skew between machines that timeouts must tolerate.
   * @throws UnknownNodeError
   * @throws InvalidSimOptionError for a rate that is not finite and positive
   */
  skewClock (id: NodeId, rate: number): void {
    this.node(id).clock.setRate(rate)
    this.trace(`${id} clock rate ${rate}`)
  }

  /** The state machine of node `id`'s latest incarnation, also while it is down (undefined before its first boot). */
  stateMachine (id: NodeId): StateMachine<C, R, Q, A> | undefined {
    return this.nodes.get(id)?.sm
  }

  /** The bytes the log carries for `command` (what the validity checker compares). */
  encode (command: C): Uint8Array {
    return this.codec.encode(command)
  }

  /** Stops every peer (end of run). */
  haltAll (): void {
    for (const n of this.nodes.values()) {
      n.peer?.halt()
      n.clock.stopAll()
      n.up = false
    }
  }

  /** The canonical form of node `id`'s state (see SimClusterOptions.digest). */
  digest (id: NodeId): string | undefined {
    const sm = this.nodes.get(id)?.sm
    return sm === undefined ? undefined : this.digestOf(sm)
  }

  private digestOf (sm: StateMachine<C, R, Q, A>): string {
    if (this.options.digest !== undefined) return this.options.digest(sm)
    const own = (sm as { digest?: unknown }).digest
    if (typeof own === 'function') return String(own.call(sm))
    return createHash('sha256').update(sm.snapshot()).digest('base64')
  }

  private node (id: NodeId): SimNode<C, R, Q, A> {
    const n = this.nodes.get(id)
    if (n === undefined) throw new UnknownNodeError(id, this.ids)
    return n
  }

  private async boot (id: NodeId): Promise<void> {
    const n = this.node(id)
    n.incarnation++
    const incarnation = n.incarnation
    // Without a factory the types are the KV defaults (see SimClusterOptions.stateMachine).
    const sm = this.options.stateMachine?.(id) ?? (new KvStateMachine() as unknown as StateMachine<C, R, Q, A>)
    // `installed` also fires inside VirtualPeer.create for a snapshot loaded from disk; only the
    // ones that come after create returned were received from a peer.
    let created = false
    if (incarnation > 1) this.network.reconnect(id)
    const forget = this.options.mutations?.forgetVotesOnRestart === true ? 'votes' : this.options.mutations?.forgetPromiseOnRestart === true ? 'promise' : undefined
    const crashAfterPersist = this.options.crashAfterPersist
    const storage = this.durability.wrap(id, forget !== undefined && incarnation > 1 ? forgetfulStorage(n.storage, forget) : n.storage,
      crashAfterPersist === undefined
        ? undefined
        : batch => {
          if (n.incarnation !== incarnation || !n.up || !crashAfterPersist(id, batch)) return
          this.trace(`${id} crashes right after a persist, before sending`)
          this.crash(id)
        })
    const endpoint = this.options.wrapTransport?.(id, this.network.endpoint(id)) ?? this.network.endpoint(id)
    let self: SimPeer<C, R, Q, A> | undefined
    const knownChosen = (slot: number): boolean => self?.committedValue(slot) !== undefined
    const transport: Transport<WireMessage> = {
      send: (to, message) => {
        if (!isSnapshotMessage(message)) this.durability.onSend(id, to, message, knownChosen)
        endpoint.send(to, message)
      },
      onMessage: handler => endpoint.onMessage(handler),
      onPeerDown: handler => endpoint.onPeerDown?.(handler) ?? (() => {})
    }
    const paxos = { ...this.options.paxos, ...mutationsOf(this.options.mutations) }
    const peer: SimPeer<C, R, Q, A> = await VirtualPeer.create<C, R, Q, A>({
      id,
      configuration: { epoch: 0, voters: [...this.bootstrapVoters], learners: [] },
      transport,
      storage,
      clock: n.clock,
      stateMachine: sm,
      random: this.prng.fork(`node:${id}:${incarnation}`),
      ...(this.options.codec !== undefined ? { codec: this.options.codec } : {}),
      tickMs: this.options.tickMs ?? 10,
      paxos,
      ...(this.options.snapshotEverySlots !== undefined ? { snapshotEverySlots: this.options.snapshotEverySlots } : {}),
      ...(this.options.logRetentionSlots !== undefined ? { logRetentionSlots: this.options.logRetentionSlots } : {}),
      ...(this.options.snapshotChunkBytes !== undefined ? { snapshotChunkBytes: this.options.snapshotChunkBytes } : {}),
      ...(this.options.trace !== undefined ? { trace: (line: string) => { this.trace(line) } } : {}),
      ...(this.options.replacement !== undefined
        ? {
            replacement: {
              replaceAfterTicks: this.options.replacement.replaceAfterTicks,
              caughtUpSlots: this.options.replacement.caughtUpSlots ?? 16,
              checkEveryTicks: this.options.replacement.checkEveryTicks ?? 10,
              candidates: this.options.replacement.candidates ?? (() => [...this.upIds(), ...this.ids.filter(x => !this.isUp(x))])
            }
          }
        : {}),
      observer: {
        slot: (slot, value) => { this.checker.onSlot(id, incarnation, slot, value) },
        command: (_slot, command) => { this.checker.onCommand(id, incarnation, command) },
        applied: slot => { this.checker.onApplied(id, slot, this.digestOf(sm)) },
        installed: index => {
          this.checker.onSnapshot(id, incarnation, index, this.digestOf(sm))
          if (created) this.snapshotInstalls++
          else if (this.options.traceRestores === true) this.trace(`${id} restored its state machine from the snapshot at ${index} on its disk`)
        }
      }
    })
    self = peer

    created = true
    // A replica that halts by itself (an assertion while handling a message, a storage failure)
    // is a finding: the runtime contains it to that replica, the checker reports it.
    peer.addEventListener('error', e => {
      const error = e.detail.error
      this.checker.report('crash', `${id} halted: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    })
    if (incarnation > 1) this.durability.onRestart(id, peer.status())
    n.peer = peer
    n.sm = sm
    n.up = true
    peer.start()
  }

  /** Adds a line to the run's trace, stamped with simulated time. */
  trace (line: string): void {
    this.options.trace?.(`T=${(this.scheduler.now() / 1000).toFixed(3)} ${line}`)
  }
}

function mutationsOf (m: SimMutations | undefined): { mutations?: PaxosMutations } {
  if (m === undefined) return {}
  const { forgetPromiseOnRestart: _p, forgetVotesOnRestart: _v, ...core } = m
  return { mutations: core }
}

/** A storage whose `load` forgets the promised ballot: the "acceptor forgets promises" bug. */
function forgetfulStorage (inner: MemoryStorage, what: 'promise' | 'votes'): Storage {
  return {
    load: async (options) => {
      const state: DurableState = await inner.load(options)
      if (what === 'promise') return { ...state, promised: BOTTOM_BALLOT }
      const log = new Map([...state.log].filter(([slot]) => slot <= state.commitIndex))
      return { ...state, promised: BOTTOM_BALLOT, log }
    },
    persist: async (batch, options) => { await inner.persist(batch, options) },
    close: async () => { await inner.close() },
    installSnapshot: async (meta, state, options) => { await inner.installSnapshot(meta, state, options) },
    loadSnapshot: async (options) => await inner.loadSnapshot(options),
    compact: async (upTo, options) => { await inner.compact(upTo, options) }
  }
}
