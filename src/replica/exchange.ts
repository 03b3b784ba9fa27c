/**
 * Block exchange: replication nodes fetch the chunks they lack from every peer that has them, on
 * `/vpeer/blocks/1.0.0` (messages: src/sync/exchange-codec.ts; scheduling: src/sync/swarm.ts).
 *
 * ```
 *   fetch(chunks, peers) ──► want(ids) to every peer ──► have bitmaps ─┐
 *        ▲                                                            ▼
 *        │            announce(ids) from peers that stored one ──► Swarm (rarest first)
 *        │                                                            │ next()
 *        └── verify (SHA-256 = id, size = ref) ◄── block ◄── get(id) ◄┘
 *                 └─► store.put ─► announce to the peers that wanted it
 * ```
 *
 * - **Streams.** One long-lived stream per direction of a peer pair: the fetching side opens it
 *   and sends requests, multiplexed by `req`; the other side answers and pushes announcements on
 *   it. A stream per batch would pay a multistream-select negotiation (a round trip) per batch
 *   and lose the stream that carries announcements, which must outlive any one batch; libp2p
 *   also limits inbound streams per protocol and connection. One stream per direction means a
 *   1 MiB block can delay a small answer behind it (head-of-line), which is harmless here: all
 *   answers on one stream come from one server whose upload is the bottleneck anyway.
 * - **Announcements.** A `want` subscribes the asker to the ids the server lacked. When this node
 *   stores a chunk (fetched, or added locally: `notifyStored`), it announces it to every peer
 *   subscribed to it, once. Receivers of one origin thus learn from each other as soon as a chunk
 *   lands and serve each other while the origin is still sending.
 * - **Flow control.** Each peer has a window of bytes we keep requested from it, kept across
 *   fetches: it grows with every prompt answer and shrinks while answers queue up behind other
 *   askers (`queueDelayTargetMs`). At a slow origin, a full window per receiver meant chunks
 *   served to several receivers before any could pass them on.
 * - **Endgame.** Requests still in flight at the end are copied to a second holder only once
 *   they are old (`endgameAfterMs`), within a byte budget: see swarm.ts.
 * - **Verification.** Every chunk received is checked: its length against the ref's size here, its
 *   SHA-256 against its id by `store.put` (the `ChunkStore` contract: put refuses bytes that do not
 *   hash to the id with `CorruptChunkError`), hashed once, not twice. A bad one gives its sender a
 *   strike (`Swarm`: banned from that fetch at `strikesMax`) and the chunk is fetched elsewhere.
 *   What is sent comes from `store.get`, which verifies what it read (the contract again): a
 *   damaged disk sends `missing`, never a wrong chunk.
 * - **Access.** Only peers `isAllowed` admits may open a stream to us (checked per frame too, so
 *   a revoked peer is cut off mid-stream); a stranger's stream is reset with a warn log.
 * - **Bad input** (a frame over the limit, a truncated frame, bytes the codec refuses, a request on
 *   the answering side) closes that stream with a warn log; the node serves everyone else.
 * - **Shaping** (`shaper`): see link-shaper.ts; upload tokens before every write, download tokens
 *   before a read frame is handled, then the one-way delay.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { RandomSource } from '../contracts/index.js'
import { BadFrameError, NetStoppedError, PeerNotAllowedError } from '../alm/errors.js'
import { FrameReader, frameAll, framedBytes } from '../alm/frames.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { PROTOCOL_PREFIX } from '../alm/node-factory.js'
import { isChunkId } from '../sync/chunk.js'
import type { ChunkId, ChunkRef, ChunkStore } from '../sync/chunk.js'
import { CorruptChunkError, SyncCodecError, SyncError } from '../sync/errors.js'
import { EXCHANGE_LIMITS, decodeExchangeMessage, encodeExchangeMessage, isRequestMessage } from '../sync/exchange-codec.js'
import type { ExchangeMessage } from '../sync/exchange-codec.js'
import { Swarm } from '../sync/swarm.js'
import type { SwarmRequest } from '../sync/swarm.js'
import { AbortError, InvalidArgumentError } from '../util/errors.js'
import { LinkShaper } from './link-shaper.js'

export const BLOCK_PROTOCOL = `/${PROTOCOL_PREFIX}/blocks/1.0.0`

export interface BlockExchangeLimits {
  /**
   * Requests in flight to one peer per fetch (default 32); `perPeerBytesMax` is usually the bound
   * that binds. Shallow on purpose: requests queued at a slow origin are served even after other
   * receivers got those chunks, so a deep queue makes the origin upload duplicates. Measured
   * (bench/exchange.ts, 5 receivers, 64 KiB chunks, 3 Mbit/s): 8 → 21.7 s and the origin uploads
   * 1.88× the data; 4 → 17.5 s, 1.55×. With 16 KiB chunks (16 MiB unshaped) 4 requests were
   * latency-bound: 11.4 s; 256 KiB per peer: 5.6 s, origin 1.37×; 1 MiB: 3.4 s but 1.94×.
   */
  readonly perPeerMax?: number
  /**
   * The largest window of bytes in flight to one peer per fetch (default 256 KiB; a peer under
   * its window may get one more chunk); the window itself follows the peer's queueing delay
   * (`queueDelayTargetMs`). With 16 KiB chunks the request count alone (4 × 16 KiB) kept a fetch
   * latency-bound.
   */
  readonly perPeerBytesMax?: number
  /** Bytes in flight per fetch (default 4 MiB). */
  readonly inflightBytesMax?: number
  /** A `get` unanswered after this long fails and its chunk is asked elsewhere, ms (default 60 000). */
  readonly requestTimeoutMs?: number
  /** A fetch with nothing in flight and nothing to ask waits this long for an announcement, ms (default 30 000). */
  readonly idleTimeoutMs?: number
  /** Dialing a peer and opening the stream, ms (default 10 000). */
  readonly openTimeoutMs?: number
  /** `get`s one peer may have queued here before it is told `busy` (default 32). */
  readonly servingMax?: number
  /** Ids one peer may be subscribed to here; the oldest are forgotten beyond (default 65 536). */
  readonly subscriptionsMax?: number
  /** Corrupt chunks from one peer before a fetch stops asking it (default 3). */
  readonly strikesMax?: number
  /** Requests per chunk in the endgame (default 2). */
  readonly endgameCopies?: number
  /** Bytes of endgame copies in flight per fetch (default 64 KiB; see swarm.ts). */
  readonly endgameBytesMax?: number
  /**
   * A request is copied to another holder only after this long in flight, ms (default 250): on
   * a fast network the answer comes first, and an immediate copy was the same bytes sent twice
   * (S5 of bench:sync moved 5 × the changed chunks). A slow or hung peer's requests are still
   * copied, a quarter second later.
   */
  readonly endgameAfterMs?: number
  /**
   * Flow control per peer: while a peer's answers come back this much later than the fastest
   * answer it gave lately, ms (default 400), the bytes we keep requested from it shrink toward
   * `perPeerBytesMin`; while they come back sooner, the window grows back to `perPeerBytesMax`.
   * Requests queued at a slow origin are served even after other receivers got those chunks:
   * every receiver keeping the full window queued there made the origin upload the same chunks
   * several times (the paper's case 3.1: 1.5 × the data set at 3 Mbit/s). 100 ms did slightly
   * better there (1.23 × the limit against 1.27 ×) but shrank windows on a CPU-bound fast
   * network, where answers wait for the event loop, not for a link (S1 about 15 % slower).
   */
  readonly queueDelayTargetMs?: number
  /** The smallest per-peer window, bytes (default 16 KiB: one average chunk). */
  readonly perPeerBytesMin?: number
}

