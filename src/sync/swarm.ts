/**
 * Which chunk to ask of which peer next, when several peers may hold what a node needs. Pure: no
 * clock, no timers, no I/O; randomness is injected. The block exchange (src/replica/exchange.ts)
 * feeds it what peers say (have, announce, missing) and how requests end, and sends what
 * `next()` returns.
 *
 * Policy, and why:
 * - **Rarest first.** Of the chunks waiting, one with the fewest usable holders goes first; ties
 *   are broken at random. When one host adds a folder, every receiver starts with the same single
 *   holder; if they all asked for chunks in the same order they would hold the same chunks and
 *   have nothing to give each other. Random ties spread them over different chunks, and rarest
 *   first then favours what few others hold, so copies multiply and receivers serve each other
 *   while the origin is still uploading (BitTorrent's argument).
 * - **Least-loaded holder.** A chunk goes to the holder with the fewest failures for that chunk,
 *   then the fewest bytes in flight from us, then at random.
 * - **Bounds.** At most `perPeerMax` requests and about `perPeerBytesMax` bytes per peer, and
 *   `inflightBytesMax` bytes in flight in all; a single chunk larger than the byte budget may go alone when nothing else is in flight,
 *   so progress never stalls. When the rarest chunk does not fit the byte budget, `next()` waits
 *   (returns undefined) rather than skipping to a commoner one.
 * - **Failures.** A request that fails (timeout, busy, broken stream) re-queues its chunk; the
 *   failure counts against that peer for that chunk, so another holder is preferred, and after
 *   `attemptsMax` failures the peer is not asked for that chunk again. A corrupt answer removes
 *   the peer as a holder of the chunk and gives it a strike; at `strikesMax` strikes the peer is
 *   banned from this swarm. `missing` removes the holder (a later announce restores it).
 * - **Endgame.** When no chunk is waiting for a first request but some are still in flight (the
 *   last few), each may be asked of up to `endgameCopies` holders in all, oldest request first,
 *   once it has been in flight `endgameAfterMs`, within the same bounds and at most
 *   `endgameBytesMax` of copies in flight at once. The first answer wins; `completed` returns the
 *   other requests so the caller can cancel them. A slow peer then cannot hold the whole
 *   transfer's tail hostage: its requests are copied once they are old, and as copies complete
 *   the budget frees for its next oldest. Copying at once and without a budget sent every
 *   request in flight when the last chunk was first asked (up to the whole window, megabytes)
 *   twice on a fast network, where both copies arrive before a cancel: 17 % excess in S2 of
 *   bench:sync, 5 × the changed chunks in S5.
 */
import type { RandomSource } from '../contracts/index.js'
import type { ChunkId, ChunkRef } from './chunk.js'

export interface SwarmOptions {
  readonly random: RandomSource
  /** Requests in flight to one peer (default 8). */
  readonly perPeerMax?: number
  /**
   * Bytes in flight to one peer (default unlimited). A peer has room while under it, so one
   * request may overshoot it by a chunk; a peer with nothing in flight always has room.
   */
  readonly perPeerBytesMax?: number
  /** Bytes in flight in all (default 4 MiB). */
  readonly inflightBytesMax?: number
  /** Failed requests to one peer for one chunk before that peer is no longer asked for it (default 3). */
  readonly attemptsMax?: number
  /** Corrupt chunks from one peer before it is banned from this swarm (default 3). */
  readonly strikesMax?: number
  /** Requests for one chunk in the endgame, the first one included (default 2). */
  readonly endgameCopies?: number
  /**
   * Bytes of endgame copies in flight at once (default 64 KiB). One copy may always be in flight,
   * whatever its size.
   */
  readonly endgameBytesMax?: number
  /**
   * A request is copied only once it has been in flight this long, ms, on the clock the caller
   * passes to `next` (default 0). On a fast network the first answer usually comes sooner, and a
   * copy would be bytes sent twice; `endgameDueAt` tells when to call `next` again.
   */
  readonly endgameAfterMs?: number
}

/** One request `next()` decided on. `duplicate`: an endgame copy of a request already in flight. */
export interface SwarmRequest {
  readonly id: ChunkId
  readonly peer: string
  readonly size: number
  readonly duplicate: boolean
}

