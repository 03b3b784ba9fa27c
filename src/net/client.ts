/**
 * `VirtualPeerClient`: reaches a virtual peer from outside, through any member addresses it is
 * given. It is not a member: it runs a libp2p node that listens nowhere and speaks only the
 * client protocol (`client-protocol.ts`).
 *
 * - Requests go to the leader. A follower answers with a redirect (the leader it knows, with
 *   addresses, and its configuration); a member that knows no leader is retried after
 *   `retryDelayMs`, going round the members. A stream that fails or an attempt that gets no
 *   answer within `attemptTimeoutMs` (a dead or paused leader) moves on to the next member at
 *   once, so a leader crash costs about the election time.
 * - Every submit carries the session `(<this client's PeerId>/<nonce>, seq)`, the same on every
 *   retry at every member: the group applies it exactly once however often it is retried and
 *   whichever leader gets it.
 * - `send` gives the command to every voter it knows at once (the multicast of the original
 *   virtual-peer design): each member proposes it, the session makes the log apply it once, and
 *   the first member to answer settles it — a dead or partitioned leader costs no timeout.
 * - `multicast` notifies every current member (voters and learners), not through the log:
 *   at-least-once per member, deduplicated by message id at the receiver.
 * - A client made by `connect` (group key + DHT bootstrap) re-resolves the group through the DHT
 *   whenever a whole round of the members it knows failed: it follows a virtual peer whose
 *   members are all replaced, as long as the DHT can reach the new ones.
 * - A client that knows the group key (`connect`, or `create` with `group`) trusts no member
 *   list a member shows it: it fetches the configuration chain (`config-chain.ts`), verifies it
 *   from the genesis the key hashes, and talks only to the verified configuration's members. A
 *   redirect to a leader outside it is refused unless the member proves a newer configuration;
 *   a chain older than the one it verified is refused as a replay.
 * - Reads are linearizable (read-index at the leader).
 * - Everything takes an `AbortSignal`. An aborted submit may still be applied.
 */
import type { Stream } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions } from '../contracts/index.js'
import { AbortError, CodedError, InvalidArgumentError, throwIfAborted } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'
import type { CommandCodec } from '../vpeer/index.js'
import { jsonCodec } from '../vpeer/index.js'
import { FrameStream } from '../alm/frame-stream.js'
import type { Identity } from '../alm/identity.js'
import { generateIdentity } from '../alm/identity.js'
import { createVpeerNode, isLoopback, parseMultiaddr } from '../alm/node-factory.js'
import type { VpeerLibp2p } from '../alm/node-factory.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeResponse, decodeThrough, encodeRequest } from './client-protocol.js'
import type { ClientRequest, ClientResponse, GroupView } from './client-protocol.js'
import { jsonPayloads } from './payload-codec.js'
import { parseGroupKey } from './group-key.js'
import { fetchVerifiedConfiguration, judgeRedirect } from './config-chain.js'
import type { VerifiedConfiguration } from './config-chain.js'
import type { CID } from 'multiformats/cid'
import type { PayloadCodec } from './payload-codec.js'
import { scopedSignal } from '../util/signals.js'

/** A member refused or failed the request for a reason retrying elsewhere cannot fix. */
export class RemoteError extends CodedError {
  static override name = 'RemoteError'
  constructor (code: string, message: string, options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

/** No member answered with a leader before the client's deadline. */
export class GroupUnreachableError extends CodedError {
  static override name = 'GroupUnreachableError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_GROUP_UNREACHABLE', options)
  }
}

export interface VirtualPeerClientOptions<C, R, Q, A> {
  /** Member multiaddrs ending in `/p2p/` and the peer id (any of them; the client finds the leader). */
  readonly members: readonly string[]
  /** The client's identity: its PeerId is what the allow-list names (default: a fresh one). */
  readonly identity?: Identity
  readonly codec?: CommandCodec<C>
  readonly payloads?: PayloadCodec<Q, A, R>
  /** An attempt at one member that gets no answer this long moves on (default 1000 ms; doubled per member after each timeout there, up to 16×, and halved back after each answer). */
  readonly attemptTimeoutMs?: number
  /** Wait between rounds when no member knows a leader (default 20 ms). */
  readonly retryDelayMs?: number
  /** A request that has found no leader for this long fails with GroupUnreachableError (default 30 s). */
  readonly deadlineMs?: number
  /** How long `multicast` keeps retrying a member that does not acknowledge (default 5 s). */
  readonly multicastDeadlineMs?: number
  /**
   * A libp2p node to speak through instead of a private one (e.g. a member's own node, to reach
   * another group): the client opens streams on it and never stops it.
   */
  readonly node?: VpeerLibp2p
  /**
   * The group key (as `connect` takes it): verify membership from the genesis and talk only to
   * verified members. `connect` always verifies; `create` does when this is given.
   */
  readonly group?: CID | string
  readonly log?: NetLogger
}

/** What `multicast` achieved: the current members that acknowledged, and those that did not in time. */
export interface MulticastReport {
  readonly id: string
  readonly acknowledged: readonly string[]
  readonly missing: readonly string[]
}

