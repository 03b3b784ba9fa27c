/**
 * The member side of the client protocol (`client-protocol.ts`). Each client has one stream;
 * each request on it is answered exactly once:
 * - a client not on the group's allow-list gets `ERR_ACCESS_REFUSED` (the list is replicated
 *   state: a revoke refuses the client here as soon as it has applied here);
 * - a submit, read or access change at a member that is not the leader gets a redirect with the
 *   leader and the configuration this member knows, never silence;
 * - a deliver (`send`) is taken by any member: a follower proposes it through its leader, and
 *   every member answers once the command is applied there — the client gives the same session
 *   to every voter, and the log applies it once;
 * - a notify (`multicast`) goes to `onNotify` once per (client, message id) within a window of
 *   the last `notifyDedupMax` ids, and is acknowledged even when it was a duplicate;
 * - at the leader it runs through the `VirtualPeer` under the session `<peerId>/<nonce>`: the
 *   client part is the PeerId Noise authenticated, so nobody can submit in another's session;
 * - a chain request is answered for anyone (membership is what outsiders must be able to verify);
 * - outputs of another VP are taken from a peer that is a verified voter of the sending group
 *   (`output-senders.ts`) when the sending group's key is on the allow-list, whoever the peer.
 * A malformed frame closes that client's stream with a logged reason; every other client goes on.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Configuration, NodeId, RoleKind } from '../paxos/index.js'
import type { AbortOptions } from '../contracts/index.js'
import { FrameStream } from '../alm/frame-stream.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeRequest, encodeResponse, encodeThrough } from './client-protocol.js'
import type { ClientRequest, ClientResponse, GroupView } from './client-protocol.js'
import type { PayloadCodec } from './payload-codec.js'
import { CHAIN_LIMITS, encodeConfigChain } from './config-chain.js'
import type { ChainGenesis } from './config-chain.js'
import type { CertificateChain } from '../vpeer/index.js'
import { OutputSenders, requestChainPage } from './output-senders.js'

/** What the service needs of the member's `VirtualPeer`. */
export interface ServedPeer<Q, A> {
  readonly id: NodeId
  readonly applied: number
  status (): { readonly role: RoleKind, readonly leader: NodeId | undefined, readonly configuration: Configuration }
  submitEncoded (command: { client: string, seq: number, data: Uint8Array }, options?: AbortOptions): Promise<unknown>
  read (query: Q, options?: AbortOptions): Promise<A>
  isClientAllowed (peer: string): boolean
  allowClient (peer: string, options: { admin?: boolean, issuer: string, session: { client: string, seq: number } } & AbortOptions): Promise<unknown>
  revokeClient (peer: string, options: { issuer: string, session: { client: string, seq: number } } & AbortOptions): Promise<unknown>
  /** The signed configuration chain (`VirtualPeer.certificateChain`); absent or undefined: none served. */
  certificateChain? (fromEpoch?: number, maxLinks?: number): CertificateChain | undefined
  /** Applies another VP's outputs once each (`VirtualPeer.receiveOutputs`); absent: refused. */
  receiveOutputs? (sender: string, outputs: ReadonlyArray<{ readonly seq: number, readonly data: Uint8Array }>, options?: AbortOptions): Promise<number>
}

export interface ClientServiceOptions<Q, A> {
  readonly node: Libp2p
  readonly peer: ServedPeer<Q, A>
  /** Encodes results and answers, decodes queries (JSON by default). */
  readonly payloads: PayloadCodec<Q, A>
  /** Where a member listens (multiaddr strings with /p2p/), for redirects. */
  readonly addressesOf: (peer: NodeId) => readonly string[]
  /** Requests one client may have in flight on its stream (default 4096). */
  readonly inflightMax?: number
  /** Multicast notifications, once per (client, message id); absent: they are acknowledged and dropped. */
  readonly onNotify?: (notification: Notification) => void
  /** How many recent (client, message id) pairs are remembered to drop duplicates (default 65 536). */
  readonly notifyDedupMax?: number
  /** The group's genesis, sent with every configuration chain page (absent: `chain` requests are refused). */
  readonly genesis?: ChainGenesis
  /** Checks who delivers another VP's outputs (default: chains asked of the delivering peer on `node`). */
  readonly outputSenders?: OutputSenders
  readonly log?: NetLogger
}

export interface ClientServiceStats {
  readonly requests: number
  readonly redirects: number
  readonly refused: number
  readonly badFrames: number
  /** Multicast notifications handed to `onNotify`, and duplicates dropped. */
  readonly notified: number
  readonly duplicateNotifications: number
}

