/**
 * Spares from the DHT. A peer willing to serve a group as a spare provides the group's *spare
 * key* (`spareKey`, derived from the group key) in the group's private DHT and answers the spare
 * protocol; every member keeps a `SparePool` of the spares it found there, and the leader's
 * replacement policy draws its candidates from it (the cluster file's static spares stay as a
 * fallback, after the DHT's).
 *
 * ```
 *   spare ── provide(spareKey) ──► DHT ◄── findProviders(spareKey) ── SparePool (every member)
 *     ▲                                                                  │
 *     └──────────── /vpeer/spare/1.0.0: {group key} → {group key, uptime, addresses} ◄──┘
 * ```
 *
 * A candidate is offered to the replacement policy only when it is
 * - reachable: it answered the probe within the timeout, for this group, in the last rounds;
 * - invited: the group's allow-list (`isClientAllowed`, replicated) names it. An uninvited one
 *   is logged once and never offered;
 * and offered in order of *effective uptime* (`effectiveUptime`), longest first (`rankSpares`).
 *
 * The spare protocol: one request per stream, one length-prefixed frame each way, then both
 * sides close. The server waits at most `requestTimeoutMs` for the request; the prober at most
 * `probeTimeoutMs` for the whole exchange.
 *
 * - request: version (1), kind (1 = probe), group key (bytes of the CID, length-prefixed);
 * - response: version, status (1 ok, 2 error), then
 *   ok: the group key, uptime ms (varint), addresses (count, then UTF-8 multiaddr strings);
 *   error: code (string), message (string).
 *
 * Decoding is strict (`ByteReader`): canonical varints, bounded lengths and counts, valid UTF-8
 * and multiaddrs, a v1 raw sha2-256 CID, no trailing bytes; anything else is a
 * `SpareProtocolError` (`ERR_SPARE_PROTOCOL`).
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { NodeId } from '../paxos/index.js'
import { rankSpares } from '../vpeer/index.js'
import { ByteWriter } from '../util/byte-writer.js'
import { ByteReader } from '../util/byte-reader.js'
import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'
import { FrameReader, frameAll } from '../alm/frames.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { PROTOCOL_PREFIX, parseMultiaddr } from '../alm/node-factory.js'
import { scopedSignal } from '../util/signals.js'

export const SPARE_PROTOCOL = `/${PROTOCOL_PREFIX}/spare/1.0.0`
const VERSION = 1
const KIND_PROBE = 1
const STATUS_OK = 1
const STATUS_ERROR = 2

/** Bounds of the spare protocol. */
export const SPARE_LIMITS = Object.freeze({
  /** Bytes of a CID (a v1 raw sha2-256 CID is 36). */
  cidBytesMax: 64,
  /** Addresses a spare reports. */
  addressesMax: 16,
  /** UTF-8 bytes of one address. */
  addressBytesMax: 256,
  /** UTF-8 bytes of an error code. */
  codeBytesMax: 64,
  /** UTF-8 bytes of an error message. */
  messageBytesMax: 512,
  /** Bytes of one frame (the largest response fits with room to spare). */
  frameBytesMax: 8192
})

/** The spare key of a group: where its spares announce themselves (never the group key itself). */
export async function spareKey (groupKey: CID): Promise<CID> {
  const tagged = new TextEncoder().encode(JSON.stringify(['vpeer-spares/1', groupKey.toString()]))
  return CID.createV1(raw.code, await sha256.digest(tagged))
}

/** A spare protocol frame that does not decode, or a message that cannot be encoded. */
export class SpareProtocolError extends CodedError {
  static override name = 'SpareProtocolError'
  readonly offset: number
  constructor (reason: string, offset: number, options?: CodedErrorOptions) {
    super(`spare protocol frame refused at byte ${offset}: ${reason}`, 'ERR_SPARE_PROTOCOL', options)
    this.offset = offset
  }
}

/**
 * A probe that did not produce a usable answer. `reason`: 'unreachable' (no stream, no answer in
 * time, a bad frame), 'refused' (the peer answered with an error: not a spare now, another
 * group), 'wrong-group' (it answered for another group key).
 */