export interface BlockExchangeOptions {
  readonly node: Libp2p
  readonly store: ChunkStore
  /** Whether `peer` (a PeerId string) may fetch from us: the VP's members, learners and allowed peers. */
  readonly isAllowed: (peer: string) => boolean
  readonly log?: NetLogger
  readonly limits?: BlockExchangeLimits
  /** Emulate a host link: rate in each direction and one-way delay (or a shaper to share). */
  readonly shaper?: { readonly bitsPerSecond: number, readonly delayMs: number } | LinkShaper
  /** Tie-breaks of the scheduler (default Math.random). */
  readonly random?: RandomSource
}

export interface FetchProgress {
  readonly chunks: number
  readonly chunksTotal: number
  readonly bytes: number
  readonly bytesTotal: number
}

export interface FetchOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: FetchProgress) => void
}

export interface FetchResult {
  /** Chunks fetched (those already in the store are not counted). */
  readonly chunks: number
  readonly bytes: number
  /** Chunk bytes stored, by the peer that sent them. */
  readonly fromPeer: Readonly<Record<string, number>>
}

export interface PeerTraffic { readonly sent: number, readonly received: number }

export interface BlockExchangeStats {
  /** Bytes on the wire (frames with their length prefix), both directions, all peers. */
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly perPeer: Readonly<Record<string, PeerTraffic>>
  readonly blocksServed: number
  readonly blocksFetched: number
  /** Corrupt or wrong-size chunks received, by sender. */
  readonly corrupt: Readonly<Record<string, number>>
  readonly streamsRefused: number
  readonly streamsClosedBadFrame: number
  /** `get`s that went unanswered for `requestTimeoutMs` (asked again elsewhere). */
  readonly requestsTimedOut: number
}

/** A fetch ended with chunks that no reachable peer has. */
export class ChunksUnavailableError extends SyncError {
  static override name = 'ChunksUnavailableError'
  readonly missing: readonly ChunkId[]
  constructor (missing: readonly ChunkId[], detail: string) {
    super(`${missing.length} chunk(s) could not be fetched: ${detail}`, 'ERR_CHUNKS_UNAVAILABLE')
    this.missing = missing
  }
}

/** The peer's stream closed while a request was waiting for its answer. */
class StreamGoneError extends SyncError {
  constructor (peer: string) { super(`block stream to ${peer} closed`, 'ERR_BLOCK_STREAM_CLOSED') }
}