export type SwarmFailure = 'timeout' | 'busy' | 'error' | 'corrupt' | 'missing'

interface Chunk {
  readonly id: ChunkId
  readonly size: number
  readonly holders: Set<string>
  /** Failed requests per peer. */
  readonly attempts: Map<string, number>
  /** Peers with a request for this chunk in flight, with the request's sequence number. */
  readonly inflight: Map<string, number>
  /** When the first request in flight for it was sent (the caller's clock, see `next`). */
  firstSentAt: number
  /** Peers whose `askable` index lists this chunk. */
  readonly indexedBy: Set<string>
  done: boolean
}

/**
 * The chunks waiting for a first request, bucketed by number of usable holders, each bucket an
 * array with an index (O(1) add, remove and random pick).
 */
class Buckets {
  private readonly byCount = new Map<number, ChunkId[]>()
  private readonly where = new Map<ChunkId, { count: number, index: number }>()

  get size (): number { return this.where.size }

  has (id: ChunkId): boolean { return this.where.has(id) }

  add (id: ChunkId, count: number): void {
    this.remove(id)
    let bucket = this.byCount.get(count)
    if (bucket === undefined) { bucket = []; this.byCount.set(count, bucket) }
    this.where.set(id, { count, index: bucket.length })
    bucket.push(id)
  }

  remove (id: ChunkId): void {
    const at = this.where.get(id)
    if (at === undefined) return
    this.where.delete(id)
    const bucket = this.byCount.get(at.count) as ChunkId[]
    const last = bucket.pop() as ChunkId
    if (last !== id) {
      bucket[at.index] = last
      this.where.set(last, { count: at.count, index: at.index })
    }
    if (bucket.length === 0) this.byCount.delete(at.count)
  }

  /** Non-empty buckets with at least one holder, fewest holders first. */
  counts (): number[] {
    return [...this.byCount.keys()].filter(c => c > 0).sort((a, b) => a - b)
  }

  /** The fewest holders of any entry with at least one, or Infinity. */
  minCount (): number {
    let min = Infinity
    for (const c of this.byCount.keys()) if (c > 0 && c < min) min = c
    return min
  }

  countOf (id: ChunkId): number | undefined { return this.where.get(id)?.count }

  bucket (count: number): readonly ChunkId[] { return this.byCount.get(count) ?? [] }
}

export class Swarm {
  private readonly random: RandomSource
  readonly perPeerMax: number
  readonly perPeerBytesMax: number
  readonly inflightBytesMax: number
  private readonly attemptsMax: number
  private readonly strikesMax: number
  private readonly endgameCopies: number
  private readonly endgameBytesMax: number
  private readonly endgameAfterMs: number
  /** Bytes of requests in flight beyond the first for their chunk (endgame copies). */
  private copyBytes = 0
  private readonly chunks = new Map<ChunkId, Chunk>()
  private readonly waiting = new Buckets()
  /**
   * Per peer: the waiting chunks it holds and may be asked for, bucketed like `waiting`. `next()`
   * looks only at peers with room, so its cost does not grow with the chunks waiting on busy
   * peers (scanning those made every call O(chunks) and a transfer O(chunks²)).
   */
  private readonly askable = new Map<string, Buckets>()
  /** Chunks with a request in flight (the endgame's candidates). */
  private readonly inflightChunks = new Set<Chunk>()
  /** Per-peer byte windows the caller set (`setPeerWindow`); `perPeerBytesMax` where unset. */
  private readonly peerWindows = new Map<string, number>()
  private readonly peerRequests = new Map<string, number>()
  private readonly peerBytes = new Map<string, number>()
  private readonly strikes = new Map<string, number>()
  /** Per peer: chunks not yet completed that it holds (what it can still give us). */
  private readonly offers = new Map<string, number>()
  private readonly banned = new Set<string>()
  private inflightBytesTotal = 0
  private inflightCount = 0
  private remainingCount = 0
  private seq = 0