/** A multicast notification as a member receives it. */
export interface Notification {
  /** The sender's PeerId (authenticated by the connection). */
  readonly from: string
  /** The sender's message id, base64url. */
  readonly id: string
  readonly payload: Uint8Array
}

export class ClientService<Q, A> {
  private readonly opts: ClientServiceOptions<Q, A>
  private readonly log: NetLogger
  private readonly streams = new Set<FrameStream>()
  private readonly senders: OutputSenders
  private readonly counters = { requests: 0, redirects: 0, refused: 0, badFrames: 0, notified: 0, duplicateNotifications: 0 }
  /** Recent (client, message id) keys in arrival order: a Map keeps insertion order, so the oldest goes first. */
  private readonly seenNotifications = new Map<string, true>()
  private started = false

  constructor (options: ClientServiceOptions<Q, A>) {
    this.opts = options
    this.log = options.log ?? silentLogger
    this.senders = options.outputSenders ?? new OutputSenders({ fetchPage: async (p, from, o) => await requestChainPage(options.node, p, from, o) })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.opts.node.handle(CLIENT_PROTOCOL, (stream, connection) => { this.serve(stream, connection) }, { maxInboundStreams: 16 })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.opts.node.unhandle(CLIENT_PROTOCOL).catch(() => {})
    for (const s of this.streams) s.abort(new Error('member stopping'))
    this.streams.clear()
  }

  stats (): ClientServiceStats {
    return { ...this.counters }
  }

  /** The leader and configuration this member knows, with the leader's addresses. */
  view (): GroupView {
    const status = this.opts.peer.status()
    const leader = status.leader
    return {
      leader,
      leaderAddrs: leader === undefined ? [] : [...this.opts.addressesOf(leader)],
      epoch: status.configuration.epoch,
      voters: [...status.configuration.voters],
      learners: [...status.configuration.learners],
      member: this.opts.peer.id,
      applied: this.opts.peer.applied,
      memberAddrs: [...status.configuration.voters, ...status.configuration.learners].flatMap(id => [...this.opts.addressesOf(id)])
    }
  }

  /** A page of the configuration chain from `fromEpoch`, or an error saying why there is none. */
  private chainPage (id: number, fromEpoch: number): ClientResponse {
    const genesis = this.opts.genesis
    const chain = genesis === undefined ? undefined : this.opts.peer.certificateChain?.(fromEpoch, CHAIN_LIMITS.linksMax + 1)
    if (genesis === undefined || chain === undefined) {
      return { kind: 'error', id, code: 'ERR_CHAIN_UNAVAILABLE', message: `this member holds no configuration chain from epoch ${fromEpoch}` }
    }
    const more = chain.links.length > CHAIN_LIMITS.linksMax
    const page = { genesis, base: chain.base, links: more ? chain.links.slice(0, CHAIN_LIMITS.linksMax) : chain.links, more }
    return { kind: 'ok', id, result: encodeConfigChain(page) }
  }

  private serve (stream: Stream, connection: Connection): void {
    const client = connection.remotePeer.toString()
    const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
    const closed = new AbortController()
    this.streams.add(frames)
    let inflight = 0
    const inflightMax = this.opts.inflightMax ?? 4096
    const reply = (response: ClientResponse): void => { frames.write(encodeResponse(response)) }
    const run = async (): Promise<void> => {
      for await (const body of frames.frames()) {
        const request = decodeRequest(body)
        this.counters.requests++
        if (inflight >= inflightMax) {
          reply({ kind: 'error', id: request.id, code: 'ERR_BUSY', message: `more than ${inflightMax} requests in flight on this stream` })
          continue
        }
        inflight++
        void this.handle(client, request, closed.signal).then(reply, (error: unknown) => {
          reply(errorResponse(request.id, error))
        }).finally(() => { inflight-- })
      }
      await frames.close()
    }
    void run().catch((error: unknown) => {
      if (stream.status === 'open') {
        this.counters.badFrames++
        this.log.warn({ client, ...errorFields(error) }, 'client stream closed: bad frame')
        frames.abort(error instanceof Error ? error : new Error(String(error)))
      }
    }).finally(() => {
      closed.abort()
      this.streams.delete(frames)
    })
  }

