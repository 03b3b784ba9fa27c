/**
 * `Transport<WireMessage>` over libp2p: what members of a group send each other.
 *
 * - Two protocols: Paxos messages on `/vpeer/paxos/1.0.0`, snapshot transfer on
 *   `/vpeer/snapshot/1.0.0`, each on its own stream, so a heartbeat never waits behind a 64 KiB
 *   chunk.
 * - One long-lived outbound stream per peer and protocol, opened on first use and reopened with
 *   exponential backoff after it fails. Frames are length-prefixed (`frames.ts`), encoded by the
 *   wire codec; a burst goes out as one write.
 * - The send queue of each stream is bounded (frames and bytes). On overflow the oldest frames
 *   are dropped: Paxos tolerates loss and retries, while an unbounded queue toward a dead peer
 *   would grow until the process dies, and the newest messages (heartbeats, the latest accepts)
 *   are the useful ones.
 * - Access control: only peers `isAllowed` admits (the members of the configurations this node
 *   knows, and a spare's seeds) may speak these protocols. Noise authenticated the remote PeerId,
 *   so the check is real. Anyone else's stream is closed with a logged reason. The check runs
 *   per frame too, so a member removed from the group is cut off mid-stream.
 * - Bad input closes the stream it came on, with a logged reason: a frame over the limit, a
 *   truncated frame, bytes the codec refuses, a message on the wrong protocol. The node keeps
 *   serving everyone else. Whatever decodes then passes the runtime's validation
 *   (`src/vpeer/message-validation.ts`) before anything acts on it.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Transport, WireMessage } from '../contracts/index.js'
import type { NodeId } from '../paxos/index.js'
import { BadFrameError, InvalidAddressError, NetStoppedError, PeerNotAllowedError } from './errors.js'
import { FrameReader, frameAll, framedBytes } from './frames.js'
import type { NetLogger } from './log.js'
import { errorFields, silentLogger } from './log.js'
import { PROTOCOL_PREFIX } from './node-factory.js'
import { DEFAULT_FRAME_BYTES_MAX } from './wire-codec.js'

/** Turns wire messages into bytes and back; `decode` throws a typed error on bad bytes. */
export interface WireCodec {
  encode (message: WireMessage): Uint8Array
  decode (bytes: Uint8Array): WireMessage
}

export const PAXOS_PROTOCOL = `/${PROTOCOL_PREFIX}/paxos/1.0.0`
export const SNAPSHOT_PROTOCOL = `/${PROTOCOL_PREFIX}/snapshot/1.0.0`

export interface Libp2pTransportOptions {
  readonly node: Libp2p
  readonly codec: WireCodec
  /**
   * Whether `peer` may speak the Paxos and snapshot protocols to this node. Called for each
   * inbound stream and each frame, so it must be cheap (a set lookup).
   */
  readonly isAllowed: (peer: NodeId) => boolean
  /** Largest frame accepted or sent, bytes (default: the wire codec's, a snapshot chunk at its limit and room to spare). */
  readonly frameBytesMax?: number
  /** Frames queued per peer and protocol before the oldest are dropped (default 4096). */
  readonly queueFramesMax?: number
  /** Bytes queued per peer and protocol before the oldest are dropped (default 32 MiB). */
  readonly queueBytesMax?: number
  /** Reconnect backoff: first delay and cap, ms (default 25 and 1000). */
  readonly backoffMs?: { readonly initial: number, readonly max: number }
  /** A dial that has not connected after this long is abandoned, ms (default 2000). */
  readonly dialTimeoutMs?: number
  readonly log?: NetLogger
}

export interface Libp2pTransportStats {
  readonly framesSent: number
  readonly framesReceived: number
  /** Frames dropped from a full send queue. */
  readonly framesDroppedOverflow: number
  /** Messages that could not be encoded or exceeded the frame limit (a bug of the sender's). */
  readonly framesUnsendable: number
  /** Inbound streams closed because the peer is not allowed. */
  readonly streamsRefused: number
  /** Inbound streams closed because of a bad frame. */
  readonly streamsClosedBadFrame: number
  readonly dials: number
  readonly dialFailures: number
}