export class SpareProbeError extends CodedError {
  static override name = 'SpareProbeError'
  readonly peer: string
  readonly reason: 'unreachable' | 'refused' | 'wrong-group'
  /** The remote error code, for 'refused'. */
  readonly remoteCode: string | undefined
  constructor (peer: string, reason: 'unreachable' | 'refused' | 'wrong-group', detail: string, options?: CodedErrorOptions & { remoteCode?: string }) {
    super(`spare probe of ${peer}: ${detail}`, reason === 'unreachable' ? 'ERR_SPARE_UNREACHABLE' : reason === 'refused' ? 'ERR_SPARE_REFUSED' : 'ERR_SPARE_WRONG_GROUP', options)
    this.peer = peer
    this.reason = reason
    this.remoteCode = options?.remoteCode
  }
}

export interface SpareRequest { readonly kind: 'probe', readonly groupKey: CID }

/** What a spare says about itself. */
export interface SpareInfo {
  readonly groupKey: CID
  /** How long the spare has been up, ms, as it reports it (the prober caps it: `effectiveUptime`). */
  readonly uptimeMs: number
  /** Where it listens (multiaddr strings, without /p2p/). */
  readonly addresses: readonly string[]
}

export type SpareResponse =
  | ({ readonly kind: 'ok' } & SpareInfo)
  | { readonly kind: 'error', readonly code: string, readonly message: string }

/** Remote error codes of the spare protocol. */
export const SPARE_ERRORS = Object.freeze({
  /** The request named another group's key. */
  wrongGroup: 'ERR_WRONG_GROUP',
  /** The peer is in a configuration of the group (or no longer willing): not a spare. */
  notSpare: 'ERR_NOT_SPARE'
})


class Writer extends ByteWriter {
  fail (reason: string, offset: number): never { throw new SpareProtocolError(reason, offset) }
}

class Reader extends ByteReader {
  fail (reason: string, cause?: unknown): never {
    throw new SpareProtocolError(reason, this.pos, cause !== undefined ? { cause } : undefined)
  }

  header (): void {
    const version = this.byte('version')
    if (version !== VERSION) { this.pos--; this.fail(`unknown version ${version}`) }
  }

  string (field: string, max: number): string { return this.utf8String(field, max) }

  groupKey (): CID {
    const start = this.pos
    const bytes = this.take('group key', this.length('group key', SPARE_LIMITS.cidBytesMax))
    let cid: CID
    try {
      cid = CID.decode(bytes)
    } catch (error) {
      this.pos = start
      return this.fail('group key is not a CID', error)
    }
    if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== sha256.code) {
      this.pos = start
      this.fail('group key is not a v1 raw sha2-256 CID')
    }
    return cid
  }
}

export function encodeSpareRequest (request: SpareRequest): Uint8Array {
  return new Writer().byte(VERSION).byte(KIND_PROBE).bytes(request.groupKey.bytes, SPARE_LIMITS.cidBytesMax).finish()
}

/** @throws SpareProtocolError */
export function decodeSpareRequest (bytes: Uint8Array): SpareRequest {
  const r = new Reader(bytes)
  r.header()
  const kind = r.byte('kind')
  if (kind !== KIND_PROBE) { r.pos--; r.fail(`unknown request kind ${kind}`) }
  const groupKey = r.groupKey()
  r.end()
  return { kind: 'probe', groupKey }
}

export function encodeSpareResponse (response: SpareResponse): Uint8Array {
  const w = new Writer().byte(VERSION)
  if (response.kind === 'error') {
    return w.byte(STATUS_ERROR).string(response.code, SPARE_LIMITS.codeBytesMax).string(response.message.slice(0, SPARE_LIMITS.messageBytesMax / 4), SPARE_LIMITS.messageBytesMax).finish()
  }
  if (response.addresses.length > SPARE_LIMITS.addressesMax) throw new SpareProtocolError(`${response.addresses.length} addresses exceed the limit of ${SPARE_LIMITS.addressesMax}`, 0)
  w.byte(STATUS_OK).bytes(response.groupKey.bytes, SPARE_LIMITS.cidBytesMax).varint(Math.floor(response.uptimeMs)).varint(response.addresses.length)
  for (const a of response.addresses) w.string(a, SPARE_LIMITS.addressBytesMax)
  return w.finish()
}