  private async handle (client: string, request: ClientRequest, signal: AbortSignal): Promise<ClientResponse> {
    const peer = this.opts.peer
    // Any member serves the chain it has applied, to anyone: the client verifies it anyway.
    if (request.kind === 'chain') return this.chainPage(request.id, request.fromEpoch)
    if (request.kind === 'outputs') return await this.outputs(client, request, signal)
    if (!peer.isClientAllowed(client)) {
      this.counters.refused++
      this.log.info({ client, request: request.kind }, 'client refused: not on the allow-list')
      return { kind: 'error', id: request.id, code: 'ERR_ACCESS_REFUSED', message: `client ${client} is not on this group's allow-list` }
    }
    if (request.kind === 'info') return { kind: 'info', id: request.id, ...this.view() }
    if (request.kind === 'notify') return this.notify(client, request)
    if (request.kind === 'deliver') {
      // Any member: the core forwards a follower's proposal to its leader; this member answers
      // when the command is applied here (the session makes every copy but one a no-op).
      const result = await peer.submitEncoded({ client: `${client}/${request.nonce}`, seq: request.seq, data: request.command }, { signal })
      return { kind: 'ok', id: request.id, result: this.opts.payloads.encodeResult(result) }
    }
    if (peer.status().role !== 'leader') {
      this.counters.redirects++
      return { kind: 'redirect', id: request.id, ...this.view() }
    }
    switch (request.kind) {
      case 'submit': {
        const result = await peer.submitEncoded({ client: `${client}/${request.nonce}`, seq: request.seq, data: request.command }, { signal })
        return { kind: 'ok', id: request.id, result: this.opts.payloads.encodeResult(result) }
      }
      case 'read': {
        const answer = await peer.read(this.opts.payloads.decodeQuery(request.query), { signal })
        return { kind: 'ok', id: request.id, result: this.opts.payloads.encodeAnswer(answer) }
      }
      case 'access': {
        // The runtime files the change under '\u0000acl/<issuer>/<nonce>': exactly once per (nonce, seq).
        const session = { client: request.nonce, seq: request.seq }
        const result = request.op === 'allow'
          ? await peer.allowClient(request.peer, { admin: request.admin, issuer: client, session, signal })
          : await peer.revokeClient(request.peer, { issuer: client, session, signal })
        return { kind: 'ok', id: request.id, result: this.opts.payloads.encodeResult(result) }
      }
    }
  }

  /**
   * Another VP's leader delivers committed outputs: the sending group must be on the allow-list
   * and the peer one of its verified voters; the runtime applies each output once (its session
   * is the sending group's, never expiring), whichever member of the receiving group takes it.
   */
  private async outputs (client: string, request: Extract<ClientRequest, { kind: 'outputs' }>, signal: AbortSignal): Promise<ClientResponse> {
    const peer = this.opts.peer
    if (peer.receiveOutputs === undefined) return { kind: 'error', id: request.id, code: 'ERR_OUTPUTS_UNSUPPORTED', message: 'this member takes no outputs of other groups' }
    if (!peer.isClientAllowed(request.group)) {
      this.counters.refused++
      this.log.info({ client, group: request.group }, 'outputs refused: the sending group is not on the allow-list')
      return { kind: 'error', id: request.id, code: 'ERR_ACCESS_REFUSED', message: `group ${request.group} is not on this group's allow-list` }
    }
    try {
      await this.senders.check(request.group, client, { signal })
    } catch (error) {
      this.counters.refused++
      this.log.info({ client, group: request.group, ...errorFields(error) }, 'outputs refused: the peer is no verified voter of the sending group')
      throw error
    }
    const through = await peer.receiveOutputs(request.group, request.outputs, { signal })
    return { kind: 'ok', id: request.id, result: encodeThrough(through) }
  }

  private notify (client: string, request: Extract<ClientRequest, { kind: 'notify' }>): ClientResponse {
    const id = Buffer.from(request.messageId).toString('base64url')
    const key = `${client}/${id}`
    if (this.seenNotifications.has(key)) {
      this.counters.duplicateNotifications++
    } else {
      this.seenNotifications.set(key, true)
      const max = this.opts.notifyDedupMax ?? 65_536
      while (this.seenNotifications.size > max) this.seenNotifications.delete(this.seenNotifications.keys().next().value as string)
      this.counters.notified++
      try {
        this.opts.onNotify?.({ from: client, id, payload: request.payload })
      } catch (error) {
        // The application's handler failed: the notification was delivered; the sender need not retry.
        this.log.error({ client, ...errorFields(error) }, 'multicast handler threw')
      }
    }
    return { kind: 'ok', id: request.id, result: new Uint8Array(0) }
  }
}

function errorResponse (id: number, error: unknown): ClientResponse {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'ERR_INTERNAL'
  const message = error instanceof Error ? error.message : String(error)
  return { kind: 'error', id, code: code.slice(0, 200), message }
}