/** Bytes coalesced into one write. */
const WRITE_BATCH_BYTES = 256 * 1024

type Counters = { -readonly [K in keyof Libp2pTransportStats]: number }

export class Libp2pTransport implements Transport<WireMessage> {
  private readonly node: Libp2p
  private readonly codec: WireCodec
  private readonly isAllowed: (peer: NodeId) => boolean
  readonly frameBytesMax: number
  private readonly log: NetLogger
  private readonly channels = new Map<string, OutboundChannel>()
  private readonly inbound = new Set<Stream>()
  private handler: ((from: NodeId, message: WireMessage) => void) | undefined
  private started = false
  private stopped = false
  private readonly counters: Counters = {
    framesSent: 0, framesReceived: 0, framesDroppedOverflow: 0, framesUnsendable: 0, streamsRefused: 0, streamsClosedBadFrame: 0, dials: 0, dialFailures: 0
  }

  private readonly channelHost: ChannelHost

  constructor (options: Libp2pTransportOptions) {
    this.node = options.node
    this.codec = options.codec
    this.isAllowed = options.isAllowed
    this.frameBytesMax = options.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX
    this.log = options.log ?? silentLogger
    const channelOptions: ChannelOptions = {
      queueFramesMax: options.queueFramesMax ?? 4096,
      queueBytesMax: options.queueBytesMax ?? 32 * 1024 * 1024,
      backoffInitialMs: options.backoffMs?.initial ?? 25,
      backoffMaxMs: options.backoffMs?.max ?? 1000,
      dialTimeoutMs: options.dialTimeoutMs ?? 2000
    }
    this.channelHost = {
      options: channelOptions,
      counters: this.counters,
      log: this.log,
      dial: async (to, protocol, signal) => {
        this.counters.dials++
        return await this.node.dialProtocol(peerIdFromString(to), protocol, { signal })
      }
    }
  }

  /** Registers the protocol handlers. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    for (const protocol of [PAXOS_PROTOCOL, SNAPSHOT_PROTOCOL]) {
      await this.node.handle(protocol, (stream, connection) => { this.serve(protocol, stream, connection) }, {
        // One stream per peer, plus room for a reconnect that overlaps the old stream's teardown.
        maxInboundStreams: 8,
        maxOutboundStreams: 8
      })
    }
  }

  /** Closes every stream and drops every queued frame. The libp2p node is the caller's to stop. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.handler = undefined
    if (this.started) await this.node.unhandle([PAXOS_PROTOCOL, SNAPSHOT_PROTOCOL]).catch(() => {})
    for (const channel of this.channels.values()) channel.close()
    this.channels.clear()
    for (const stream of this.inbound) stream.abort(new NetStoppedError())
    this.inbound.clear()
  }

  /** Tells libp2p where `peer` listens (merged into its peer store). */
  async addPeer (peer: NodeId, addresses: readonly Multiaddr[]): Promise<void> {
    let id
    try {
      id = peerIdFromString(peer)
    } catch (error) {
      throw new InvalidAddressError(`not a peer id: ${JSON.stringify(peer.slice(0, 100))}`, { cause: error })
    }
    if (id.equals(this.node.peerId)) return
    await this.node.peerStore.merge(id, { multiaddrs: [...addresses] })
  }

  send (to: NodeId, message: WireMessage): void {
    if (this.stopped) return
    let body: Uint8Array
    try {
      body = this.codec.encode(message)
    } catch (error) {
      this.counters.framesUnsendable++
      this.log.error({ to, type: message.type, ...errorFields(error) }, 'message could not be encoded; dropped')
      return
    }
    if (body.byteLength > this.frameBytesMax) {
      this.counters.framesUnsendable++
      this.log.error({ to, type: message.type, bytes: body.byteLength, limit: this.frameBytesMax }, 'message exceeds the frame limit; dropped')
      return
    }
    const protocol = message.type.startsWith('snapshot') ? SNAPSHOT_PROTOCOL : PAXOS_PROTOCOL
    const key = `${protocol} ${to}`
    let channel = this.channels.get(key)
    if (channel === undefined) {
      channel = new OutboundChannel(this.channelHost, to, protocol)
      this.channels.set(key, channel)
    }
    channel.enqueue(body)
  }