const WRITE_BATCH_BYTES = 64 * 1024
/** `store.has` calls at once when a fetch sorts out what it already holds. */
const HAS_BATCH = 64
const FRAME_BYTES_MAX = EXCHANGE_LIMITS.messageBytesMax

type Answer = Extract<ExchangeMessage, { type: 'have' | 'block' | 'missing' | 'busy' }>

interface Pending {
  resolve (answer: Answer): void
  reject (error: Error): void
}

/**
 * One stream, either side. The opener sends requests and routes answers to their `req`; the
 * server answers requests and sends announcements. Frames go out in order through one pump.
 */
class Session {
  readonly peer: string
  readonly role: 'opener' | 'server'
  private readonly reader = new FrameReader(FRAME_BYTES_MAX)
  private readonly queue: Array<{ body: Uint8Array, req?: number }> = []
  private pumping = false
  closed = false
  private readonly closeListeners = new Set<() => void>()
  // opener
  private nextReq = 1
  private readonly pending = new Map<number, Pending>()
  readonly announceListeners = new Set<(ids: readonly ChunkId[]) => void>()
  // server
  /** Ids the peer wanted and we lacked, oldest first: it hears of them when we store them. */
  readonly subscribed = new Set<ChunkId>()
  private readonly cancelled = new Set<number>()
  private serving = 0

  constructor (readonly ex: BlockExchange, readonly stream: Stream, peer: string, role: 'opener' | 'server') {
    this.peer = peer
    this.role = role
    stream.addEventListener('close', () => { this.shutdown() }, { once: true })
  }

  onClose (listener: () => void): () => void {
    if (this.closed) { listener(); return () => {} }
    this.closeListeners.add(listener)
    return () => { this.closeListeners.delete(listener) }
  }

  send (message: ExchangeMessage, req?: number): void {
    if (this.closed) return
    this.queue.push({ body: encodeExchangeMessage(message), req })
    if (!this.pumping) {
      this.pumping = true
      void this.pump().catch((error: unknown) => { this.pumping = false; this.fail(error) })
    }
  }

  /**
   * Writes the queue out. `pumping` is cleared in the same synchronous step that finds the queue
   * empty: clearing it in a `.finally` on the returned promise (as this once did) left a few microtasks in which a
   * `send` saw `pumping` still set, queued its frame, and nobody wrote it until the next send
   * (at the end of a transfer, the request timeout 60 s later).
   */
  private async pump (): Promise<void> {
    for (;;) {
      if (this.queue.length === 0 || this.closed) {
        // Synchronously with the check: see pump().
        this.pumping = false
        return
      }
      const batch: Uint8Array[] = []
      let bytes = 0
      while (this.queue.length > 0 && (batch.length === 0 || bytes < WRITE_BATCH_BYTES)) {
        const item = this.queue.shift() as { body: Uint8Array, req?: number }
        // An endgame copy the opener cancelled before we got to it: not sent at all.
        if (item.req !== undefined && this.cancelled.delete(item.req)) { this.serving--; continue }
        if (item.req !== undefined) this.serving--
        batch.push(item.body)
        bytes += framedBytes(item.body)
      }
      if (batch.length === 0) continue
      await this.ex.shaper?.beforeSend(bytes)
      if (this.closed) { this.pumping = false; return }
      this.ex.count(this.peer, bytes, 0)
      if (!this.stream.send(frameAll(batch))) await this.stream.onDrain()
    }
  }

  /** Reads until the stream ends; throws on a bad frame (the caller closes the stream). */
  async read (): Promise<void> {
    const shaper = this.ex.shaper
    for await (const chunk of this.stream) {
      for (const body of this.reader.push(chunk)) {
        const bytes = framedBytes(body)
        this.ex.count(this.peer, 0, bytes)
        if (shaper !== undefined) await shaper.afterReceive(bytes)
        const message = decodeExchangeMessage(body)
        if (isRequestMessage(message) !== (this.role === 'server')) throw new SyncCodecError(`${message.type} sent to the ${this.role === 'server' ? 'answering' : 'asking'} side of a block stream`)
        if (this.role === 'server' && !this.ex.isAllowed(this.peer)) throw new PeerNotAllowedError(this.peer, BLOCK_PROTOCOL)
        if (shaper !== undefined && shaper.delayMs > 0) setTimeout(() => { this.dispatch(message) }, shaper.delayMs)
        else this.dispatch(message)
      }
    }
    if (this.reader.pending) throw new BadFrameError('stream ended inside a frame (truncated)')
  }

  private dispatch (message: ExchangeMessage): void {
    if (this.closed) return
    if (this.role === 'server') { this.serve(message); return }
    if (message.type === 'announce') {
      for (const l of this.announceListeners) l(message.ids)
      return
    }
    if (message.type === 'want' || message.type === 'get' || message.type === 'cancel') return
    const p = this.pending.get(message.req)
    // An answer to a request we cancelled or timed out: its bytes are spent, nothing to do.
    if (p === undefined) return
    this.pending.delete(message.req)
    p.resolve(message)
  }

  // ---- opener side

