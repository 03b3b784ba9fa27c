import type { NodeId } from '../paxos/index.js'
import type { Transport } from '../contracts/index.js'
import { assert } from '../util/assert.js'
import type { Prng } from './prng.js'
import type { Scheduler, TimerHandle } from './scheduler.js'
import { InvalidSimOptionError } from './sim-errors.js'

export interface DelayRange {
  readonly min: number
  readonly max: number
}

/**
 * Fault settings. All are optional and can be changed during a run with `setFaults`; a message
 * is judged by the settings in force when it is sent.
 */
export interface NetworkFaults {
  /** One-way delay, uniform in [min, max] ms. Default `{ min: 1, max: 10 }`. */
  delayMs: DelayRange
  /** Mean of an exponential tail added to every delay (0 = none): rare, very late messages. */
  delayTailMeanMs: number
  /** Probability that a message (or a duplicate) is lost. 0 ≤ lossRate ≤ 1; sensible runs use ≤ 0.3. */
  lossRate: number
  /** Probability that a message is delivered twice; the copy gets its own independent delay. */
  duplicateRate: number
  /**
   * Probability that a message gets an extra delay drawn from `reorderDelayMs`. Random delays
   * already reorder messages; this makes overtaking by far more than one delay likely.
   */
  reorderRate: number
  /** Extra delay of a reordered message. Default `{ min: 10, max: 100 }`. */
  reorderDelayMs: DelayRange
  /**
   * A crash resets the node's connections: every live node that can reach it, and registered
   * `onPeerDown`, is told after one network delay (what a TCP reset does). Default false.
   */
  peerDownNotices: boolean
}

/** Why a message copy was dropped. */
export type DropReason =
  /** Random loss (`lossRate`). */
  | 'loss'
  /** A partition or one-way block separated the nodes, at send or at delivery time. */
  | 'partition'
  /** The sender or the receiver was disconnected (crashed), or the receiver has no handler. */
  | 'down'
  /** The message was addressed to an earlier incarnation of the receiver, or sent by one. */
  | 'stale'

export interface NetworkTraceEvent<M> {
  /** Virtual time (ms). */
  readonly time: number
  readonly kind: 'send' | 'deliver' | 'drop'
  readonly from: NodeId
  readonly to: NodeId
  readonly message: M
  /** Set on 'drop'. */
  readonly reason?: DropReason
  /** True for the extra copy made by `duplicateRate`. */
  readonly duplicate?: boolean
}

/**
 * Counters. Every copy of a message (each send, plus each duplicate) ends in exactly one of
 * delivered / dropped / droppedPartition / droppedDown, or is still in flight:
 * `sent + duplicated = delivered + dropped + droppedPartition + droppedDown + inFlight`.
 */
export interface NetworkStats {
  sent: number
  delivered: number
  /** Random loss. */
  dropped: number
  /** Cut by a partition or a one-way block. */
  droppedPartition: number
  /** Sender or receiver down, receiver without a handler, or a stale incarnation. */
  droppedDown: number
  duplicated: number
  /** Copies scheduled or held by a clogged path, not yet delivered or dropped. */
  inFlight: number
}

const DEFAULT_FAULTS: NetworkFaults = {
  delayMs: { min: 1, max: 10 },
  delayTailMeanMs: 0,
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderDelayMs: { min: 10, max: 100 },
  peerDownNotices: false
}

/** The network's view of one node. */
class Endpoint<M> {
  /** Up unless `disconnect`ed. */
  up = true
  /**
   * Bumped on every crash (`disconnect`) and whenever a handler replaces an earlier one.
   * A message remembers the receiver's incarnation at send time and is delivered only to that
   * incarnation, so a restarted node never sees traffic meant for its previous life.
   */
  incarnation = 0
  /** Whether a handler was registered during the current incarnation. */
  hadHandler = false
  handler: ((from: NodeId, message: M) => void) | undefined
  /** Told when a peer crashes (with `peerDownNotices`), for the current incarnation. */
  downHandler: ((peer: NodeId) => void) | undefined
  /** The transport of the current incarnation; `endpoint(id)` makes a new one after a crash. */
  transport: SimTransport<M> | undefined
  constructor (readonly id: NodeId) {}
}