  onMessage (handler: (from: NodeId, message: WireMessage) => void): () => void {
    this.handler = handler
    return () => { if (this.handler === handler) this.handler = undefined }
  }

  /** Told when the last connection to a peer closes (libp2p's `peer:disconnect`). */
  onPeerDown (handler: (peer: NodeId) => void): () => void {
    const listener = (event: CustomEvent<{ toString: () => string }>): void => {
      if (!this.stopped) handler(event.detail.toString())
    }
    this.node.addEventListener('peer:disconnect', listener)
    return () => { this.node.removeEventListener('peer:disconnect', listener) }
  }

  stats (): Libp2pTransportStats {
    return { ...this.counters }
  }

  get isStopped (): boolean {
    return this.stopped
  }

  private serve (protocol: string, stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString()
    if (this.stopped) { stream.abort(new NetStoppedError()); return }
    if (!this.isAllowed(from)) {
      this.counters.streamsRefused++
      this.log.warn({ peer: from, protocol, remote: connection.remoteAddr.toString() }, 'stream refused: peer is not in a configuration this node knows')
      stream.abort(new PeerNotAllowedError(from, protocol))
      return
    }
    this.inbound.add(stream)
    void this.readFrames(protocol, stream, from).then(
      () => { this.inbound.delete(stream) },
      (error: unknown) => {
        this.inbound.delete(stream)
        this.log.debug({ peer: from, protocol, ...errorFields(error) }, 'inbound stream ended')
      }
    )
  }

  private async readFrames (protocol: string, stream: Stream, from: NodeId): Promise<void> {
    const reader = new FrameReader(this.frameBytesMax)
    const snapshotChannel = protocol === SNAPSHOT_PROTOCOL
    try {
      for await (const chunk of stream) {
        for (const body of reader.push(chunk)) {
          if (!this.isAllowed(from)) throw new PeerNotAllowedError(from, protocol)
          const message = this.codec.decode(body)
          if (message.type.startsWith('snapshot') !== snapshotChannel) {
            throw new BadFrameError(`${message.type} message on ${protocol}`)
          }
          this.counters.framesReceived++
          this.deliver(from, message)
        }
      }
      if (reader.pending) throw new BadFrameError('stream ended inside a frame (truncated)')
      await stream.close().catch(() => {})
    } catch (error) {
      if (this.stopped || stream.status === 'reset' || stream.status === 'aborted') throw error
      const refused = error instanceof PeerNotAllowedError
      if (refused) this.counters.streamsRefused++
      else this.counters.streamsClosedBadFrame++
      this.log.warn({ peer: from, protocol, ...errorFields(error) }, refused ? 'stream closed: peer left the configurations this node knows' : 'stream closed: bad frame')
      stream.abort(error instanceof Error ? error : new BadFrameError(String(error)))
    }
  }

  private deliver (from: NodeId, message: WireMessage): void {
    const handler = this.handler
    if (handler === undefined) return
    try {
      handler(from, message)
    } catch (error) {
      // The runtime's handler never throws (it halts the replica instead); a bug here must not
      // close the stream for everyone else's messages.
      this.log.error({ peer: from, type: message.type, ...errorFields(error) }, 'message handler threw')
    }
  }
}

/** What a channel needs of its transport. */
interface ChannelHost {
  readonly options: ChannelOptions
  readonly counters: Counters
  readonly log: NetLogger
  dial (to: NodeId, protocol: string, signal: AbortSignal): Promise<Stream>
}

interface ChannelOptions {
  readonly queueFramesMax: number
  readonly queueBytesMax: number
  readonly backoffInitialMs: number
  readonly backoffMaxMs: number
  readonly dialTimeoutMs: number
}

/**
 * The outbound stream to one peer for one protocol, with its bounded queue. At most one dial or
 * one pump runs at a time.
 */