/** Codes after which another attempt (here or at another member) can succeed. */
const RETRYABLE = new Set(['ERR_NO_QUORUM', 'ERR_STOPPED', 'ERR_BUSY', 'ERR_NOT_STARTED', 'ERR_ABORTED', 'ERR_INTERNAL'])

interface LinkEntry { readonly promise: Promise<Link> }

interface Pending {
  readonly resolve: (r: ClientResponse) => void
  readonly reject: (e: unknown) => void
}

/** One member's client stream and its requests in flight. */
class Link {
  readonly frames: FrameStream
  readonly pending = new Map<number, Pending>()
  closed = false

  constructor (stream: Stream, private readonly onClose: () => void) {
    this.frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
    void this.read().catch(() => {}).finally(() => { this.close(new RemoteError('ERR_STREAM_CLOSED', 'the stream to the member closed')) })
  }

  private async read (): Promise<void> {
    for await (const body of this.frames.frames()) {
      const response = decodeResponse(body)
      const p = this.pending.get(response.id)
      if (p === undefined) continue
      this.pending.delete(response.id)
      p.resolve(response)
    }
  }

  close (error: Error): void {
    if (this.closed) return
    this.closed = true
    this.frames.abort(error)
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    this.onClose()
  }
}

export class VirtualPeerClient<C, R, Q = unknown, A = unknown> {
  readonly id: string
  private readonly node: VpeerLibp2p
  private readonly ownsNode: boolean
  private readonly multicastDeadlineMs: number
  /** Finds the group's current providers again (clients made by `connect`). */
  private resolver: ((signal: AbortSignal) => Promise<string[]>) | undefined
  private resolving: Promise<void> | undefined
  private lastResolveMs = 0
  /** Consecutive failed attempts per member: members that keep failing are tried last. */
  private readonly failures = new Map<string, number>()
  /**
   * Per member, how long an attempt waits for an answer: `attemptTimeoutMs`, doubled after each
   * timeout there (up to 16×) and halved back after each answer, so that a slow member or host is
   * waited for while a dead or paused one costs one short timeout before the next is tried.
   */
  private readonly patience = new Map<string, number>()
  /** The newest configuration a member showed this client (the verified one when verifying). */
  private config: { epoch: number, voters: readonly string[], learners: readonly string[] } | undefined
  /** With a group key: the newest configuration verified from the genesis. */
  private verification: { readonly key: CID, verified: VerifiedConfiguration | undefined } | undefined
  private readonly codec: CommandCodec<C>
  private readonly payloads: PayloadCodec<Q, A, R>
  private readonly attemptTimeoutMs: number
  private readonly retryDelayMs: number
  private readonly deadlineMs: number
  private readonly log: NetLogger
  private readonly nonce = randomBytes(12).toString('base64url')
  private seq = 0
  private requestId = 0
  /** Known member addresses (with /p2p/), by peer id. */
  private readonly members = new Map<string, string[]>()
  private order: string[] = []
  private cursor = 0
  private leader: string | undefined
  private readonly links = new Map<string, LinkEntry>()
  private closed = false

  private constructor (node: VpeerLibp2p, id: string, options: VirtualPeerClientOptions<C, R, Q, A>) {
    this.node = node
    this.ownsNode = options.node === undefined
    this.multicastDeadlineMs = options.multicastDeadlineMs ?? 5000
    this.id = id
    this.codec = options.codec ?? jsonCodec<C>()
    this.payloads = options.payloads ?? jsonPayloads<Q, A, R>()
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1000
    this.retryDelayMs = options.retryDelayMs ?? 20
    this.deadlineMs = options.deadlineMs ?? 30_000
    this.log = options.log ?? silentLogger
    for (const text of options.members) this.learn(text)
    if (this.order.length === 0) throw new InvalidArgumentError('a client needs at least one member address with /p2p/<peer id>')
    if (options.group !== undefined) this.verification = { key: typeof options.group === 'string' ? parseGroupKey(options.group) : options.group, verified: undefined }
  }