  constructor (needed: readonly ChunkRef[], options: SwarmOptions) {
    this.random = options.random
    this.perPeerMax = options.perPeerMax ?? 8
    this.perPeerBytesMax = options.perPeerBytesMax ?? Number.POSITIVE_INFINITY
    this.inflightBytesMax = options.inflightBytesMax ?? 4 * 1024 * 1024
    this.attemptsMax = options.attemptsMax ?? 3
    this.strikesMax = options.strikesMax ?? 3
    this.endgameCopies = Math.max(1, options.endgameCopies ?? 2)
    this.endgameBytesMax = options.endgameBytesMax ?? 64 * 1024
    this.endgameAfterMs = options.endgameAfterMs ?? 0
    for (const ref of needed) {
      if (this.chunks.has(ref.id)) continue
      this.chunks.set(ref.id, { id: ref.id, size: ref.size, holders: new Set(), attempts: new Map(), inflight: new Map(), firstSentAt: 0, indexedBy: new Set(), done: false })
      this.waiting.add(ref.id, 0)
      this.remainingCount++
    }
  }

  /** Chunks not yet completed. */
  get remaining (): number { return this.remainingCount }
  get done (): boolean { return this.remainingCount === 0 }
  get inflightBytes (): number { return this.inflightBytesTotal }
  get inflightRequests (): number { return this.inflightCount }
  inflightTo (peer: string): number { return this.peerRequests.get(peer) ?? 0 }
  isBanned (peer: string): boolean { return this.banned.has(peer) }
  strikesOf (peer: string): number { return this.strikes.get(peer) ?? 0 }

  /** Peers that may be asked for `id` now or later (holders, not banned, attempts left). */
  usableHolders (id: ChunkId): string[] {
    const c = this.chunks.get(id)
    return c === undefined ? [] : [...c.holders].filter(p => this.usable(c, p))
  }

  /** Ids not completed that no usable holder has and no request is fetching: stalled until someone announces them. */
  stalled (): ChunkId[] {
    const out: ChunkId[] = []
    for (const c of this.chunks.values()) if (!c.done && c.inflight.size === 0 && this.usableCount(c) === 0) out.push(c.id)
    return out
  }

  /** Ids not completed. */
  pending (): ChunkId[] {
    return [...this.chunks.values()].filter(c => !c.done).map(c => c.id)
  }

  /** `peer` has `id` (a have bit, an announce). */
  addHolder (peer: string, id: ChunkId): void {
    const c = this.chunks.get(id)
    if (c === undefined || c.done || this.banned.has(peer) || c.holders.has(peer)) return
    this.hold(c, peer)
    this.rebucket(c)
  }

  /** `peer` does not have `id` (any more). */
  removeHolder (peer: string, id: ChunkId): void {
    const c = this.chunks.get(id)
    if (c === undefined || !this.unhold(c, peer)) return
    this.rebucket(c)
  }

  /**
   * `peer` is gone (its stream broke): it holds nothing for us now, and its requests in flight
   * are dropped and their chunks re-queued. Returns those requests.
   */
  removePeer (peer: string): SwarmRequest[] {
    const dropped: SwarmRequest[] = []
    for (const c of this.chunks.values()) {
      this.unhold(c, peer)
      if (c.inflight.has(peer)) {
        this.untrack(c, peer)
        dropped.push({ id: c.id, peer, size: c.size, duplicate: false })
      }
      this.rebucket(c)
    }
    return dropped
  }

  /**
   * The next request to send, or undefined when none may go now (bounds reached, nothing
   * waiting has a holder with room). Call until undefined after every event.
   */
  next (nowMs = 0): SwarmRequest | undefined {
    // The rarest count any peer with room can serve, and the peers that serve it.
    let best = Infinity
    let candidates: Array<{ peer: string, bucket: readonly ChunkId[] }> = []
    let weight = 0
    for (const [peer, index] of this.askable) {
      if (index.size === 0 || !this.hasRoom(peer)) continue
      const count = index.minCount()
      if (count > best) continue
      if (count < best) { best = count; candidates = []; weight = 0 }
      const bucket = index.bucket(count)
      candidates.push({ peer, bucket })
      weight += bucket.length
    }
    if (candidates.length > 0) {
      // A random chunk of that count among those peers (ties broken at random); then its best
      // holder, which may be another peer with room.
      let pick = this.random.int(0, weight)
      let chosen = candidates[0] as { peer: string, bucket: readonly ChunkId[] }
      for (const cand of candidates) {
        if (pick < cand.bucket.length) { chosen = cand; break }
        pick -= cand.bucket.length
      }
      const c = this.chunks.get(chosen.bucket[pick] as ChunkId) as Chunk
      const peer = this.pickHolder(c) ?? chosen.peer
      if (!this.fitsBudget(c.size)) return undefined
      return this.track(c, peer, false, nowMs)
    }
    if (this.waiting.size > 0 && this.waiting.minCount() !== Infinity) return undefined
    return this.endgame(nowMs)
  }