/** @throws SpareProtocolError */
export function decodeSpareResponse (bytes: Uint8Array): SpareResponse {
  const r = new Reader(bytes)
  r.header()
  const status = r.byte('status')
  if (status === STATUS_ERROR) {
    const code = r.string('code', SPARE_LIMITS.codeBytesMax)
    const message = r.string('message', SPARE_LIMITS.messageBytesMax)
    r.end()
    return { kind: 'error', code, message }
  }
  if (status !== STATUS_OK) { r.pos--; r.fail(`unknown status ${status}`) }
  const groupKey = r.groupKey()
  const uptimeMs = r.varint('uptime')
  const count = r.varint('address count')
  if (count > SPARE_LIMITS.addressesMax) r.fail(`${count} addresses exceed the limit of ${SPARE_LIMITS.addressesMax}`)
  const addresses: string[] = []
  for (let i = 0; i < count; i++) {
    const start = r.pos
    const text = r.string('address', SPARE_LIMITS.addressBytesMax)
    try {
      parseMultiaddr(text)
    } catch (error) {
      r.pos = start
      r.fail(`address ${JSON.stringify(text.slice(0, 80))} is not a multiaddr`, error)
    }
    addresses.push(text)
  }
  r.end()
  return { kind: 'ok', groupKey, uptimeMs, addresses }
}

// ---------------------------------------------------------------------------------------------
// The uptime rule.

/**
 * The uptime a prober credits a candidate with: what it reports, capped by what the prober has
 * watched itself plus one refresh interval,
 *
 *     effective = min(reported, watched + graceMs)
 *
 * where `watched` is how long this member has seen the candidate answer its probes without a
 * break (a missed round, or a reported uptime that went backwards — a restart — starts the watch
 * again), and `graceMs` is one refresh interval: the candidate may have been up for up to that
 * long before a round could find it. Why this shape:
 * - a candidate cannot win by lying high: whatever it claims, it gets at most what this member
 *   has seen plus one interval, which an honest candidate watched as long gets too;
 * - lying low only hurts the liar;
 * - a member that has watched a candidate for longer than the candidate says it has been up
 *   (it restarted between two rounds) takes the report: uptime since the restart is what counts.
 * The limit: a member that has just started (or just joined) knows little, so all long-lived
 * candidates are capped to about its own watch and tie (`rankSpares` then orders them by id).
 * Every member runs a pool, so a follower that becomes leader has been watching too.
 */
export function effectiveUptime (o: { readonly reportedMs: number, readonly watchedMs: number, readonly graceMs: number }): number {
  const reported = Number.isFinite(o.reportedMs) && o.reportedMs > 0 ? o.reportedMs : 0
  return Math.min(reported, Math.max(0, o.watchedMs) + Math.max(0, o.graceMs))
}

// ---------------------------------------------------------------------------------------------
// Spare side.

/** Reads exactly one frame from `stream`, failing after `timeoutMs`. @throws BadFrameError, SpareProtocolError */
async function readOneFrame (stream: Stream, timeoutMs: number): Promise<Uint8Array> {
  const reader = new FrameReader(SPARE_LIMITS.frameBytesMax)
  const timer = setTimeout(() => { stream.abort(new SpareProtocolError(`no complete frame within ${timeoutMs} ms`, 0)) }, timeoutMs)
  try {
    for await (const chunk of stream) {
      for (const body of reader.push(chunk)) return body.slice()
    }
    throw new SpareProtocolError(reader.pending ? 'stream ended inside a frame (truncated)' : 'stream ended before a frame', 0)
  } finally {
    clearTimeout(timer)
  }
}