/** A message copy travelling from `from` to `to`. */
interface Packet<M> {
  readonly from: NodeId
  readonly to: NodeId
  readonly message: M
  readonly targetIncarnation: number
  readonly duplicate: boolean
}

/** A clogged path and the packets that reached it while clogged, in arrival order. */
interface Clog<M> {
  readonly from: NodeId
  readonly to: NodeId
  readonly held: Array<Packet<M>>
  timer: TimerHandle | undefined
}

class SimTransport<M> implements Transport<M> {
  constructor (
    readonly network: SimNetwork<M>,
    readonly endpoint: Endpoint<M>,
    /** The incarnation this object belongs to; a stale object can neither send nor receive. */
    public incarnation: number
  ) {}

  send (to: NodeId, message: M): void {
    this.network.sendFrom(this, to, message)
  }

  onMessage (handler: (from: NodeId, message: M) => void): () => void {
    return this.network.register(this, handler)
  }

  onPeerDown (handler: (peer: NodeId) => void): () => void {
    return this.network.registerPeerDown(this, handler)
  }
}

/**
 * An in-memory network of `Transport`s with seeded faults, delivered through a `Scheduler`.
 *
 * Messages are passed by reference, not copied: the core's messages are immutable plain data.
 * Random choices (loss, delay, duplication, extra reordering delay) come from the `Prng` given
 * to the constructor, in a fixed order per send, so one seed gives one delivery trace.
 *
 * Crash and restart, as the harness should drive them:
 * 1. crash: `network.disconnect(id)`. The node's inbound and outbound traffic is dropped, and
 *    messages already in flight to it are dropped when they arrive. (Messages it sent before
 *    the crash are already on the wire and may still arrive.) Its incarnation ends: its
 *    old `Transport` object goes dead for good (sends are dropped, its handler is never called).
 * 2. restart: `network.reconnect(id)`, and `network.endpoint(id)` returns a **new** Transport
 *    for the new incarnation; register the new node's handler on it with `onMessage` (either
 *    order works: the new Transport exists as soon as the crash ends the old incarnation).
 *    Messages sent before the crash never reach it. Messages sent to the node while it was
 *    down may still arrive after the restart (a late packet reaching a rebooted machine).
 * Registering a second handler on a live transport also starts a new incarnation, so whatever
 * was in flight to the first handler is dropped rather than given to the second.
 *
 * Self-sends (`to === from`) go through the same delay, loss and duplication; no partition ever
 * separates a node from itself.
 */
export class SimNetwork<M> {
  /** Optional hook for readable replays; called synchronously for every send, delivery and drop. */
  onTrace: ((event: NetworkTraceEvent<M>) => void) | undefined