  /**
   * When a request in flight becomes old enough to copy (`endgameAfterMs`), if one will: the
   * caller calls `next` then. Only chunks another holder could serve count, so this never asks
   * for a call that could do nothing but wait again; a chunk already old enough but held back by
   * a bound is asked for at the event that frees it (an answer).
   */
  endgameDueAt (nowMs: number): number | undefined {
    if (this.endgameAfterMs <= 0 || (this.waiting.size > 0 && this.waiting.minCount() !== Infinity)) return undefined
    let due: number | undefined
    for (const c of this.inflightChunks) {
      if (c.done || c.inflight.size >= this.endgameCopies) continue
      const at = c.firstSentAt + this.endgameAfterMs
      if (at <= nowMs || (due !== undefined && at >= due)) continue
      if (this.pickHolder(c) !== undefined) due = at
    }
    return due
  }

  /**
   * `peer` delivered `id` (verified and stored by the caller). Returns the other requests for
   * `id` still in flight (endgame copies), which the caller cancels; they no longer count.
   */
  completed (id: ChunkId, peer: string): SwarmRequest[] {
    const c = this.chunks.get(id)
    if (c === undefined || c.done) return []
    const others: SwarmRequest[] = []
    for (const p of [...c.inflight.keys()]) {
      this.untrack(c, p)
      if (p !== peer) others.push({ id, peer: p, size: c.size, duplicate: true })
    }
    for (const p of [...c.holders]) this.unhold(c, p)
    c.done = true
    this.remainingCount--
    this.rebucket(c)
    return others
  }

  /** The request for `id` to `peer` ended without the chunk. A no-op if there was none in flight. */
  failed (id: ChunkId, peer: string, reason: SwarmFailure): void {
    const c = this.chunks.get(id)
    if (c === undefined || c.done || !c.inflight.has(peer)) return
    this.untrack(c, peer)
    if (reason === 'missing') {
      this.unhold(c, peer)
    } else if (reason === 'corrupt') {
      this.unhold(c, peer)
      const strikes = (this.strikes.get(peer) ?? 0) + 1
      this.strikes.set(peer, strikes)
      if (strikes >= this.strikesMax) this.ban(peer)
    } else {
      c.attempts.set(peer, (c.attempts.get(peer) ?? 0) + 1)
    }
    this.rebucket(c)
  }

  /** Asks nothing more of `peer` in this swarm (its requests in flight stay until they end). */
  ban (peer: string): void {
    if (this.banned.has(peer)) return
    this.banned.add(peer)
    for (const c of this.chunks.values()) if (this.unhold(c, peer)) this.rebucket(c)
  }

  private hold (c: Chunk, peer: string): void {
    c.holders.add(peer)
    this.offers.set(peer, (this.offers.get(peer) ?? 0) + 1)
  }

  private unhold (c: Chunk, peer: string): boolean {
    if (!c.holders.delete(peer)) return false
    this.offers.set(peer, (this.offers.get(peer) ?? 0) - 1)
    return true
  }

  private usable (c: Chunk, peer: string): boolean {
    return !this.banned.has(peer) && (c.attempts.get(peer) ?? 0) < this.attemptsMax
  }

  private usableCount (c: Chunk): number {
    let n = 0
    for (const p of c.holders) if (this.usable(c, p)) n++
    return n
  }

  /** Puts a chunk in the waiting bucket its holder count says, or out of it when it is in flight or done. */
  private rebucket (c: Chunk): void {
    if (c.done || c.inflight.size > 0) {
      this.waiting.remove(c.id)
      for (const p of c.indexedBy) this.askable.get(p)?.remove(c.id)
      c.indexedBy.clear()
      return
    }
    const count = this.usableCount(c)
    this.waiting.add(c.id, count)
    for (const p of c.indexedBy) {
      if (!c.holders.has(p) || !this.usable(c, p)) { this.askable.get(p)?.remove(c.id); c.indexedBy.delete(p) }
    }
    for (const p of c.holders) {
      if (!this.usable(c, p)) continue
      let index = this.askable.get(p)
      if (index === undefined) { index = new Buckets(); this.askable.set(p, index) }
      if (index.countOf(c.id) !== count) index.add(c.id, count)
      c.indexedBy.add(p)
    }
  }