  /**
   * A client that knows only the group's key and the address of any peer of the group's DHT:
   * it joins the DHT as a client, finds the peers that provide the key (the current members),
   * and goes on as `create` with their addresses. A stale provider (a removed or dead member)
   * costs one redirect or one attempt; the client moves on to the next.
   * @throws GroupUnreachableError if no provider is found before `signal` fires (default 30 s)
   */
  static async connect<C, R, Q = unknown, A = unknown> (options: Omit<VirtualPeerClientOptions<C, R, Q, A>, 'members'> & {
    /** The group key (`groupKey(spec)`), or its string form. */
    readonly group: CID | string
    /** Multiaddrs (with /p2p/) of any peers of the group's DHT. */
    readonly bootstrap: readonly string[]
  } & AbortOptions): Promise<VirtualPeerClient<C, R, Q, A>> {
    const key = typeof options.group === 'string' ? parseGroupKey(options.group) : options.group
    if (options.bootstrap.length === 0 && options.node === undefined) throw new InvalidArgumentError('connect needs at least one bootstrap address (or a node already in the DHT)')
    const { node, id } = options.node !== undefined
      ? { node: options.node, id: options.node.peerId.toString() }
      : await privateNode(options.identity, options.bootstrap, 'client')
    try {
      const signal = options.signal ?? AbortSignal.timeout(options.deadlineMs ?? 30_000)
      const members = await findMembers(node, key, options.bootstrap, signal)
      const client = new VirtualPeerClient<C, R, Q, A>(node, id, { ...options, group: key, members })
      client.resolver = async s => await findMembers(node, key, options.bootstrap, s)
      try {
        // Until the deadline: right after a change (or under load) no provider may answer yet.
        for (;;) {
          try {
            await client.verifyFrom(client.order, signal)
            break
          } catch (error) {
            if (!(error instanceof GroupUnreachableError)) throw error
            if (signal.aborted) throw error
            await client.pause(signal).catch(() => { throw error })
            client.lastResolveMs = 0
            await client.reresolve(signal)
          }
        }
      } catch (error) {
        await client.close()
        throw error
      }
      return client
    } catch (error) {
      if (options.node === undefined) await node.stop()
      if (error instanceof CodedError) throw error
      // libp2p rejects with its own errors (a DOMException when a signal fires mid-dial).
      throw new GroupUnreachableError(`no provider of group ${key.toString()} reached`, { cause: error })
    }
  }

  static async create<C, R, Q = unknown, A = unknown> (options: VirtualPeerClientOptions<C, R, Q, A>): Promise<VirtualPeerClient<C, R, Q, A>> {
    for (const m of options.members) {
      const ma = parseMultiaddr(m)
      if (ma.getComponents().find(c => c.name === 'p2p') === undefined) throw new InvalidArgumentError(`member address ${m} has no /p2p/<peer id>`)
    }
    const { node, id } = options.node !== undefined
      ? { node: options.node, id: options.node.peerId.toString() }
      : await privateNode(options.identity, options.members, undefined)
    const client = new VirtualPeerClient<C, R, Q, A>(node, id, options)
    if (client.verification !== undefined) {
      try {
        await client.verifyFrom(client.order, AbortSignal.timeout(client.deadlineMs))
      } catch (error) {
        await client.close()
        throw error
      }
    }
    return client
  }

  /** The configuration this client verified from the genesis (undefined when it does not verify). */
  get verifiedConfiguration (): VerifiedConfiguration | undefined {
    return this.verification?.verified
  }

  /** Orders `command` through the group; resolves with the state machine's result. Exactly once. */
  async submit (command: C, options: AbortOptions = {}): Promise<R> {
    const data = this.codec.encode(command)
    const seq = ++this.seq
    const response = await this.call(id => ({ kind: 'submit', id, nonce: this.nonce, seq, command: data }), options)
    return this.payloads.decodeResult(response)
  }

  /**
   * Orders `command` through the group like `submit`, but gives it to every voter this client
   * knows at once, under one session: each member proposes it (a follower through its leader),
   * the log applies it once, and the first member to answer after applying it settles the call
   * with the state machine's result. Keeps going across membership changes: when every voter it
   * knows fails, it asks for the configuration again (and, for a client made by `connect`,
   * re-resolves the group in the DHT), with the same session.
   */
  async send (command: C, options: AbortOptions = {}): Promise<R> {
    if (this.closed) throw new RemoteError('ERR_CLIENT_CLOSED', 'the client is closed')
    const data = this.codec.encode(command)
    const seq = ++this.seq
    const started = Date.now()
    let lastError: unknown
    for (let round = 0; ; round++) {
      throwIfAborted(options.signal)
      if (Date.now() - started > this.deadlineMs) throw new GroupUnreachableError(`no member applied the command within ${this.deadlineMs} ms`, { cause: lastError })
      if (round > 0) {
        await this.pause(options.signal)
        await this.refreshView(options.signal)
      }
      const targets = this.currentMembers('voters')
      // A member answers once it has applied the command: a follower waits for its leader's
      // commit too, so more patience than an attempt that only detects a dead member.
      const outcome = await this.race(targets, id => ({ kind: 'deliver', id, nonce: this.nonce, seq, command: data }), { ...options, timeoutMs: Math.max(3 * this.attemptTimeoutMs, 3000) })
      if (outcome.kind === 'ok') return this.payloads.decodeResult(outcome.result)
      lastError = outcome.error
      if (outcome.refusal !== undefined) throw outcome.refusal
    }
  }