export interface SpareServiceOptions {
  readonly node: Libp2p
  readonly groupKey: CID
  /** Whether this node is a spare now (willing, and in no configuration it knows). */
  readonly isSpare: () => boolean
  /** How long this node has been up, ms. */
  readonly uptimeMs: () => number
  /** How long a request may take to arrive, ms (default 2000). */
  readonly requestTimeoutMs?: number
  readonly log?: NetLogger
}

/**
 * The server side of the spare protocol, on every DHT member: a spare answers with its uptime
 * and addresses; a member in a configuration answers `ERR_NOT_SPARE` (a provider record of the
 * spare key outlives the spare's spare days by up to 48 h).
 */
export class SpareService {
  private readonly opts: SpareServiceOptions
  private readonly log: NetLogger
  private readonly streams = new Set<Stream>()
  private started = false
  private stopped = false

  constructor (options: SpareServiceOptions) {
    this.opts = options
    this.log = options.log ?? silentLogger
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    // One request per stream: a prober needs one at a time; a few cover a retry overlapping.
    await this.opts.node.handle(SPARE_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.started) await this.opts.node.unhandle(SPARE_PROTOCOL).catch(() => {})
    for (const s of this.streams) s.abort(new SpareProtocolError('the spare service stopped', 0))
    this.streams.clear()
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    this.streams.add(stream)
    try {
      const request = decodeSpareRequest(await readOneFrame(stream, this.opts.requestTimeoutMs ?? 2000))
      let response: SpareResponse
      if (!request.groupKey.equals(this.opts.groupKey)) {
        response = { kind: 'error', code: SPARE_ERRORS.wrongGroup, message: 'this node serves another group' }
      } else if (!this.opts.isSpare()) {
        response = { kind: 'error', code: SPARE_ERRORS.notSpare, message: 'this node is not a spare of the group now' }
      } else {
        const addresses = this.opts.node.getMultiaddrs().map(a => withoutPeer(a)).slice(0, SPARE_LIMITS.addressesMax)
        response = { kind: 'ok', groupKey: this.opts.groupKey, uptimeMs: Math.max(0, Math.floor(this.opts.uptimeMs())), addresses }
      }
      stream.send(frameAll([encodeSpareResponse(response)]))
      await stream.close()
    } catch (error) {
      if (!this.stopped) this.log.warn({ peer: from, protocol: SPARE_PROTOCOL, ...errorFields(error) }, 'spare request refused')
      stream.abort(error instanceof Error ? error : new SpareProtocolError(String(error), 0))
    } finally {
      this.streams.delete(stream)
    }
  }
}

function withoutPeer (ma: Multiaddr): string {
  return ma.getComponents().filter(c => c.name !== 'p2p').map(c => c.value === undefined ? `/${c.name}` : `/${c.name}/${c.value}`).join('')
}

/**
 * Asks `peer` (dialed at `addresses`, or by what the peer store knows) whether it is a spare of
 * the group `groupKey`, within `timeoutMs` or until `abort`. @throws SpareProbeError
 */
export async function probeSpare (node: Libp2p, peer: PeerId, addresses: readonly Multiaddr[], groupKey: CID, timeoutMs: number, abort?: AbortSignal): Promise<SpareInfo> {
  const scope = scopedSignal([abort], timeoutMs)
  try {
    return await probeWithin(node, peer, addresses, groupKey, timeoutMs, scope.signal)
  } finally {
    scope.dispose()
  }
}