  request (build: (req: number) => ExchangeMessage): { req: number, answer: Promise<Answer> } {
    const req = this.nextReq++
    if (this.closed) return { req, answer: Promise.reject(new StreamGoneError(this.peer)) }
    const answer = new Promise<Answer>((resolve, reject) => { this.pending.set(req, { resolve, reject }) })
    this.send(build(req))
    return { req, answer }
  }

  /** Forgets `req` (its answer is dropped) and tells the server to skip it if it has not sent it. */
  cancel (req: number): void {
    if (this.pending.delete(req)) this.send({ type: 'cancel', req })
  }

  // ---- server side

  private serve (message: ExchangeMessage): void {
    switch (message.type) {
      case 'want':
        void this.ex.answerWant(this, message.req, message.ids)
        return
      case 'get': {
        const limit = this.ex.limit('servingMax')
        if (this.serving >= limit) { this.send({ type: 'busy', req: message.req }); return }
        this.serving++
        void this.ex.answerGet(this, message.req, message.id).catch((error: unknown) => {
          // The store failed in a way answerGet did not expect: a bug or a dead disk. The request is answered anyway.
          this.serving--
          this.ex.log.error({ peer: this.peer, ...errorFields(error) }, 'serving a block failed')
          this.send({ type: 'missing', req: message.req, id: message.id })
        })
        return
      }
      case 'cancel':
        if (this.queue.some(item => item.req === message.req)) this.cancelled.add(message.req)
    }
  }

  /** Queues the answer to a `get` (it counts as served until written or cancelled). */
  sendServed (message: ExchangeMessage, req: number): void {
    if (this.closed) return
    this.send(message, req)
  }

  subscribe (ids: Iterable<ChunkId>): void {
    const max = this.ex.limit('subscriptionsMax')
    for (const id of ids) {
      this.subscribed.delete(id)
      this.subscribed.add(id)
    }
    for (const id of this.subscribed) {
      if (this.subscribed.size <= max) break
      this.subscribed.delete(id)
    }
  }

  fail (error: unknown): void {
    if (this.closed) return
    this.stream.abort(error instanceof Error ? error : new Error(String(error)))
    this.shutdown()
  }

  shutdown (): void {
    if (this.closed) return
    this.closed = true
    this.queue.length = 0
    for (const p of this.pending.values()) p.reject(new StreamGoneError(this.peer))
    this.pending.clear()
    for (const l of [...this.closeListeners]) l()
    this.closeListeners.clear()
  }
}

const DEFAULT_LIMITS: Required<BlockExchangeLimits> = {
  perPeerMax: 32,
  perPeerBytesMax: 256 * 1024,
  inflightBytesMax: 4 * 1024 * 1024,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
  openTimeoutMs: 10_000,
  servingMax: 32,
  subscriptionsMax: 65_536,
  strikesMax: 3,
  endgameCopies: 2,
  endgameBytesMax: 64 * 1024,
  endgameAfterMs: 250,
  queueDelayTargetMs: 400,
  perPeerBytesMin: 16 * 1024
}

/** How long before the fastest recent answer of a peer is forgotten (its path may have changed), ms. */
const BASE_LATENCY_MS = 10_000

/** One peer's request window, kept across fetches (see `queueDelayTargetMs`). */
interface PeerWindow {
  bytes: number
  /** The fastest answer lately, and when it was seen. */
  baseMs: number
  baseAt: number
}

export class BlockExchange {
  readonly node: Libp2p
  readonly store: ChunkStore
  readonly log: NetLogger
  readonly shaper: LinkShaper | undefined
  private readonly allowed: (peer: string) => boolean
  private readonly limits: Required<BlockExchangeLimits>
  private readonly random: RandomSource
  private readonly openers = new Map<string, Promise<Session>>()
  private readonly served = new Set<Session>()
  private readonly traffic = new Map<string, { sent: number, received: number }>()
  private readonly corrupt = new Map<string, number>()
  private readonly windows = new Map<string, PeerWindow>()
  private readonly counters = { bytesSent: 0, bytesReceived: 0, blocksServed: 0, blocksFetched: 0, streamsRefused: 0, streamsClosedBadFrame: 0, requestsTimedOut: 0 }
  private announceQueue = new Set<ChunkId>()
  private started = false
  private stopped = false