  /**
   * Notifies every current member (voters and learners) of `payload`, outside the log: at least
   * once per member (retried until it acknowledges, up to `multicastDeadlineMs`), deduplicated
   * by message id at the receiver. Resolves with who acknowledged and who did not.
   * @throws GroupUnreachableError if no member acknowledged
   */
  async multicast (payload: Uint8Array, options: AbortOptions = {}): Promise<MulticastReport> {
    if (this.closed) throw new RemoteError('ERR_CLIENT_CLOSED', 'the client is closed')
    const messageId = randomBytes(16)
    const id = Buffer.from(messageId).toString('base64url')
    const deadline = Date.now() + this.multicastDeadlineMs
    if (this.config === undefined) await this.refreshView(options.signal)
    const acknowledged = new Set<string>()
    let lastError: unknown
    let refusal: RemoteError | undefined
    for (;;) {
      throwIfAborted(options.signal)
      // The configuration may change while we retry: every member of the newest one is owed it.
      const pending = this.currentMembers('all').filter(p => !acknowledged.has(p))
      if (pending.length === 0) break
      await Promise.all(pending.map(async peer => {
        try {
          const r = await this.attempt(peer, rid => ({ kind: 'notify', id: rid, messageId, payload }), options)
          if (r.kind === 'ok') { acknowledged.add(peer); this.failures.delete(peer); return }
          if (r.kind === 'error') {
            const error = new RemoteError(r.code, r.message)
            lastError = error
            if (!RETRYABLE.has(r.code)) refusal ??= error
          }
        } catch (error) {
          if (error instanceof AbortError) throw error
          lastError = error
          this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
        }
      }))
      if (Date.now() > deadline) break
      if (refusal !== undefined) throw refusal
      await this.pause(options.signal)
      await this.refreshView(options.signal)
    }
    if (acknowledged.size === 0) throw new GroupUnreachableError('no member acknowledged the notification', { cause: lastError })
    const members = this.currentMembers('all')
    return { id, acknowledged: [...acknowledged], missing: members.filter(p => !acknowledged.has(p)) }
  }

  /**
   * Hands committed outputs of the group `sender` (VP-to-VP messages, `ApplyContext.send`) to
   * this client's group: any member takes them once it has verified that this client's peer is
   * a voter of `sender` and `sender` is on its allow-list. Resolves with the seq taken through;
   * outputs beyond the protocol's payload limit wait for the next call.
   */
  async deliverOutputs (sender: string, outputs: ReadonlyArray<{ readonly seq: number, readonly data: Uint8Array }>, options: AbortOptions = {}): Promise<number> {
    if (outputs.length === 0) throw new InvalidArgumentError('no outputs to deliver')
    let bytes = 0
    let n = 0
    for (const o of outputs) {
      if (n > 0 && (n >= CLIENT_LIMITS.outputsMax || bytes + o.data.byteLength > CLIENT_LIMITS.payloadBytesMax)) break
      bytes += o.data.byteLength
      n++
    }
    const batch = outputs.slice(0, n)
    return decodeThrough(await this.call(id => ({ kind: 'outputs', id, group: sender, outputs: batch }), options))
  }

  /** A linearizable read at the leader. */
  async read (query: Q, options: AbortOptions = {}): Promise<A> {
    const bytes = this.payloads.encodeQuery(query)
    return this.payloads.decodeAnswer(await this.call(id => ({ kind: 'read', id, query: bytes }), options))
  }

  /** Puts `peer` on the group's allow-list (this client must be an administrator). */
  async allow (peer: string, options: AbortOptions & { admin?: boolean } = {}): Promise<void> {
    const seq = ++this.seq
    await this.call(id => ({ kind: 'access', id, nonce: this.nonce, seq, op: 'allow', peer, admin: options.admin === true }), options)
  }

  /** Takes `peer` off the allow-list (this client must be an administrator). */
  async revoke (peer: string, options: AbortOptions = {}): Promise<void> {
    const seq = ++this.seq
    await this.call(id => ({ kind: 'access', id, nonce: this.nonce, seq, op: 'revoke', peer, admin: false }), options)
  }

  /**
   * The leader and configuration as one member knows them, with that member's applied index:
   * `member` names it (a peer id this client knows), else the presumed leader, else any.
   * Without `member`, failures move on to another member.
   */
  async info (options: AbortOptions & { member?: string } = {}): Promise<GroupView> {
    const deadline = Date.now() + this.deadlineMs
    if (options.member !== undefined && !this.members.has(options.member)) throw new InvalidArgumentError(`no address known for member ${options.member}`)
    for (;;) {
      throwIfAborted(options.signal)
      const peer = options.member ?? this.leader ?? this.next()
      let response: ClientResponse
      try {
        response = await this.attempt(peer, id => ({ kind: 'info', id }), options)
      } catch (error) {
        // The member did not answer (down, paused, unreachable): try another, until the deadline.
        if (error instanceof AbortError) throw error
        if (Date.now() > deadline) throw new GroupUnreachableError('no member answered', { cause: error })
        if (this.leader === peer) this.leader = undefined
        if (options.member !== undefined) await this.pause(options.signal)
        continue
      }
      if (response.kind === 'info' || response.kind === 'redirect') {
        if (!await this.absorbView(peer, response, options.signal)) {
          if (Date.now() > deadline) throw new GroupUnreachableError('no member showed a verifiable configuration')
          if (this.leader === peer) this.leader = undefined
          await this.pause(options.signal)
          continue
        }
        return viewOf(response)
      }
      if (response.kind === 'error') {
        if (!RETRYABLE.has(response.code)) throw new RemoteError(response.code, response.message)
        if (Date.now() > deadline) throw new GroupUnreachableError('no member answered', { cause: new RemoteError(response.code, response.message) })
        await this.pause(options.signal)
        continue
      }
      throw new RemoteError('ERR_CLIENT_PROTOCOL', `unexpected ${response.kind} answer to an info request`)
    }
  }