class OutboundChannel {
  private queue: Uint8Array[] = []
  private head = 0
  private queuedBytes = 0
  private stream: Stream | undefined
  private busy = false
  private failures = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private dialAbort: AbortController | undefined
  private closed = false
  private flushQueued = false

  constructor (
    private readonly transport: ChannelHost,
    private readonly to: NodeId,
    private readonly protocol: string
  ) {}

  enqueue (body: Uint8Array): void {
    if (this.closed) return
    const opts = this.transport.options
    this.queue.push(body)
    this.queuedBytes += framedBytes(body)
    while (this.length > opts.queueFramesMax || (this.queuedBytes > opts.queueBytesMax && this.length > 1)) {
      const dropped = this.queue[this.head] as Uint8Array
      this.queue[this.head++] = EMPTY
      this.queuedBytes -= framedBytes(dropped)
      this.transport.counters.framesDroppedOverflow++
    }
    // Once the current synchronous run is over: every message the runtime sends to this peer
    // while carrying out one Ready then leaves in one write (one muxer frame, one syscall).
    if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(() => {
        this.flushQueued = false
        this.kick()
      })
    }
  }

  close (): void {
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.dialAbort?.abort()
    this.stream?.abort(new NetStoppedError())
    this.stream = undefined
    this.queue = []
    this.head = 0
    this.queuedBytes = 0
  }

  private get length (): number {
    return this.queue.length - this.head
  }

  private kick (): void {
    if (this.busy || this.closed || this.retryTimer !== undefined || this.length === 0) return
    this.busy = true
    void this.run().then(
      () => { this.busy = false; this.kick() },
      (error: unknown) => {
        this.busy = false
        this.failed(error)
      }
    )
  }

  private async run (): Promise<void> {
    if (this.stream === undefined || this.stream.status !== 'open' || this.stream.writeStatus !== 'writable') {
      this.stream = undefined
      const ctl = new AbortController()
      this.dialAbort = ctl
      const timer = setTimeout(() => { ctl.abort() }, this.transport.options.dialTimeoutMs)
      let stream: Stream
      try {
        stream = await this.transport.dial(this.to, this.protocol, ctl.signal)
      } finally {
        clearTimeout(timer)
        this.dialAbort = undefined
      }
      if (this.closed) { stream.abort(new NetStoppedError()); return }
      this.stream = stream
      this.failures = 0
      // The receiver never writes on this stream; a close from its side ends our use of it.
      stream.addEventListener('close', () => { if (this.stream === stream) this.stream = undefined; this.kick() }, { once: true })
      this.transport.log.debug({ peer: this.to, protocol: this.protocol }, 'outbound stream open')
    }
    const stream = this.stream
    while (this.length > 0 && !this.closed && this.stream === stream) {
      const batch: Uint8Array[] = []
      let bytes = 0
      while (this.length > 0 && (batch.length === 0 || bytes < WRITE_BATCH_BYTES)) {
        const body = this.queue[this.head] as Uint8Array
        this.queue[this.head++] = EMPTY
        bytes += framedBytes(body)
        batch.push(body)
      }
      this.queuedBytes -= bytes
      if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0 }
      const ok = stream.send(frameAll(batch))
      this.transport.counters.framesSent += batch.length
      if (!ok) await stream.onDrain()
    }
  }

  private failed (error: unknown): void {
    this.stream?.abort(error instanceof Error ? error : new Error(String(error)))
    this.stream = undefined
    if (this.closed) return
    this.transport.counters.dialFailures++
    this.failures++
    const opts = this.transport.options
    const delay = Math.min(opts.backoffMaxMs, opts.backoffInitialMs * 2 ** Math.min(this.failures - 1, 20))
    // Jitter keeps reconnecting members from dialing in lockstep after a partition heals.
    const wait = delay / 2 + Math.random() * delay / 2
    this.transport.log.debug({ peer: this.to, protocol: this.protocol, retryInMs: Math.round(wait), ...errorFields(error) }, 'outbound stream failed')
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.kick()
    }, wait)
  }
}

const EMPTY = new Uint8Array(0)