  /**
   * Bytes in flight to `peer` from now on (at most `perPeerBytesMax`): the caller's flow control,
   * which shrinks it while that peer's answers queue up. A peer with nothing in flight still
   * always has room for one request.
   */
  setPeerWindow (peer: string, bytes: number): void {
    this.peerWindows.set(peer, Math.min(this.perPeerBytesMax, Math.max(1, bytes)))
  }

  private hasRoom (peer: string): boolean {
    const requests = this.peerRequests.get(peer) ?? 0
    return requests === 0 || (requests < this.perPeerMax && (this.peerBytes.get(peer) ?? 0) < (this.peerWindows.get(peer) ?? this.perPeerBytesMax))
  }

  private fitsBudget (size: number): boolean {
    return this.inflightCount === 0 || this.inflightBytesTotal + size <= this.inflightBytesMax
  }

  /**
   * The usable holder with room, not yet asked for `c`: fewest failures for `c`, then fewest
   * bytes in flight from us, then the one that holds fewest of what we still need, then at
   * random. The third rule steers requests away from the origin: it holds everything, so every
   * receiver would otherwise load it as much as any peer, while a receiver holding a few chunks
   * is the only one that can take load off it.
   */
  private pickHolder (c: Chunk): string | undefined {
    let best: string | undefined
    let bestKey: [number, number, number] = [Infinity, Infinity, Infinity]
    let ties = 0
    for (const p of c.holders) {
      if (!this.usable(c, p) || c.inflight.has(p) || !this.hasRoom(p)) continue
      const key: [number, number, number] = [c.attempts.get(p) ?? 0, this.peerBytes.get(p) ?? 0, this.offers.get(p) ?? 0]
      const cmp = key[0] - bestKey[0] || key[1] - bestKey[1] || key[2] - bestKey[2]
      if (cmp < 0) { best = p; bestKey = key; ties = 1 } else if (cmp === 0 && this.random.int(0, ++ties) === 0) best = p
    }
    return best
  }

  private endgame (nowMs: number): SwarmRequest | undefined {
    let oldest: { c: Chunk, peer: string, seq: number } | undefined
    for (const c of this.inflightChunks) {
      if (c.done || c.inflight.size >= this.endgameCopies || nowMs - c.firstSentAt < this.endgameAfterMs) continue
      const peer = this.pickHolder(c)
      if (peer === undefined) continue
      const seq = Math.min(...c.inflight.values())
      if (oldest === undefined || seq < oldest.seq) oldest = { c, peer, seq }
    }
    if (oldest === undefined || !this.fitsBudget(oldest.c.size)) return undefined
    if (this.copyBytes > 0 && this.copyBytes + oldest.c.size > this.endgameBytesMax) return undefined
    return this.track(oldest.c, oldest.peer, true, nowMs)
  }

  private track (c: Chunk, peer: string, duplicate: boolean, nowMs: number): SwarmRequest {
    if (c.inflight.size > 0) this.copyBytes += c.size
    else c.firstSentAt = nowMs
    c.inflight.set(peer, this.seq++)
    this.inflightChunks.add(c)
    this.peerRequests.set(peer, (this.peerRequests.get(peer) ?? 0) + 1)
    this.peerBytes.set(peer, (this.peerBytes.get(peer) ?? 0) + c.size)
    this.inflightBytesTotal += c.size
    this.inflightCount++
    this.rebucket(c)
    return { id: c.id, peer, size: c.size, duplicate }
  }

  private untrack (c: Chunk, peer: string): void {
    if (!c.inflight.delete(peer)) return
    if (c.inflight.size > 0) this.copyBytes -= c.size
    if (c.inflight.size === 0) this.inflightChunks.delete(c)
    this.peerRequests.set(peer, (this.peerRequests.get(peer) ?? 0) - 1)
    this.peerBytes.set(peer, (this.peerBytes.get(peer) ?? 0) - c.size)
    this.inflightBytesTotal -= c.size
    this.inflightCount--
  }
}