  /** Resolves with a view that names a leader, asking members until one knows it. */
  async whenLeader (options: AbortOptions = {}): Promise<GroupView> {
    const deadline = Date.now() + this.deadlineMs
    for (;;) {
      const view = await this.info(options)
      if (view.leader !== undefined) return view
      if (Date.now() > deadline) throw new GroupUnreachableError(`no member knew a leader within ${this.deadlineMs} ms`)
      this.leader = undefined
      await this.pause(options.signal)
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const entry of this.links.values()) void entry.promise.then(l => { l.close(new RemoteError('ERR_CLIENT_CLOSED', 'client closed')) }, () => {})
    this.links.clear()
    if (this.ownsNode) await this.node.stop()
  }

  // ---------------------------------------------------------------------------------------

  /**
   * Sends the request to the leader (as far as known) until a member answers it: redirects are
   * followed, failures move on to the next member. Returns the `ok` payload.
   */
  private async call (build: (id: number) => ClientRequest, options: AbortOptions): Promise<Uint8Array> {
    if (this.closed) throw new RemoteError('ERR_CLIENT_CLOSED', 'the client is closed')
    const started = Date.now()
    let lastError: unknown
    let hops = 0
    for (;;) {
      throwIfAborted(options.signal)
      if (Date.now() - started > this.deadlineMs) {
        throw new GroupUnreachableError(`no leader answered within ${this.deadlineMs} ms`, { cause: lastError })
      }
      const peer = this.leader ?? this.next()
      let response: ClientResponse
      try {
        response = await this.attempt(peer, build, options)
      } catch (error) {
        if (error instanceof AbortError) throw error
        lastError = error
        this.log.debug({ peer, ...errorFields(error) }, 'attempt failed; trying the next member')
        this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
        if (this.leader === peer) this.leader = undefined
        // Straight on to the next member; once every member was tried, a pause and (for a client
        // that found the group in the DHT) a fresh look at who provides it now.
        if (++hops % this.order.length === 0) {
          await this.pause(options.signal)
          await this.reresolve(options.signal)
        }
        continue
      }
      this.failures.delete(peer)
      switch (response.kind) {
        case 'ok': return response.result
        case 'error':
          if (!RETRYABLE.has(response.code)) throw new RemoteError(response.code, response.message)
          lastError = new RemoteError(response.code, response.message)
          if (this.leader === peer) this.leader = undefined
          await this.pause(options.signal)
          continue
        case 'redirect':
        case 'info':
          if (!await this.absorbView(peer, response, options.signal)) {
            // A redirect that does not verify: this member is not followed.
            if (this.leader === peer) this.leader = undefined
            if (++hops % this.order.length === 0) await this.pause(options.signal)
            continue
          }
          if (response.leader === undefined || response.leader === peer) {
            // Nobody known, or a leader that redirects to itself (it just stepped down): wait.
            this.leader = undefined
            if (++hops % this.order.length === 0) await this.pause(options.signal)
          }
          continue
      }
    }
  }

