import { BOTTOM_BALLOT, PaxosNode } from '../paxos/index.js'
import type { CommittedSlot, DurableState, Envelope, LogEntry, NodeId, PaxosConfigInit, PaxosMessage, PersistBatch, Ready, Slot } from '../paxos/index.js'
import { Prng } from './prng.js'

export interface CoreClusterOptions {
  readonly ids: readonly NodeId[]
  /** The bootstrap voters (default: every id). The other ids start outside the group, as spares. */
  readonly voters?: readonly NodeId[]
  readonly seed?: number
  /** Overrides for every node's PaxosConfig (id and configuration are filled in). */
  readonly config?: Partial<Omit<PaxosConfigInit, 'id' | 'configuration'>>
  readonly trace?: (line: string) => void
  /** Called for every committed slot a node hands out, in order. */
  readonly onCommitted?: (id: NodeId, entry: CommittedSlot) => void
  /**
   * Called with every Ready before it is carried out (before its persist is applied to the
   * image): checkers watch writes, sends and reads here.
   */
  readonly onReady?: (id: NodeId, rd: Ready) => void
}

/** A message between two nodes of a CoreCluster, as its `drop` filter sees it. */
export interface InFlight { readonly from: NodeId, readonly to: NodeId, readonly message: PaxosMessage }

/** A node's durable image, updated only through persist batches, as a disk would be. */
export class DurableImage {
  promised = BOTTOM_BALLOT
  commitIndex: Slot = 0
  readonly log = new Map<Slot, LogEntry>()

  apply (batch: PersistBatch): void {
    if (batch.promised !== undefined) this.promised = batch.promised
    if (batch.commitIndex !== undefined) this.commitIndex = batch.commitIndex
    for (const [slot, entry] of batch.entries) this.log.set(slot, entry)
  }

  snapshot (): DurableState {
    return { promised: this.promised, commitIndex: this.commitIndex, log: new Map(this.log) }
  }
}

/**
 * A synchronous, in-process driver for the pure core: every Ready is persisted to an in-memory
 * image at once and its messages are queued FIFO. No faults except those a test injects with
 * `drop`, `isolate` and `crash`. Used by unit tests, golden scripts and the core benchmark; the
 * full fault-injecting simulator (src/sim/cluster.ts) drives VirtualPeer instead.
 */
export class CoreCluster {
  readonly nodes = new Map<NodeId, PaxosNode>()
  readonly images = new Map<NodeId, DurableImage>()
  readonly down = new Set<NodeId>()
  readonly prng: Prng
  /** Return false to drop a message. */
  drop: ((m: InFlight) => boolean) | undefined
  messagesDelivered = 0
  /**
   * The FIFO of sent messages as two parallel arrays (sender, envelope) rather than one InFlight
   * object per message: the envelope already carries `to` and `message`, and the extra object was
   * a measurable share of the allocation in bench/core.ts. An InFlight is built only for `drop`.
   */
  private queueFrom: NodeId[] = []
  private queueEnv: Envelope[] = []
  private head = 0
  private readonly options: CoreClusterOptions

  constructor (options: CoreClusterOptions) {
    this.options = options
    this.prng = new Prng(options.seed ?? 1)
    for (const id of options.ids) {
      this.images.set(id, new DurableImage())
      this.nodes.set(id, this.makeNode(id))
    }
  }

  node (id: NodeId): PaxosNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  leader (): PaxosNode | undefined {
    let found: PaxosNode | undefined
    for (const [id, n] of this.nodes) {
      if (this.down.has(id)) continue
      const s = n.softState()
      if (s.role === 'leader' && (found === undefined || s.ballot.round > found.softState().ballot.round)) found = n
    }
    return found
  }

  /** Runs one Ready cycle of `id`: persist, queue sends, hand out committed. */
  processReady (id: NodeId): Ready | undefined {
    const node = this.node(id)
    const rd = node.ready()
    if (rd === undefined) return undefined
    this.options.onReady?.(id, rd)
    if (rd.persist !== undefined) this.imageOf(id).apply(rd.persist)
    for (const env of rd.send) {
      this.queueFrom.push(id)
      this.queueEnv.push(env)
    }
    const onCommitted = this.options.onCommitted
    if (onCommitted !== undefined) for (const c of rd.committed) onCommitted(id, c)
    node.advance(rd)
    return rd
  }

  /** Processes Readies and delivers messages until nothing moves or `maxMessages` were delivered. */
  stabilize (maxMessages = 1_000_000): number {
    let delivered = 0
    for (;;) {
      let progressed = false
      for (const id of this.nodes.keys()) {
        if (!this.down.has(id) && this.processReady(id) !== undefined) progressed = true
      }
      const from = this.queueFrom
      const envs = this.queueEnv
      while (this.head < envs.length && delivered < maxMessages) {
        const i = this.head++
        const sender = from[i] as NodeId
        const env = envs[i] as Envelope
        delivered++
        if (this.down.size > 0 && (this.down.has(env.to) || this.down.has(sender))) continue
        if (this.drop !== undefined && this.drop({ from: sender, to: env.to, message: env.message }) === false) continue
        this.node(env.to).step(sender, env.message)
        this.messagesDelivered++
        progressed = true
      }
      if (this.head > 65536) {
        this.queueFrom = from.slice(this.head)
        this.queueEnv = envs.slice(this.head)
        this.head = 0
      }
      if (!progressed || delivered >= maxMessages) return delivered
    }
  }

  tick (ids: Iterable<NodeId> = this.nodes.keys()): void {
    for (const id of ids) if (!this.down.has(id)) this.node(id).tick()
  }

  /** Ticks every live node `n` times, stabilizing after each tick. */
  tickAndStabilize (n: number): void {
    for (let i = 0; i < n; i++) {
      this.tick()
      this.stabilize()
    }
  }

  /** Ticks until some node leads (or gives up). */
  electLeader (maxTicks = 500): PaxosNode {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader()
      if (l !== undefined) return l
      this.tick()
      this.stabilize()
    }
    throw new Error('no leader elected')
  }

  /** Volatile state is lost; the durable image stays. */
  crash (id: NodeId): void {
    this.down.add(id)
  }

  restart (id: NodeId, mutateDurable?: (d: DurableState) => DurableState): PaxosNode {
    const durable = this.imageOf(id).snapshot()
    const node = this.makeNode(id, mutateDurable?.(durable) ?? durable)
    this.nodes.set(id, node)
    this.down.delete(id)
    return node
  }

  pendingMessages (): number {
    return this.queueEnv.length - this.head
  }

  private imageOf (id: NodeId): DurableImage {
    const img = this.images.get(id)
    if (img === undefined) throw new Error(`no image for ${id}`)
    return img
  }

  private makeNode (id: NodeId, durable?: DurableState): PaxosNode {
    const init: PaxosConfigInit = {
      ...this.options.config,
      id,
      configuration: { epoch: 0, voters: [...(this.options.voters ?? this.options.ids)], learners: [] }
    }
    const opts = this.options.trace !== undefined ? { trace: this.options.trace } : {}
    return new PaxosNode(init, durable ?? this.imageOf(id).snapshot(), this.prng.fork(`node:${id}:${this.prng.next()}`), opts)
  }
}