  constructor (options: BlockExchangeOptions) {
    this.node = options.node
    this.store = options.store
    this.allowed = options.isAllowed
    this.log = options.log ?? silentLogger
    this.limits = { ...DEFAULT_LIMITS, ...stripUndefined(options.limits ?? {}) }
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(typeof v === 'number' && v > 0)) throw new InvalidArgumentError(`block exchange limit ${k} must be positive, got ${String(v)}`)
    }
    this.random = options.random ?? { int: (min, max) => min + Math.floor(Math.random() * (max - min)) }
    const s = options.shaper
    this.shaper = s === undefined ? undefined : s instanceof LinkShaper ? s : new LinkShaper(s)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.node.handle(BLOCK_PROTOCOL, (stream, connection) => { this.accept(stream, connection) }, {
      // One stream per peer, plus room for a reopen that overlaps the old stream's teardown.
      maxInboundStreams: 8,
      maxOutboundStreams: 8
    })
  }

  /** Closes every stream; fetches in progress fail. The libp2p node is the caller's to stop. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.started) await this.node.unhandle(BLOCK_PROTOCOL).catch(() => {})
    for (const s of this.served) s.fail(new NetStoppedError())
    this.served.clear()
    for (const p of this.openers.values()) void p.then(s => { s.fail(new NetStoppedError()) }, () => {})
    this.openers.clear()
  }

  isAllowed (peer: string): boolean { return this.allowed(peer) }

  limit (name: keyof BlockExchangeLimits): number { return this.limits[name] }

  stats (): BlockExchangeStats {
    return {
      ...this.counters,
      perPeer: Object.fromEntries([...this.traffic].map(([p, t]) => [p, { ...t }])),
      corrupt: Object.fromEntries(this.corrupt)
    }
  }

  /** @internal Counts wire bytes. */
  count (peer: string, sent: number, received: number): void {
    let t = this.traffic.get(peer)
    if (t === undefined) { t = { sent: 0, received: 0 }; this.traffic.set(peer, t) }
    t.sent += sent
    t.received += received
    this.counters.bytesSent += sent
    this.counters.bytesReceived += received
  }

  /**
   * Chunks just stored here by someone else than the exchange (a file added locally): peers
   * that asked for them and were told we lacked them hear of them now.
   */
  notifyStored (ids: Iterable<ChunkId>): void {
    const first = this.announceQueue.size === 0
    for (const id of ids) this.announceQueue.add(id)
    // A burst of stores (a whole file, many blocks landing together) goes out as one announce per peer.
    if (first && this.announceQueue.size > 0) setImmediate(() => { this.flushAnnounces() })
  }

  private flushAnnounces (): void {
    const ids = this.announceQueue
    this.announceQueue = new Set()
    for (const s of this.served) {
      const mine: ChunkId[] = []
      for (const id of ids) if (s.subscribed.delete(id)) mine.push(id)
      for (let i = 0; i < mine.length; i += EXCHANGE_LIMITS.idsMax) s.send({ type: 'announce', ids: mine.slice(i, i + EXCHANGE_LIMITS.idsMax) })
    }
  }

  // ---- serving

  private accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (this.stopped) { stream.abort(new NetStoppedError()); return }
    if (!this.allowed(peer)) {
      this.counters.streamsRefused++
      this.log.warn({ peer, protocol: BLOCK_PROTOCOL, remote: connection.remoteAddr.toString() }, 'block stream refused: peer is not allowed to fetch')
      stream.abort(new PeerNotAllowedError(peer, BLOCK_PROTOCOL))
      return
    }
    const session = new Session(this, stream, peer, 'server')
    this.served.add(session)
    session.onClose(() => { this.served.delete(session) })
    this.runSession(session)
  }

  private runSession (session: Session): void {
    void session.read().then(
      async () => { session.shutdown(); await session.stream.close().catch(() => {}) },
      (error: unknown) => {
        const stream = session.stream
        if (!this.stopped && !session.closed && stream.status === 'open') {
          const refused = error instanceof PeerNotAllowedError
          if (refused) this.counters.streamsRefused++
          else this.counters.streamsClosedBadFrame++
          this.log.warn({ peer: session.peer, role: session.role, ...errorFields(error) }, refused ? 'block stream closed: peer no longer allowed' : 'block stream closed: bad frame')
        }
        session.fail(error)
      }
    )
  }

  /** @internal */
  async answerWant (session: Session, req: number, ids: readonly ChunkId[]): Promise<void> {
    const bitmap = await Promise.all(ids.map(async id => await this.store.has(id).catch(() => false)))
    // Subscribed before the answer goes out: a chunk stored between the `has` and the peer
    // reading the answer is announced, never lost between the two.
    session.subscribe(ids.filter((_, i) => bitmap[i] !== true))
    // A chunk stored while we were asking the store was announced to nobody: say it now.
    const late: boolean[] = await Promise.all(ids.map(async (id, i) => bitmap[i] === true || await this.store.has(id).catch(() => false)))
    session.send({ type: 'have', req, bitmap: late })
    for (let i = 0; i < ids.length; i++) if (late[i] === true && bitmap[i] !== true) session.subscribed.delete(ids[i] as ChunkId)
  }

  /** @internal */
  async answerGet (session: Session, req: number, id: ChunkId): Promise<void> {
    let bytes: Uint8Array
    try {
      bytes = await this.store.get(id)
    } catch (error) {
      // Absent, or damaged here (the store dropped it): the asker goes elsewhere.
      this.log.debug({ peer: session.peer, chunk: id, ...errorFields(error) }, 'asked for a chunk we cannot serve')
      session.sendServed({ type: 'missing', req, id }, req)
      return
    }
    // Not hashed again: store.get verified what it read (hashing every served byte twice cost
    // as much CPU as the encryption).
    if (bytes.byteLength > EXCHANGE_LIMITS.blockBytesMax) {
      this.log.error({ peer: session.peer, chunk: id, bytes: bytes.byteLength }, 'the store returned more bytes than a chunk may have; not sent')
      session.sendServed({ type: 'missing', req, id }, req)
      return
    }
    this.counters.blocksServed++
    session.sendServed({ type: 'block', req, id, bytes }, req)
  }

  // ---- fetching

  private async session (peer: string): Promise<Session> {
    let p = this.openers.get(peer)
    if (p !== undefined) {
      const s = await p.catch(() => undefined)
      if (s !== undefined && !s.closed) return s
      if (this.openers.get(peer) === p) this.openers.delete(peer)
    }
    p = this.open(peer)
    this.openers.set(peer, p)
    p.then(s => { s.onClose(() => { if (this.openers.get(peer) === p) this.openers.delete(peer) }) }, () => { if (this.openers.get(peer) === p) this.openers.delete(peer) })
    return await p
  }

  /** Not tied to any one fetch's signal: the stream is shared by every fetch that asks this peer. */
  private async open (peer: string): Promise<Session> {
    const stream = await this.node.dialProtocol(peerIdFromString(peer), BLOCK_PROTOCOL, { signal: AbortSignal.timeout(this.limits.openTimeoutMs) })
    if (this.stopped) { stream.abort(new NetStoppedError()); throw new NetStoppedError() }
    const session = new Session(this, stream, peer, 'opener')
    this.runSession(session)
    return session
  }

  /**
   * Fetches `chunks` (those not already in the store) from `peers`: asks each which it has,
   * then requests them rarest first, verifies and stores each, and announces it to the peers
   * that want it. Resolves when all are stored.
   * @throws ChunksUnavailableError when some chunk has no holder left (after `idleTimeoutMs`
   * without news, or at once when every peer's stream is gone)
   * @throws AbortError when `signal` fires (chunks stored so far stay stored)
   * @throws whatever `store.put` throws (DiskFullError): the fetch stops
   */
  async fetch (chunks: readonly ChunkRef[], peers: readonly string[], options: FetchOptions = {}): Promise<FetchResult> {
    if (this.stopped) throw new NetStoppedError()
    const signal = options.signal
    if (signal?.aborted === true) throw new AbortError('fetch aborted', { cause: signal.reason })
    const refs = new Map<ChunkId, ChunkRef>()
    for (const ref of chunks) {
      if (!isChunkId(ref.id) || !Number.isSafeInteger(ref.size) || ref.size < 0 || ref.size > EXCHANGE_LIMITS.blockBytesMax) {
        throw new InvalidArgumentError(`not a chunk ref: ${JSON.stringify(ref).slice(0, 200)}`)
      }
      refs.set(ref.id, ref)
    }
    // Asked in parallel batches: one awaited stat per chunk in turn was 6400 round trips per 100 MiB.
    const all = [...refs.values()]
    const needed: ChunkRef[] = []
    for (let i = 0; i < all.length; i += HAS_BATCH) {
      const batch = all.slice(i, i + HAS_BATCH)
      const held = await Promise.all(batch.map(async ref => await this.store.has(ref.id)))
      batch.forEach((ref, j) => { if (!held[j]) needed.push(ref) })
    }
    const self = this.node.peerId.toString()
    const targets = [...new Set(peers)].filter(p => p !== self)
    if (needed.length === 0) return { chunks: 0, bytes: 0, fromPeer: {} }
    return await new FetchRun(this, needed, targets, this.random, this.limits, options).run()
  }

  /** @internal */
  async openFor (peer: string): Promise<Session> { return await this.session(peer) }

  /** @internal The request window for `peer` (bytes). */
  windowOf (peer: string): number {
    return this.windows.get(peer)?.bytes ?? this.initialWindow()
  }

  /** A peer not heard from yet starts small and grows while it answers promptly (a burst of full windows at a slow origin is what duplicates). */
  private initialWindow (): number {
    return Math.min(this.limits.perPeerBytesMax, 2 * this.limits.perPeerBytesMin)
  }

  /**
   * @internal A block of `size` bytes came from `peer` `latencyMs` after it was asked: the window
   * grows by the block (doubling per round trip while answers are prompt) or shrinks by a fifth
   * when the answer queued more than `queueDelayTargetMs` beyond the peer's fastest lately.
   * Returns the new window.
   */
  observe (peer: string, latencyMs: number, size: number, nowMs: number): number {
    const { perPeerBytesMax: max, perPeerBytesMin: min, queueDelayTargetMs: target } = this.limits
    let w = this.windows.get(peer)
    if (w === undefined) {
      w = { bytes: this.initialWindow(), baseMs: latencyMs, baseAt: nowMs }
      this.windows.set(peer, w)
    }
    if (latencyMs <= w.baseMs || nowMs - w.baseAt > BASE_LATENCY_MS) { w.baseMs = latencyMs; w.baseAt = nowMs }
    w.bytes = latencyMs - w.baseMs > target ? Math.max(min, Math.floor(w.bytes * 0.8)) : Math.min(max, w.bytes + size)
    return w.bytes
  }

  /** @internal A chunk received from `peer` failed verification. */
  strike (peer: string): void { this.corrupt.set(peer, (this.corrupt.get(peer) ?? 0) + 1) }

  /** @internal */
  fetched (): void { this.counters.blocksFetched++ }

  /** @internal */
  timedOut (): void { this.counters.requestsTimedOut++ }
}