  readonly #scheduler: Scheduler
  readonly #prng: Prng
  #faults: NetworkFaults
  readonly #endpoints = new Map<NodeId, Endpoint<M>>()
  /** Symmetric partition: node → group number. Nodes absent from the map form one extra group. */
  #groupOf: Map<NodeId, number> | undefined
  /** One-way blocks, as `${from}\u0000${to}`. */
  readonly #blocked = new Set<string>()
  /** Clogged paths, by `pathKey`. */
  readonly #clogged = new Map<string, Clog<M>>()
  readonly #stats: NetworkStats = {
    sent: 0, delivered: 0, dropped: 0, droppedPartition: 0, droppedDown: 0, duplicated: 0, inFlight: 0
  }

  constructor (scheduler: Scheduler, prng: Prng, faults: Partial<NetworkFaults> = {}) {
    this.#scheduler = scheduler
    this.#prng = prng
    this.#faults = validateFaults({ ...DEFAULT_FAULTS, ...faults })
  }

  /**
   * The Transport of node `id`'s current incarnation, created on first use. Calling it again
   * returns the same object until the node is disconnected; after that it returns a fresh one.
   */
  endpoint (id: NodeId): Transport<M> {
    let endpoint = this.#endpoints.get(id)
    if (endpoint === undefined) {
      endpoint = new Endpoint<M>(id)
      this.#endpoints.set(id, endpoint)
    }
    if (endpoint.transport === undefined || endpoint.transport.incarnation !== endpoint.incarnation) {
      endpoint.transport = new SimTransport(this, endpoint, endpoint.incarnation)
    }
    return endpoint.transport
  }

  /** The current fault settings (a copy). */
  faults (): NetworkFaults {
    return { ...this.#faults, delayMs: { ...this.#faults.delayMs }, reorderDelayMs: { ...this.#faults.reorderDelayMs } }
  }

  /** Changes some fault settings; they apply to messages sent from now on. */
  setFaults (partial: Partial<NetworkFaults>): void {
    this.#faults = validateFaults({ ...this.#faults, ...partial })
  }

  /** Symmetric partition: a node talks only to nodes of its own group. Unlisted nodes form one more group together. Replaces any earlier partition. */
  partition (groups: readonly (readonly NodeId[])[]): void {
    const groupOf = new Map<NodeId, number>()
    groups.forEach((group, index) => {
      for (const id of group) {
        assert(!groupOf.has(id), () => `partition: node ${id} is in two groups`)
        groupOf.set(id, index)
      }
    })
    this.#groupOf = groupOf
  }

  /** Drops every message from `from` to `to` (not the reverse) until unblocked or healed. */
  blockOneWay (from: NodeId, to: NodeId): void {
    this.#blocked.add(pathKey(from, to))
  }

  unblockOneWay (from: NodeId, to: NodeId): void {
    this.#blocked.delete(pathKey(from, to))
  }

  /**
   * Clogs the path from `from` to `to`: messages arriving on it are held, not dropped, and are
   * delivered in arrival order when it is unclogged (a stalled TCP connection that recovers).
   * With `durationMs` it unclogs itself after that much virtual time.
   */
  clog (from: NodeId, to: NodeId, durationMs?: number): void {
    const key = pathKey(from, to)
    let clog = this.#clogged.get(key)
    if (clog === undefined) {
      clog = { from, to, held: [], timer: undefined }
      this.#clogged.set(key, clog)
    }
    // A new duration replaces the old one rather than letting an earlier timer cut it short.
    if (clog.timer !== undefined) this.#scheduler.cancel(clog.timer)
    clog.timer = undefined
    if (durationMs !== undefined) {
      assert(durationMs >= 0, () => `clog duration must be ≥ 0, got ${durationMs}`)
      clog.timer = this.#scheduler.after(durationMs, () => { this.unclog(from, to) }, 'network.unclog')
    }
  }

  /** Releases a clogged path; held messages arrive now, in order, through the usual checks. */
  unclog (from: NodeId, to: NodeId): void {
    const key = pathKey(from, to)
    const clog = this.#clogged.get(key)
    if (clog === undefined) return
    this.#clogged.delete(key)
    if (clog.timer !== undefined) this.#scheduler.cancel(clog.timer)
    for (const packet of clog.held) {
      this.#scheduler.after(0, () => { this.#arrive(packet) }, 'network.deliver')
    }
  }

  /** Removes the partition, every one-way block and every clog. */
  heal (): void {
    this.#groupOf = undefined
    this.#blocked.clear()
    for (const clog of [...this.#clogged.values()]) this.unclog(clog.from, clog.to)
  }

  /** Whether a message from `from` would currently reach `to` (ignoring loss and crashes). */
  connected (from: NodeId, to: NodeId): boolean {
    if (from === to) return true
    if (this.#blocked.has(pathKey(from, to))) return false
    const groupOf = this.#groupOf
    if (groupOf === undefined) return true
    return (groupOf.get(from) ?? -1) === (groupOf.get(to) ?? -1)
  }

  /** A crash: drops the node's traffic in both directions and ends its incarnation. */
  disconnect (id: NodeId): void {
    const endpoint = this.#endpoints.get(id)
    assert(endpoint !== undefined, () => `disconnect: unknown node ${id}`)
    endpoint.up = false
    endpoint.incarnation++
    endpoint.hadHandler = false
    endpoint.handler = undefined
    endpoint.downHandler = undefined
    endpoint.transport = undefined
    if (this.#faults.peerDownNotices) this.#noticeDown(id)
  }

  /** The crash of `id` reaches every live node that can reach it, one network delay later. */
  #noticeDown (id: NodeId): void {
    for (const other of this.#endpoints.values()) {
      const handler = other.downHandler
      if (other.id === id || !other.up || handler === undefined || !this.connected(id, other.id)) continue
      const incarnation = other.incarnation
      const delayMs = this.#faults.delayMs.min + this.#prng.float() * (this.#faults.delayMs.max - this.#faults.delayMs.min)
      this.#scheduler.after(delayMs, () => {
        if (other.up && other.incarnation === incarnation && other.downHandler === handler) handler(id)
      }, 'network.peerDown')
    }
  }

  /** @internal Called by SimTransport.onPeerDown. */
  registerPeerDown (transport: SimTransport<M>, handler: (peer: NodeId) => void): () => void {
    const endpoint = transport.endpoint
    if (transport.incarnation !== endpoint.incarnation) return () => {}
    endpoint.downHandler = handler
    return () => {
      if (endpoint.downHandler === handler) endpoint.downHandler = undefined
    }
  }

  /** A restart: the node may send and receive again; get its new Transport with `endpoint(id)`. */
  reconnect (id: NodeId): void {
    const endpoint = this.#endpoints.get(id)
    assert(endpoint !== undefined, () => `reconnect: unknown node ${id}`)
    endpoint.up = true
  }

  isUp (id: NodeId): boolean {
    return this.#endpoints.get(id)?.up ?? false
  }

  stats (): NetworkStats {
    return { ...this.#stats }
  }

  /** @internal Called by SimTransport.send. */
  sendFrom (transport: SimTransport<M>, to: NodeId, message: M): void {
    const source = transport.endpoint
    const stats = this.#stats
    stats.sent++
    this.#trace('send', source.id, to, message, undefined, false)
    if (transport.incarnation !== source.incarnation) {
      this.#drop(source.id, to, message, 'stale', false)
      return
    }
    if (!source.up) {
      this.#drop(source.id, to, message, 'down', false)
      return
    }
    if (!this.connected(source.id, to)) {
      this.#drop(source.id, to, message, 'partition', false)
      return
    }
    // Draw in a fixed order whatever the outcome, so one fault decision does not shift the
    // random numbers behind the next one.
    const faults = this.#faults
    const prng = this.#prng
    const lost = prng.chance(faults.lossRate)
    const duplicated = prng.chance(faults.duplicateRate)
    const targetIncarnation = this.#endpoints.get(to)?.incarnation ?? 0
    this.#transmit({ from: source.id, to, message, targetIncarnation, duplicate: false }, lost)
    if (duplicated) {
      stats.duplicated++
      this.#transmit({ from: source.id, to, message, targetIncarnation, duplicate: true }, prng.chance(faults.lossRate))
    }
  }

  /** @internal Called by SimTransport.onMessage. */
  register (transport: SimTransport<M>, handler: (from: NodeId, message: M) => void): () => void {
    const endpoint = transport.endpoint
    assert(transport.incarnation === endpoint.incarnation,
      () => `onMessage on the transport of a crashed incarnation of ${endpoint.id}; get the new one with endpoint(id)`)
    if (endpoint.hadHandler) {
      // A replaced handler is a new life of the node: traffic meant for the old one is dropped.
      endpoint.incarnation++
      // The caller keeps using this object to send, so it moves to the new incarnation.
      transport.incarnation = endpoint.incarnation
      endpoint.transport = transport
    }
    endpoint.hadHandler = true
    endpoint.handler = handler
    return () => {
      if (endpoint.handler === handler) endpoint.handler = undefined
    }
  }

  #transmit (packet: Packet<M>, lost: boolean): void {
    const faults = this.#faults
    const prng = this.#prng
    let delayMs = faults.delayMs.min + prng.float() * (faults.delayMs.max - faults.delayMs.min)
    if (faults.delayTailMeanMs > 0) delayMs += prng.exponential(faults.delayTailMeanMs)
    if (prng.chance(faults.reorderRate)) {
      delayMs += faults.reorderDelayMs.min + prng.float() * (faults.reorderDelayMs.max - faults.reorderDelayMs.min)
    }
    if (lost) {
      this.#drop(packet.from, packet.to, packet.message, 'loss', packet.duplicate)
      return
    }
    this.#stats.inFlight++
    this.#scheduler.after(delayMs, () => { this.#arrive(packet) }, 'network.deliver')
  }

  #arrive (packet: Packet<M>): void {
    const stats = this.#stats
    const clog = this.#clogged.get(pathKey(packet.from, packet.to))
    if (clog !== undefined) {
      clog.held.push(packet) // Still in flight.
      return
    }
    stats.inFlight--
    // Only the receiver's state matters here: a message already on the wire when its sender
    // crashed still arrives, as it would in a real network (and it reports durable state).
    const target = this.#endpoints.get(packet.to)
    if (target === undefined || !target.up) {
      this.#drop(packet.from, packet.to, packet.message, 'down', packet.duplicate)
      return
    }
    if (target.incarnation !== packet.targetIncarnation) {
      this.#drop(packet.from, packet.to, packet.message, 'stale', packet.duplicate)
      return
    }
    // A link cut while the message was on its way loses it, as a reset connection would.
    if (!this.connected(packet.from, packet.to)) {
      this.#drop(packet.from, packet.to, packet.message, 'partition', packet.duplicate)
      return
    }
    const handler = target.handler
    if (handler === undefined) {
      this.#drop(packet.from, packet.to, packet.message, 'down', packet.duplicate)
      return
    }
    stats.delivered++
    this.#trace('deliver', packet.from, packet.to, packet.message, undefined, packet.duplicate)
    handler(packet.from, packet.message)
  }

  #drop (from: NodeId, to: NodeId, message: M, reason: DropReason, duplicate: boolean): void {
    const stats = this.#stats
    switch (reason) {
      case 'loss': stats.dropped++; break
      case 'partition': stats.droppedPartition++; break
      case 'down': case 'stale': stats.droppedDown++; break
    }
    this.#trace('drop', from, to, message, reason, duplicate)
  }

  #trace (kind: NetworkTraceEvent<M>['kind'], from: NodeId, to: NodeId, message: M, reason: DropReason | undefined, duplicate: boolean): void {
    const onTrace = this.onTrace
    if (onTrace === undefined) return
    const event: { -readonly [K in keyof NetworkTraceEvent<M>]: NetworkTraceEvent<M>[K] } = { time: this.#scheduler.now(), kind, from, to, message }
    if (reason !== undefined) event.reason = reason
    if (duplicate) event.duplicate = true
    onTrace(event)
  }
}

function pathKey (from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`
}

function validateFaults (faults: NetworkFaults): NetworkFaults {
  checkRange(faults.delayMs, 'delayMs')
  checkRange(faults.reorderDelayMs, 'reorderDelayMs')
  if (!(faults.delayTailMeanMs >= 0) || !Number.isFinite(faults.delayTailMeanMs)) {
    throw new InvalidSimOptionError(`delayTailMeanMs must be finite and ≥ 0, got ${faults.delayTailMeanMs}`, 'delayTailMeanMs')
  }
  for (const name of ['lossRate', 'duplicateRate', 'reorderRate'] as const) {
    const p = faults[name]
    if (!(p >= 0 && p <= 1)) throw new InvalidSimOptionError(`${name} must be in [0, 1], got ${p}`, name)
  }
  return { ...faults, delayMs: { ...faults.delayMs }, reorderDelayMs: { ...faults.reorderDelayMs } }
}

function checkRange (range: DelayRange, name: string): void {
  if (!(range.min >= 0) || !(range.max >= range.min) || !Number.isFinite(range.max)) {
    throw new InvalidSimOptionError(`${name} must satisfy 0 ≤ min ≤ max < ∞, got { min: ${range.min}, max: ${range.max} }`, name)
  }
}