async function probeWithin (node: Libp2p, peer: PeerId, addresses: readonly Multiaddr[], groupKey: CID, timeoutMs: number, signal: AbortSignal): Promise<SpareInfo> {
  const id = peer.toString()
  let stream: Stream
  try {
    if (addresses.length > 0) await node.peerStore.merge(peer, { multiaddrs: [...addresses] })
    stream = await node.dialProtocol(peer, SPARE_PROTOCOL, { signal })
  } catch (error) {
    throw new SpareProbeError(id, 'unreachable', `no stream: ${(error as Error).message}`, { cause: error })
  }
  let response: SpareResponse
  try {
    stream.send(frameAll([encodeSpareRequest({ kind: 'probe', groupKey })]))
    const onAbort = (): void => { stream.abort(new SpareProbeError(id, 'unreachable', `no answer within ${timeoutMs} ms`)) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      response = decodeSpareResponse(await readOneFrame(stream, timeoutMs))
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    await stream.close().catch(() => {})
  } catch (error) {
    stream.abort(error instanceof Error ? error : new Error(String(error)))
    if (error instanceof SpareProbeError) throw error
    throw new SpareProbeError(id, 'unreachable', (error as Error).message, { cause: error })
  }
  if (response.kind === 'error') throw new SpareProbeError(id, 'refused', `${response.code}: ${response.message}`, { remoteCode: response.code })
  if (!response.groupKey.equals(groupKey)) throw new SpareProbeError(id, 'wrong-group', `answered for group ${response.groupKey.toString()}`)
  return response
}

/** A provider found in the DHT. */
export interface FoundPeer { readonly id: NodeId, readonly addresses: readonly Multiaddr[] }

/**
 * Up to `max` providers of `key` other than this node, within `timeoutMs` (the iterator of
 * `findProviders` runs until the query ends, so it is cut off).
 */
export async function findProviders (node: Libp2p, key: CID, options: { readonly max: number, readonly timeoutMs: number, readonly signal?: AbortSignal }): Promise<FoundPeer[]> {
  const self = node.peerId.toString()
  const found = new Map<NodeId, Multiaddr[]>()
  const scope = scopedSignal([options.signal], options.timeoutMs)
  const signal = scope.signal
  try {
    for await (const provider of node.contentRouting.findProviders(key, { signal })) {
      const id = provider.id.toString()
      if (id === self) continue
      found.set(id, [...(found.get(id) ?? []), ...provider.multiaddrs])
      if (found.size >= options.max) break
    }
  } catch (error) {
    // A timeout after some answers still leaves those answers; none at all is the caller's "none".
    if (found.size === 0 && !signal.aborted) throw error
  } finally {
    scope.dispose()
  }
  return [...found].map(([id, addresses]) => ({ id, addresses }))
}

// ---------------------------------------------------------------------------------------------
// Leader side.

export interface SparePoolOptions {
  /** This member's id (never a candidate). */
  readonly self: NodeId
  /** The DHT's providers of the spare key (see `findProviders`). */
  readonly find: (signal: AbortSignal) => Promise<readonly FoundPeer[]>
  /** Probes one candidate (see `probeSpare`). @throws SpareProbeError */
  readonly probe: (peer: FoundPeer, signal: AbortSignal) => Promise<SpareInfo>
  /** The group's allow-list as applied here (`VirtualPeer.isClientAllowed`). */
  readonly isAllowed: (peer: NodeId) => boolean
  /** Told the addresses of every candidate that answered, before it is ever offered. */
  readonly learned?: (peer: NodeId, addresses: readonly Multiaddr[]) => Promise<void>
  /** The cluster file's spares, offered after the DHT's. */
  readonly fallback?: readonly NodeId[]
  /**
   * Whether to run rounds now (default always). A member in no configuration cannot lead, so
   * its rounds would be wasted; it starts watching once it is in one.
   */
  readonly active?: () => boolean
  /** Between two rounds, ms (default 5000). Also the grace of the uptime rule. */
  readonly refreshMs?: number
  /**
   * A candidate that has not answered for this long is no longer offered, ms (default
   * 3 × refreshMs + 10 s: a round takes a lookup and a probe, each with its own timeout).
   */
  readonly staleAfterMs?: number
  /** Candidates probed in one round (default 32). */
  readonly candidatesMax?: number
  /** Monotonic clock, ms (default `performance.now`). */
  readonly now?: () => number
  readonly log?: NetLogger
}

interface Watched {
  /** When the current unbroken run of answers began. */
  since: number
  /** When it last answered, and what it reported then. */
  lastOk: number
  reportedMs: number
  addresses: readonly Multiaddr[]
}

/**
 * The spares a member knows from the DHT, refreshed every `refreshMs`: found, probed, watched.
 * `candidates()` is synchronous (the replacement policy calls it on its timer): the reachable,
 * invited candidates by effective uptime, then the static fallback.
 */
export class SparePool {
  private readonly opts: SparePoolOptions
  private readonly log: NetLogger
  private readonly now: () => number
  readonly refreshMs: number
  private readonly staleAfterMs: number
  private readonly watched = new Map<NodeId, Watched>()
  private readonly uninvitedLogged = new Set<NodeId>()
  private readonly rounds = new Rounds(async () => { await this.refresh(); return this.refreshMs }, error => {
    this.log.error({ ...errorFields(error) }, 'spare round failed')
    return this.refreshMs
  })

  constructor (options: SparePoolOptions) {
    this.opts = options
    this.log = options.log ?? silentLogger
    this.now = options.now ?? (() => performance.now())
    this.refreshMs = options.refreshMs ?? 5000
    this.staleAfterMs = options.staleAfterMs ?? 3 * this.refreshMs + 10_000
  }

  /** Starts the rounds (the first at once). */
  start (): void { this.rounds.start() }

  async stop (): Promise<void> { await this.rounds.stop() }

  /**
   * One round: find the providers of the spare key, probe each, update the watch. Rounds never
   * overlap (`start` chains them); tests call it directly.
   */
  async refresh (): Promise<void> {
    // Only `stop` cuts a round short: the lookup and each probe have their own timeouts.
    const signal = this.rounds.signal
    if (this.opts.active?.() === false) {
      this.watched.clear()
      return
    }
    let found: readonly FoundPeer[]
    try {
      found = (await this.opts.find(signal)).filter(p => p.id !== this.opts.self).slice(0, this.opts.candidatesMax ?? 32)
    } catch (error) {
      this.log.debug({ ...errorFields(error) }, 'spare lookup failed (next round retries)')
      found = []
    }
    // Candidates already watched but no longer in the DHT's answer are probed too: a lookup can
    // miss a record, and a round without an answer is what breaks a watch.
    const known = new Map(found.map(p => [p.id, p]))
    for (const [id, w] of this.watched) if (!known.has(id)) known.set(id, { id, addresses: w.addresses })
    await Promise.all([...known.values()].map(async peer => { await this.probeOne(peer, signal) }))
    // Every watched candidate was probed in this round, and one that failed was dropped (its
    // watch starts again when it answers). This catches only a clock that jumped.
    const stale = this.now() - this.staleAfterMs
    for (const [id, w] of this.watched) if (w.lastOk < stale) this.watched.delete(id)
  }

  private async probeOne (peer: FoundPeer, signal: AbortSignal): Promise<void> {
    let info: SpareInfo
    try {
      info = await this.opts.probe(peer, signal)
    } catch (error) {
      if (this.rounds.stopped) return
      if (this.watched.delete(peer.id)) this.log.info({ peer: peer.id, ...errorFields(error) }, 'spare dropped: probe failed')
      else this.log.debug({ peer: peer.id, ...errorFields(error) }, 'spare candidate did not answer')
      return
    }
    if (this.rounds.stopped) return
    const now = this.now()
    const addresses = mergeAddresses(info.addresses, peer.addresses)
    const previous = this.watched.get(peer.id)
    // Uptime that went backwards: it restarted since the last round, and the watch starts again.
    const restarted = previous !== undefined && info.uptimeMs + 1000 < previous.reportedMs + (now - previous.lastOk)
    const since = previous === undefined || restarted ? now : previous.since
    if (!this.opts.isAllowed(peer.id) && !this.uninvitedLogged.has(peer.id)) {
      this.uninvitedLogged.add(peer.id)
      this.log.warn({ peer: peer.id }, 'spare found in the DHT is not on the allow-list: skipped until an administrator allows it')
    }
    try {
      // Before it can ever be offered: the transport must know where it is.
      await this.opts.learned?.(peer.id, addresses)
    } catch (error) {
      this.log.warn({ peer: peer.id, ...errorFields(error) }, 'spare addresses could not be recorded')
      return
    }
    if (previous === undefined) this.log.info({ peer: peer.id, reportedMs: info.uptimeMs, addresses: addresses.map(a => a.toString()) }, 'spare found')
    this.watched.set(peer.id, { since, lastOk: now, reportedMs: info.uptimeMs, addresses })
  }

  /** The effective uptime of a watched candidate now, ms (undefined if not watched). */
  uptimeOf (peer: NodeId): number | undefined {
    const w = this.watched.get(peer)
    if (w === undefined) return undefined
    const now = this.now()
    return effectiveUptime({ reportedMs: w.reportedMs + (now - w.lastOk), watchedMs: now - w.since, graceMs: this.refreshMs })
  }

  /** Where a candidate that answered listens (multiaddrs without /p2p/), or []. */
  addressesOf (peer: NodeId): readonly Multiaddr[] {
    return this.watched.get(peer)?.addresses ?? []
  }

  /**
   * The replacement policy's pool: reachable, invited DHT spares by effective uptime, longest
   * first, then the static fallback. The allow-list is read now, so a revoke takes effect at the
   * next call.
   */
  candidates (): NodeId[] {
    // Rounds that stopped (a stalled lookup) must not keep offering what answered long ago.
    const fresh = this.now() - this.staleAfterMs
    const pool = [...this.watched]
      .filter(([id, w]) => w.lastOk >= fresh && this.opts.isAllowed(id))
      .map(([id]) => ({ id, uptimeMs: this.uptimeOf(id) }))
    const ranked = rankSpares(pool, 'uptime')
    for (const id of this.opts.fallback ?? []) if (id !== this.opts.self && !ranked.includes(id)) ranked.push(id)
    return ranked
  }

}

function mergeAddresses (reported: readonly string[], found: readonly Multiaddr[]): Multiaddr[] {
  const out = new Map<string, Multiaddr>()
  for (const a of reported) {
    const ma = parseMultiaddr(a)
    out.set(ma.toString(), ma)
  }
  for (const ma of found) out.set(ma.toString(), ma)
  return [...out.values()].slice(0, SPARE_LIMITS.addressesMax * 2)
}

/**
 * Where `peer` listens, as far as this node can find out: the peer store (filled by the DHT and
 * identify), else a DHT peer lookup. [] if neither knows within `timeoutMs`.
 */
export async function resolvePeer (node: Libp2p, peer: NodeId, timeoutMs: number): Promise<Multiaddr[]> {
  let id: PeerId
  try {
    id = peerIdFromString(peer)
  } catch {
    return []
  }
  const stored = await node.peerStore.get(id).catch(() => undefined)
  if (stored !== undefined && stored.addresses.length > 0) return stored.addresses.map(a => a.multiaddr)
  try {
    const info = await node.peerRouting.findPeer(id, { signal: AbortSignal.timeout(timeoutMs) })
    return [...info.multiaddrs]
  } catch {
    return []
  }
}

// ---------------------------------------------------------------------------------------------
// Spare side: the announcement.

export interface SpareAnnouncerOptions {
  readonly node: Libp2p
  readonly groupKey: CID
  readonly spareKey: CID
  /** Whether this node is a spare now (willing, and in no configuration it knows). */
  readonly isSpare: () => boolean
  /** DHT peers to dial when this node has none (the cluster file's voters and spares, with /p2p/). */
  readonly bootstrap: readonly Multiaddr[]
  /** Between two announcements, ms (records expire after 48 h; the pool needs them sooner). */
  readonly everyMs: number
  /** The members that provide the group key, found at each announcement (the spare admits them). */
  readonly onGroupPeers: (peers: readonly FoundPeer[]) => void
  readonly log?: NetLogger
}

/**
 * While this node is a spare: joins the DHT through the bootstrap peers, provides the spare key,
 * and looks up the group's members (the providers of the group key), at start and then every
 * `everyMs`. Until the first announcement reached the DHT it retries sooner (0.5 s, doubling).
 * Once the node is in a configuration it stops announcing (the member then provides the group
 * key instead); old records expire on their own, and the spare protocol answers `ERR_NOT_SPARE`.
 */
export class SpareAnnouncer {
  private readonly opts: SpareAnnouncerOptions
  private readonly log: NetLogger
  private announced = false
  private readonly rounds = new Rounds(async () => {
    if (await this.announce()) this.announced = true
    return this.nextDelay()
  }, error => {
    this.log.error({ ...errorFields(error) }, 'spare announcement failed')
    return this.nextDelay()
  })
  private retryMs = 500

  constructor (options: SpareAnnouncerOptions) {
    this.opts = options
    this.log = options.log ?? silentLogger
  }

  start (): void { this.rounds.start() }

  async stop (): Promise<void> { await this.rounds.stop() }

  /** One announcement (tests call it directly). True if the spare key reached some DHT peer. */
  async announce (): Promise<boolean> {
    if (!this.opts.isSpare()) return false
    const scope = scopedSignal([this.rounds.signal], Math.max(this.opts.everyMs, 5000))
    try {
      return await this.announceWithin(scope.signal)
    } finally {
      scope.dispose()
    }
  }

  private async announceWithin (signal: AbortSignal): Promise<boolean> {
    if (dhtPeerCount(this.opts.node) === 0) {
      // Nobody to announce to: dial the bootstrap peers; identify then fills the routing table.
      await Promise.all(this.opts.bootstrap.map(async ma => {
        try {
          await this.opts.node.dial(ma, { signal })
        } catch (error) {
          this.log.debug({ address: ma.toString(), ...errorFields(error) }, 'bootstrap peer not reached')
        }
      }))
      // Identify must finish before a peer enters the routing table (LIBP2P-NOTES pitfall 5).
      for (let i = 0; i < 40 && dhtPeerCount(this.opts.node) === 0 && !signal.aborted; i++) await new Promise(resolve => setTimeout(resolve, 50))
      if (dhtPeerCount(this.opts.node) === 0) return false
    }
    try {
      await this.opts.node.contentRouting.provide(this.opts.spareKey, { signal })
    } catch (error) {
      this.log.debug({ key: this.opts.spareKey.toString(), ...errorFields(error) }, 'spare key not provided (will retry)')
      return false
    }
    if (!this.announced) this.log.info({ key: this.opts.spareKey.toString() }, 'spare key provided: waiting for a leader to add this node')
    try {
      this.opts.onGroupPeers(await findProviders(this.opts.node, this.opts.groupKey, { max: 64, timeoutMs: 3000, signal }))
    } catch (error) {
      this.log.debug({ ...errorFields(error) }, 'group members not found (will retry)')
    }
    return true
  }

  /** Every `everyMs` once announced; until then sooner, doubling from 500 ms. */
  private nextDelay (): number {
    if (this.announced) return this.opts.everyMs
    const delay = this.retryMs
    this.retryMs = Math.min(this.retryMs * 2, this.opts.everyMs)
    return delay
  }
}

/**
 * Background rounds that never overlap: each round says how long to wait before the next (a
 * failed one too, through `failed`). `stop` aborts `signal`, cancels the next round and waits
 * for the one running.
 */
class Rounds {
  stopped = false
  private readonly abort = new AbortController()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running: Promise<void> | undefined

  constructor (private readonly round: () => Promise<number>, private readonly failed: (error: unknown) => number) {}

  get signal (): AbortSignal { return this.abort.signal }

  /** The first round at once (no-op while running or after `stop`). */
  start (): void {
    if (!this.stopped && this.timer === undefined && this.running === undefined) this.schedule(0)
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.abort.abort()
    await this.running
  }

  private schedule (delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.running = this.round().catch(this.failed).then(next => {
        this.running = undefined
        if (!this.stopped) this.schedule(next)
      })
    }, delayMs)
    this.timer.unref?.()
  }
}

/** Peers in this node's DHT routing table (connections, if the DHT does not say). */
function dhtPeerCount (node: Libp2p): number {
  const dht = (node.services as { dht?: { routingTable?: { size?: unknown } } }).dht
  const size = dht?.routingTable?.size
  return typeof size === 'number' ? size : node.getConnections().length
}