/** One `fetch` call: its swarm, its requests in flight, its timers. */
class FetchRun {
  private readonly swarm: Swarm
  private readonly refs: Map<ChunkId, ChunkRef>
  private readonly sessions = new Map<string, Session>()
  private readonly detach: Array<() => void> = []
  private readonly inflight = new Map<string, { session: Session, req: number, timer: ReturnType<typeof setTimeout>, sentAt: number }>()
  private readonly fromPeer: Record<string, number> = {}
  private peersPending: number
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  /** Wakes `pump` when a request in flight becomes old enough for an endgame copy. */
  private endgameTimer: { at: number, timer: ReturnType<typeof setTimeout> } | undefined
  private stored = 0
  private storedBytes = 0
  private readonly bytesTotal: number
  private settle: { resolve: (r: FetchResult) => void, reject: (e: Error) => void } | undefined

  constructor (
    private readonly ex: BlockExchange,
    needed: readonly ChunkRef[],
    private readonly peers: readonly string[],
    random: RandomSource,
    private readonly limits: Required<BlockExchangeLimits>,
    private readonly options: FetchOptions
  ) {
    this.refs = new Map(needed.map(r => [r.id, r]))
    this.bytesTotal = needed.reduce((a, r) => a + r.size, 0)
    this.swarm = new Swarm(needed, {
      random,
      perPeerMax: limits.perPeerMax,
      perPeerBytesMax: limits.perPeerBytesMax,
      inflightBytesMax: limits.inflightBytesMax,
      strikesMax: limits.strikesMax,
      endgameCopies: limits.endgameCopies,
      endgameBytesMax: limits.endgameBytesMax,
      endgameAfterMs: limits.endgameAfterMs
    })
    this.peersPending = peers.length
  }