  private async attempt (peer: string, build: (id: number) => ClientRequest, options: AbortOptions & { timeoutMs?: number }): Promise<ClientResponse> {
    const timeoutMs = options.timeoutMs ?? this.patience.get(peer) ?? this.attemptTimeoutMs
    const link = await this.link(peer, options.signal, timeoutMs)
    const id = ++this.requestId
    const request = build(id)
    return await new Promise<ClientResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish()
        // No answer: the member may be paused or partitioned. Drop the link so that a later
        // attempt dials afresh instead of queueing behind it.
        link.close(new RemoteError('ERR_ATTEMPT_TIMEOUT', `no answer from ${peer} within ${timeoutMs} ms`))
        this.patience.set(peer, Math.min(16 * this.attemptTimeoutMs, 2 * (this.patience.get(peer) ?? this.attemptTimeoutMs)))
        reject(new RemoteError('ERR_ATTEMPT_TIMEOUT', `no answer from ${peer} within ${timeoutMs} ms`))
      }, timeoutMs)
      const onAbort = (): void => {
        finish()
        reject(new AbortError(undefined, { cause: options.signal?.reason }))
      }
      const finish = (): void => {
        clearTimeout(timer)
        link.pending.delete(id)
        options.signal?.removeEventListener('abort', onAbort)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      link.pending.set(id, {
        resolve: r => {
          finish()
          const p = this.patience.get(peer)
          if (p !== undefined) { if (p / 2 <= this.attemptTimeoutMs) this.patience.delete(peer); else this.patience.set(peer, p / 2) }
          resolve(r)
        },
        reject: e => { finish(); reject(e) }
      })
      if (!link.frames.write(encodeRequest(request))) {
        finish()
        link.close(new RemoteError('ERR_STREAM_CLOSED', 'the stream to the member closed'))
        reject(new RemoteError('ERR_STREAM_CLOSED', `stream to ${peer} is closed`))
      }
    })
  }

  private async link (peer: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<Link> {
    let entry = this.links.get(peer)
    if (entry === undefined) {
      const created: LinkEntry = { promise: this.open(peer, signal, timeoutMs, () => { if (this.links.get(peer) === created) this.links.delete(peer) }) }
      entry = created
      this.links.set(peer, created)
      void created.promise.catch(() => { if (this.links.get(peer) === created) this.links.delete(peer) })
    }
    return await entry.promise
  }

  private async open (peer: string, signal: AbortSignal | undefined, timeoutMs: number, onClose: () => void): Promise<Link> {
    const addrs = this.members.get(peer) ?? []
    const dial = scopedSignal([signal], timeoutMs)
    let lastError: unknown = new RemoteError('ERR_NO_ADDRESS', `no address known for ${peer}`)
    try {
      for (const addr of addrs) {
        try {
          const stream = await this.node.dialProtocol(parseMultiaddr(addr), CLIENT_PROTOCOL, { signal: dial.signal })
          return new Link(stream, onClose)
        } catch (error) {
          lastError = error
        }
      }
    } finally {
      dial.dispose()
    }
    throw lastError
  }

  /** The next member to try, round robin, skipping members that failed twice in a row while others have not. */
  private next (): string {
    const n = this.order.length
    for (let i = 0; i < n; i++) {
      const peer = this.order[(this.cursor + i) % n] as string
      if ((this.failures.get(peer) ?? 0) < 2 && this.eligible(peer)) {
        this.cursor += i + 1
        return peer
      }
    }
    const pool = this.order.filter(p => this.eligible(p))
    const peer = (pool.length > 0 ? pool : this.order)[this.cursor % (pool.length > 0 ? pool.length : n)] as string
    this.cursor++
    return peer
  }

  /** Whether this client may send requests to `peer`: any peer, or only verified members. */
  private eligible (peer: string): boolean {
    const v = this.verification?.verified
    return this.verification === undefined || (v !== undefined && (v.voters.includes(peer) || v.learners.includes(peer)))
  }

  /**
   * The members of the newest configuration seen whose addresses this client knows (`voters`, or
   * voters and learners); before any configuration was seen, or when none of them has a known
   * address, every member address it was given.
   */
  private currentMembers (which: 'voters' | 'all'): string[] {
    const c = this.config
    if (c !== undefined) {
      const ids = (which === 'voters' ? c.voters : [...c.voters, ...c.learners]).filter(id => this.members.has(id))
      if (ids.length > 0) return ids
    }
    return this.order.filter(p => this.eligible(p))
  }

  /**
   * Takes a member's view in. Without verification, as it is. With it, the configuration comes
   * from the verified chain only: a member claiming a newer epoch is asked for the chain, and a
   * redirect to a leader that is not a verified voter is refused (false).
   */
  private async absorbView (peer: string, view: GroupView, signal: AbortSignal | undefined): Promise<boolean> {
    const verification = this.verification
    if (verification === undefined) { this.noteView(view); return true }
    let verified = verification.verified
    if (verified === undefined || view.epoch > verified.epoch) {
      await this.verifyFrom([peer], signal).catch((error: unknown) => {
        if (error instanceof AbortError) throw error
        this.log.debug({ peer, ...errorFields(error) }, 'a member\'s configuration did not verify')
      })
      verified = verification.verified
    }
    if (verified === undefined) return false
    const verdict = judgeRedirect(verified, view)
    if (verdict.kind !== 'trusted') {
      this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
      this.log.debug({ peer, leader: view.leader, epoch: view.epoch, verifiedEpoch: verified.epoch }, 'redirect refused: not a verified voter')
      return false
    }
    const members = new Set([...verified.voters, ...verified.learners])
    for (const a of [...view.leaderAddrs, ...view.memberAddrs]) {
      const id = peerOf(a)
      if (id !== undefined && members.has(id)) this.learn(a)
    }
    if (view.leader !== undefined && this.members.has(view.leader)) this.leader = view.leader
    return true
  }

  /**
   * Fetches and verifies the configuration chain from `peers` (five at once, until a batch verifies something new) and
   * keeps the newest configuration verified. A provider whose chain is forged, broken or older
   * than what this client already trusts adds nothing.
   * @throws GroupUnreachableError if nothing was ever verified and no peer gave a valid chain
   */
  private async verifyFrom (peers: readonly string[], signal: AbortSignal | undefined): Promise<void> {
    const verification = this.verification
    if (verification === undefined) return
    let lastError: unknown
    // Five at a time: stale providers (removed or dead members whose records have not expired)
    // fail fast, and the first batch that verifies anything ends the search.
    for (let i = 0; i < peers.length; i += 5) {
      const before = verification.verified?.epoch
      await this.verifyBatch(peers.slice(i, i + 5), signal, error => { lastError = error })
      if (verification.verified !== undefined && verification.verified.epoch !== before) break
    }
    if (verification.verified === undefined) {
      throw new GroupUnreachableError('no provider showed a configuration chain that verifies from the genesis', { cause: lastError })
    }
  }

  private async verifyBatch (peers: readonly string[], signal: AbortSignal | undefined, onError: (error: unknown) => void): Promise<void> {
    const verification = this.verification
    if (verification === undefined) return
    await Promise.all(peers.map(async peer => {
      try {
        const trusted = verification.verified
        const got = await fetchVerifiedConfiguration({
          groupKey: verification.key,
          ...(trusted !== undefined ? { trusted } : {}),
          ...(signal !== undefined ? { signal } : {}),
          request: async (fromEpoch, o) => {
            // A chain page is larger than an answer and a provider may be far: more patience.
            const r = await this.attempt(peer, id => ({ kind: 'chain', id, fromEpoch }), { ...o, timeoutMs: Math.max(3 * this.attemptTimeoutMs, 3000) })
            if (r.kind === 'ok') return r.result
            if (r.kind === 'error') throw new RemoteError(r.code, r.message)
            throw new RemoteError('ERR_CLIENT_PROTOCOL', `unexpected ${r.kind} answer to a chain request`)
          }
        })
        const now = verification.verified
        if (now === undefined || got.epoch > now.epoch) {
          verification.verified = got
          this.config = { epoch: got.epoch, voters: [...got.voters], learners: [...got.learners] }
          if (this.leader !== undefined && !got.voters.includes(this.leader)) this.leader = undefined
          this.log.debug({ peer, epoch: got.epoch, voters: got.voters }, 'configuration verified')
        }
      } catch (error) {
        if (error instanceof AbortError) throw error
        onError(error)
        this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
      }
    }))
  }

  /**
   * Asks the members, least-failed first, for their view until one answers; when none does,
   * re-resolves the group (clients made by `connect`). Never throws but for an abort.
   */
  private async refreshView (signal: AbortSignal | undefined): Promise<void> {
    const ordered = [...this.order].sort((a, b) => (this.failures.get(a) ?? 0) - (this.failures.get(b) ?? 0))
    for (const peer of ordered) {
      throwIfAborted(signal)
      try {
        const r = await this.attempt(peer, id => ({ kind: 'info', id }), { signal })
        if ((r.kind === 'info' || r.kind === 'redirect') && await this.absorbView(peer, r, signal)) {
          this.failures.delete(peer)
          return
        }
      } catch (error) {
        if (error instanceof AbortError) throw error
        this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
      }
    }
    await this.reresolve(signal)
  }

  /**
   * Looks the group up in the DHT again and puts the providers found first: what lets a client
   * follow a virtual peer whose members were all replaced. At most once a second, one at a time.
   */
  private async reresolve (signal: AbortSignal | undefined): Promise<void> {
    const resolver = this.resolver
    if (resolver === undefined || this.closed) return
    if (this.resolving === undefined && Date.now() - this.lastResolveMs >= 1000) {
      this.resolving = (async () => {
        try {
          const scope = scopedSignal([signal], Math.min(5000, this.deadlineMs))
          const found = await resolver(scope.signal).finally(() => { scope.dispose() })
          const ids = new Set<string>()
          for (const a of found) { const id = this.learn(a); if (id !== undefined) ids.add(id) }
          for (const id of ids) this.failures.delete(id)
          // Providers are only candidates: their chains decide who the members are now.
          if (this.verification !== undefined) await this.verifyFrom([...ids], signal).catch((error: unknown) => { if (error instanceof AbortError) throw error })
          this.order = [...ids, ...this.order.filter(id => !ids.has(id))]
          this.cursor = 0
          this.log.debug({ providers: [...ids] }, 'group re-resolved through the DHT')
        } catch (error) {
          this.log.debug({ ...errorFields(error) }, 'group re-resolution found nobody')
        } finally {
          this.lastResolveMs = Date.now()
          this.resolving = undefined
        }
      })()
    }
    await this.resolving
  }

  /**
   * Sends one request to every target at once; resolves with the first `ok`, or once all have
   * failed with the last failure. The losers' answers are ignored (their pending entries end
   * with their answer or their attempt timeout).
   */
  private async race (targets: readonly string[], build: (id: number) => ClientRequest, options: AbortOptions & { timeoutMs?: number }): Promise<{ kind: 'ok', result: Uint8Array } | { kind: 'failed', error: unknown, refusal: RemoteError | undefined }> {
    return await new Promise((resolve, reject) => {
      let left = targets.length
      let settled = false
      let lastError: unknown = new RemoteError('ERR_NO_ADDRESS', 'no member address known')
      // A member's answer that retrying cannot change (access refused, too large, ...), as
      // opposed to a failed stream or a silent member.
      let refusal: RemoteError | undefined
      if (left === 0) { resolve({ kind: 'failed', error: lastError, refusal }); return }
      const failed = (error: unknown): void => {
        lastError = error
        if (--left === 0 && !settled) { settled = true; resolve({ kind: 'failed', error: lastError, refusal }) }
      }
      for (const peer of targets) {
        this.attempt(peer, build, options).then(r => {
          if (r.kind === 'ok') {
            this.failures.delete(peer)
            if (!settled) { settled = true; resolve({ kind: 'ok', result: r.result }) }
            return
          }
          if (r.kind === 'error') {
            const error = new RemoteError(r.code, r.message)
            if (!RETRYABLE.has(r.code)) refusal ??= error
            failed(error)
            return
          }
          failed(new RemoteError('ERR_CLIENT_PROTOCOL', `unexpected ${r.kind} answer`))
        }, (error: unknown) => {
          if (error instanceof AbortError) {
            if (!settled) { settled = true; reject(error) }
            return
          }
          this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
          failed(error)
        })
      }
    })
  }

  private async pause (signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(this.retryDelayMs, undefined, signal === undefined ? undefined : { signal })
    } catch (error) {
      throw new AbortError(undefined, { cause: signal?.reason ?? error })
    }
  }

  /** Adds a member address (with /p2p/) to the ones this client knows. */
  private learn (text: string): string | undefined {
    let ma
    try { ma = parseMultiaddr(text) } catch { return undefined }
    const id = ma.getComponents().find(c => c.name === 'p2p')?.value
    if (id === undefined) return undefined
    const list = this.members.get(id) ?? []
    if (!list.includes(text)) list.push(text)
    if (!this.members.has(id)) { this.members.set(id, list); this.order.push(id) }
    return id
  }

  private noteView (view: GroupView): void {
    for (const a of view.leaderAddrs) this.learn(a)
    for (const a of view.memberAddrs) this.learn(a)
    if (this.config === undefined || view.epoch >= this.config.epoch) this.config = { epoch: view.epoch, voters: [...view.voters], learners: [...view.learners] }
    if (view.leader !== undefined && this.members.has(view.leader)) this.leader = view.leader
  }
}

