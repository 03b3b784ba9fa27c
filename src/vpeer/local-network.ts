import type { NodeId } from '../paxos/index.js'
import type { Transport } from '../contracts/index.js'
import { CodedError, InvalidArgumentError } from '../util/errors.js'

/** Misuse of a LocalNetwork endpoint (a second receiver on one endpoint). */
export class LocalNetworkError extends CodedError {
  static override name = 'LocalNetworkError'
  constructor (message: string, code: string) {
    super(message, code)
  }
}

export interface LocalNetworkOptions {
  /**
   * Receives what a receiver's handler threw; delivery of the other messages goes on. Default:
   * rethrow asynchronously (`queueMicrotask`), which makes it an `uncaughtException` — loud, as
   * the same throw from a socket's data handler would be, and never swallowed.
   */
  readonly onError?: (error: unknown, to: NodeId) => void
}

/** Counters since the network was created. `sent` counts every `send` call, delivered or not. */
export interface LocalNetworkStats {
  readonly endpoints: number
  readonly connected: number
  readonly sent: number
  readonly delivered: number
  /** Queued and not yet delivered or dropped. */
  readonly inFlight: number
  readonly dropped: {
    /** Addressed to an id that has no endpoint. */
    readonly unknown: number
    /** The sender or the receiver was disconnected when it was sent or when it was due. */
    readonly disconnected: number
    /** Sent before a disconnect of either side that has since been reconnected. */
    readonly stale: number
    /** The receiver had no handler registered when it was due. */
    readonly noHandler: number
  }
}

interface Port<M> {
  readonly id: NodeId
  connected: boolean
  /** Bumped by every disconnect: a message carries both ends' incarnations from when it was sent. */
  incarnation: number
  handler: ((from: NodeId, message: M) => void) | undefined
  readonly transport: Transport<M>
}

interface InFlight<M> {
  readonly from: Port<M>
  readonly to: Port<M>
  readonly fromIncarnation: number
  readonly toIncarnation: number
  readonly message: M
}

/**
 * An in-process hub connecting several peers of one process: tests, examples, or an application
 * that embeds several replicas. No sockets, no serialization.
 *
 * - Delivery is asynchronous: never inside `send` (the runtime sends from within its own
 *   handlers and must not be re-entered), but on a later `setImmediate` turn, so timers and I/O
 *   get their turn between rounds of messages.
 * - FIFO per sender→receiver pair (in fact in global send order). Nothing is duplicated or
 *   reordered; messages are lost only through the cases counted in `stats().dropped`.
 * - Messages are passed by reference, not copied: the receiver gets the very object the sender
 *   passed. Messages must therefore be immutable once sent (the Paxos core's are); a sender that
 *   mutated a message after `send` would change what the receiver sees.
 * - `disconnect(id)` pulls the cable: the endpoint's sends are dropped, and so is everything in
 *   flight to or from it. `reconnect(id)` plugs it back in as a new incarnation: messages sent
 *   before the disconnect are never delivered afterwards, even to a handler registered later.
 *   To model a crash, disconnect before halting the peer and reconnect before starting its
 *   successor; a halt alone only unsubscribes, and in-flight messages then reach the successor
 *   (allowed for a Transport — it may delay — but not what a crash looks like).
 * - A send to an id that has no endpoint is dropped and counted, never thrown: a Transport may
 *   lose messages, and a sender cannot be expected to know who exists.
 */
export class LocalNetwork<M> {
  private readonly ports = new Map<NodeId, Port<M>>()
  private readonly onError: (error: unknown, to: NodeId) => void
  private queue: Array<InFlight<M>> = []
  private scheduled = false
  private sent = 0
  private delivered = 0
  private droppedUnknown = 0
  private droppedDisconnected = 0
  private droppedStale = 0
  private droppedNoHandler = 0

  constructor (options: LocalNetworkOptions = {}) {
    this.onError = options.onError ?? rethrowAsync
  }

  /** The endpoint of `id`, created (connected) on first use; the same object on later calls. */
  endpoint (id: NodeId): Transport<M> {
    if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError(`id must be a non-empty string, got ${JSON.stringify(id)}`)
    const existing = this.ports.get(id)
    if (existing !== undefined) return existing.transport
    const port: Port<M> = {
      id,
      connected: true,
      incarnation: 0,
      handler: undefined,
      transport: {
        send: (to, message) => { this.send(port, to, message) },
        onMessage: handler => this.subscribe(port, handler)
      }
    }
    this.ports.set(id, port)
    return port.transport
  }

  /** Cuts `id` off: its sends and all its traffic in flight are dropped until `reconnect`. Idempotent. */
  disconnect (id: NodeId): void {
    const port = this.port(id)
    if (!port.connected) return
    port.connected = false
    port.incarnation++
  }

  /** Reconnects `id` as a new incarnation (see the class comment). Idempotent. */
  reconnect (id: NodeId): void {
    this.port(id).connected = true
  }

  isConnected (id: NodeId): boolean {
    return this.port(id).connected
  }

  stats (): LocalNetworkStats {
    let connected = 0
    for (const p of this.ports.values()) if (p.connected) connected++
    return {
      endpoints: this.ports.size,
      connected,
      sent: this.sent,
      delivered: this.delivered,
      inFlight: this.queue.length,
      dropped: {
        unknown: this.droppedUnknown,
        disconnected: this.droppedDisconnected,
        stale: this.droppedStale,
        noHandler: this.droppedNoHandler
      }
    }
  }

  private port (id: NodeId): Port<M> {
    const port = this.ports.get(id)
    if (port === undefined) throw new InvalidArgumentError(`no endpoint ${JSON.stringify(id)} on this network`)
    return port
  }

  private subscribe (port: Port<M>, handler: (from: NodeId, message: M) => void): () => void {
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    // Two receivers on one endpoint would each miss what the other got: a wiring bug, so loud.
    if (port.handler !== undefined) {
      throw new LocalNetworkError(`endpoint ${JSON.stringify(port.id)} already has a receiver; unsubscribe it first`, 'ERR_ENDPOINT_IN_USE')
    }
    port.handler = handler
    return () => {
      // Only our own registration: a stale unsubscribe must not remove a successor's handler.
      if (port.handler === handler) port.handler = undefined
    }
  }

  private send (from: Port<M>, to: NodeId, message: M): void {
    this.sent++
    const target = this.ports.get(to)
    if (target === undefined) { this.droppedUnknown++; return }
    if (!from.connected || !target.connected) { this.droppedDisconnected++; return }
    this.queue.push({ from, to: target, fromIncarnation: from.incarnation, toIncarnation: target.incarnation, message })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => { this.flush() })
    }
  }

  /** Delivers what was queued before this turn; messages sent by the handlers wait for the next one. */
  private flush (): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    for (const m of batch) {
      const { from, to } = m
      if (!from.connected || !to.connected) { this.droppedDisconnected++; continue }
      if (from.incarnation !== m.fromIncarnation || to.incarnation !== m.toIncarnation) { this.droppedStale++; continue }
      const handler = to.handler
      if (handler === undefined) { this.droppedNoHandler++; continue }
      this.delivered++
      try {
        handler(from.id, m.message)
      } catch (error) {
        this.onError(error, to.id)
      }
    }
  }
}

function rethrowAsync (error: unknown): void {
  queueMicrotask(() => { throw error })
}