  async run (): Promise<FetchResult> {
    const done = new Promise<FetchResult>((resolve, reject) => { this.settle = { resolve, reject } })
    const signal = this.options.signal
    if (signal !== undefined) {
      const onAbort = (): void => { this.finish(new AbortError('fetch aborted', { cause: signal.reason })) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.detach.push(() => { signal.removeEventListener('abort', onAbort) })
    }
    for (const peer of this.peers) void this.join(peer)
    this.pump()
    return await done
  }

  /** Opens (or reuses) the stream to `peer` and asks it what it has. */
  private async join (peer: string): Promise<void> {
    let session: Session
    try {
      session = await this.ex.openFor(peer)
    } catch (error) {
      this.ex.log.debug({ peer, ...errorFields(error) }, 'block stream could not be opened')
      this.peersPending--
      this.pump()
      return
    }
    if (this.settle === undefined) return
    this.sessions.set(peer, session)
    this.swarm.setPeerWindow(peer, this.ex.windowOf(peer))
    const onAnnounce = (ids: readonly ChunkId[]): void => {
      for (const id of ids) this.swarm.addHolder(peer, id)
      this.pump()
    }
    session.announceListeners.add(onAnnounce)
    this.detach.push(() => { session.announceListeners.delete(onAnnounce) })
    this.detach.push(session.onClose(() => {
      this.sessions.delete(peer)
      for (const r of this.swarm.removePeer(peer)) this.clearRequest(r)
      this.pump()
    }))
    const ids = [...this.refs.keys()]
    const asks: Array<Promise<void>> = []
    for (let i = 0; i < ids.length; i += EXCHANGE_LIMITS.idsMax) {
      const batch = ids.slice(i, i + EXCHANGE_LIMITS.idsMax)
      const { answer } = session.request(req => ({ type: 'want', req, ids: batch }))
      asks.push(answer.then(a => {
        if (a.type !== 'have' || a.bitmap.length !== batch.length) throw new SyncCodecError(`answer to want was ${a.type} of the wrong shape`)
        a.bitmap.forEach((has, j) => { if (has) this.swarm.addHolder(peer, batch[j] as ChunkId) })
        this.pump()
      }))
    }
    try {
      await Promise.all(asks)
    } catch (error) {
      if (!(error instanceof StreamGoneError)) session.fail(error)
    } finally {
      this.peersPending--
      this.pump()
    }
  }

  private key (peer: string, id: ChunkId): string { return `${peer} ${id}` }

  private pump (): void {
    if (this.settle === undefined) return
    if (this.swarm.done) { this.finish(); return }
    const now = performance.now()
    for (let r = this.swarm.next(now); r !== undefined; r = this.swarm.next(now)) this.request(r)
    this.wakeForEndgame(now)
    if (this.swarm.inflightRequests > 0 || this.peersPending > 0) {
      if (this.idleTimer !== undefined) { clearTimeout(this.idleTimer); this.idleTimer = undefined }
      return
    }
    const stalled = this.swarm.pending()
    if (this.sessions.size === 0) {
      this.finish(new ChunksUnavailableError(stalled, `no stream to any of ${this.peers.length} peer(s)`))
      return
    }
    // Nothing in flight and nothing to ask: only an announcement can help now.
    this.idleTimer ??= setTimeout(() => {
      this.finish(new ChunksUnavailableError(this.swarm.pending(), `no peer announced them within ${this.limits.idleTimeoutMs} ms`))
    }, this.limits.idleTimeoutMs)
  }

  private wakeForEndgame (now: number): void {
    const at = this.swarm.endgameDueAt(now)
    if (this.endgameTimer !== undefined && (at === undefined || this.endgameTimer.at > at)) {
      clearTimeout(this.endgameTimer.timer)
      this.endgameTimer = undefined
    }
    if (at === undefined || this.endgameTimer !== undefined) return
    const timer = setTimeout(() => {
      this.endgameTimer = undefined
      this.pump()
    }, Math.max(1, Math.ceil(at - now)))
    this.endgameTimer = { at, timer }
  }

  private request (r: SwarmRequest): void {
    const session = this.sessions.get(r.peer)
    if (session === undefined) { this.swarm.failed(r.id, r.peer, 'error'); return }
    const { req, answer } = session.request(req => ({ type: 'get', req, id: r.id }))
    const timer = setTimeout(() => {
      this.ex.timedOut()
      session.cancel(req)
      this.inflight.delete(this.key(r.peer, r.id))
      this.swarm.failed(r.id, r.peer, 'timeout')
      this.pump()
    }, this.limits.requestTimeoutMs)
    this.inflight.set(this.key(r.peer, r.id), { session, req, timer, sentAt: performance.now() })
    answer.then(a => { void this.answered(r, a) }, () => { this.ended(r, 'error') })
  }

  private clearRequest (r: { peer: string, id: ChunkId }): void {
    const k = this.key(r.peer, r.id)
    const entry = this.inflight.get(k)
    if (entry === undefined) return
    clearTimeout(entry.timer)
    this.inflight.delete(k)
  }

  private ended (r: SwarmRequest, reason: 'error' | 'busy' | 'missing' | 'corrupt'): void {
    this.clearRequest(r)
    this.swarm.failed(r.id, r.peer, reason)
    this.pump()
  }

  private async answered (r: SwarmRequest, a: Answer): Promise<void> {
    if (this.settle === undefined) return
    if (a.type === 'busy' || a.type === 'missing') { this.ended(r, a.type); return }
    if (a.type !== 'block' || a.id !== r.id) {
      this.ended(r, 'corrupt')
      return
    }
    const ref = this.refs.get(r.id) as ChunkRef
    if (a.bytes.byteLength !== ref.size) {
      this.corrupt(r, a.bytes.byteLength, ref.size)
      return
    }
    const sent = this.inflight.get(this.key(r.peer, r.id))
    if (sent !== undefined) {
      const now = performance.now()
      this.swarm.setPeerWindow(r.peer, this.ex.observe(r.peer, now - sent.sentAt, ref.size, now))
    }
    try {
      // A copy: the frame's buffer may be a view of a larger read. put hashes it (see the header).
      await this.ex.store.put(r.id, a.bytes.slice())
    } catch (error) {
      if (error instanceof CorruptChunkError) {
        this.corrupt(r, a.bytes.byteLength, ref.size)
        return
      }
      this.finish(error instanceof Error ? error : new Error(String(error)))
      return
    }
    if (this.settle === undefined) return
    this.clearRequest(r)
    for (const other of this.swarm.completed(r.id, r.peer)) {
      const entry = this.inflight.get(this.key(other.peer, other.id))
      if (entry !== undefined) entry.session.cancel(entry.req)
      this.clearRequest(other)
    }
    this.ex.fetched()
    this.ex.notifyStored([r.id])
    this.stored++
    this.storedBytes += ref.size
    this.fromPeer[r.peer] = (this.fromPeer[r.peer] ?? 0) + ref.size
    try {
      this.options.onProgress?.({ chunks: this.stored, chunksTotal: this.refs.size, bytes: this.storedBytes, bytesTotal: this.bytesTotal })
    } catch (error) {
      this.ex.log.error({ ...errorFields(error) }, 'fetch progress callback threw')
    }
    this.pump()
  }

  private corrupt (r: SwarmRequest, bytes: number, expected: number): void {
    this.ex.strike(r.peer)
    this.ex.log.warn({ peer: r.peer, chunk: r.id, bytes, expected }, 'peer sent a corrupt chunk; asking elsewhere')
    this.ended(r, 'corrupt')
  }

  private finish (error?: Error): void {
    const settle = this.settle
    if (settle === undefined) return
    this.settle = undefined
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    if (this.endgameTimer !== undefined) clearTimeout(this.endgameTimer.timer)
    this.endgameTimer = undefined
    for (const entry of this.inflight.values()) {
      clearTimeout(entry.timer)
      entry.session.cancel(entry.req)
    }
    this.inflight.clear()
    for (const d of this.detach.splice(0)) d()
    if (error !== undefined) settle.reject(error)
    else settle.resolve({ chunks: this.stored, bytes: this.storedBytes, fromPeer: { ...this.fromPeer } })
  }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