/** The peer id a multiaddr string ends in (/p2p/<id>), if any. */
function peerOf (text: string): string | undefined {
  try {
    return parseMultiaddr(text).getComponents().find(c => c.name === 'p2p')?.value
  } catch {
    return undefined
  }
}

/** A client given only loopback addresses dials nothing else, whatever a member advertises. */
function dialPolicyFor (addresses: readonly string[]): 'loopback' | 'any' {
  return addresses.every(a => isLoopback(parseMultiaddr(a))) ? 'loopback' : 'any'
}

function viewOf (r: GroupView): GroupView {
  return { leader: r.leader, leaderAddrs: [...r.leaderAddrs], epoch: r.epoch, voters: [...r.voters], learners: [...r.learners], member: r.member, applied: r.applied, memberAddrs: [...r.memberAddrs] }
}

/** The client's own libp2p node: listens nowhere, dials only loopback when given only loopback addresses. */
async function privateNode (identity: Identity | undefined, addresses: readonly string[], dht: 'client' | undefined): Promise<{ node: VpeerLibp2p, id: string }> {
  const own = identity ?? await generateIdentity()
  const node = await createVpeerNode({ privateKey: own.privateKey, listen: [], dial: dialPolicyFor(addresses), ...(dht !== undefined ? { dht } : {}) })
  return { node, id: own.id }
}

/**
 * The addresses (with /p2p/) of the peers that provide `key`, found through the DHT reached by
 * the bootstrap peers: those found up to 300 ms after the first. Retries until one is found:
 * right after start-up the providers may not have announced themselves yet.
 */
async function findMembers (node: VpeerLibp2p, key: CID, bootstrap: readonly string[], signal: AbortSignal): Promise<string[]> {
  let lastError: unknown
  // A node given no bootstrap is already in the DHT (a member's own node). Otherwise dial until
  // one bootstrap peer is reached: a handshake can time out on a loaded machine.
  for (let round = 0, dialed = 0; dialed === 0 && bootstrap.length > 0; round++) {
    for (const b of bootstrap) {
      try {
        await node.dial(parseMultiaddr(b), { signal })
        dialed++
      } catch (error) {
        lastError = error
      }
    }
    if (dialed > 0) break
    if (signal.aborted) throw new GroupUnreachableError('no bootstrap peer could be reached', { cause: lastError })
    try {
      await sleep(Math.min(2000, 100 * 2 ** round), undefined, { signal })
    } catch {
      throw new GroupUnreachableError('no bootstrap peer could be reached', { cause: lastError })
    }
  }
  for (;;) {
    if (signal.aborted) throw new GroupUnreachableError(`no provider of group ${key.toString()} found`, { cause: lastError ?? signal.reason })
    const found = new Set<string>()
    // The query runs until its timeout once the nearest peers are asked; the first providers
    // come well before. A short grace after the first one collects the rest of the group.
    const settled = new AbortController()
    let grace: ReturnType<typeof setTimeout> | undefined
    const query = scopedSignal([signal, settled.signal], 3000)
    try {
      for await (const provider of node.contentRouting.findProviders(key, { signal: query.signal })) {
        grace ??= setTimeout(() => { settled.abort() }, 300)
        const id = provider.id.toString()
        let addrs = provider.multiaddrs
        if (addrs.length === 0) addrs = (await node.peerStore.get(provider.id).catch(() => undefined))?.addresses.map(a => a.multiaddr) ?? []
        for (const a of addrs) {
          const text = a.toString()
          found.add(text.includes('/p2p/') ? text : `${text}/p2p/${id}`)
        }
        if (found.size >= 16) break
      }
    } catch (error) {
      if (!settled.signal.aborted) lastError = error
    } finally {
      clearTimeout(grace)
      query.dispose()
    }
    if (found.size > 0) return [...found]
    try {
      await sleep(100, undefined, { signal })
    } catch {}
  }
}
