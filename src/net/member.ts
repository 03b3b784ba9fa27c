/**
 * One member process of a virtual peer on a real network: a libp2p node, LevelDB storage, the
 * `VirtualPeer` runtime, the libp2p transport and the client service, wired together. A spare
 * (an identity the cluster file lists under `spares`, or one found in the DHT) runs the same code: it is in no
 * configuration, answers nobody's protocol but the group's, and waits for a leader to add it.
 *
 * Who may speak the Paxos protocols to this node: the members of every configuration it knows
 * (voters and learners, the newest one and any still in its α-window), and, while this node is
 * itself in none of them (a spare, or a member that was removed and does not know it yet), the
 * voters and spares of the cluster file, the members an invitation named (`bootstrap`), and the
 * peers that provide the group key in the DHT (the group's current members, as far as the DHT
 * tells), from whom it will learn. Nobody else.
 * The limit of that rule: any peer of the private DHT can provide the group key, so a spare in
 * no configuration may accept Paxos messages from a peer that is not a member. It can mislead
 * only a node that is not yet a member (a learner has no vote); certified configurations will
 * close it.
 *
 * With the DHT on, spares come from there too (`spares.ts`): a spare provides the group's spare
 * key and answers `/vpeer/spare/1.0.0`; every member keeps a `SparePool` of those it found,
 * probed and watched, and the replacement policy takes its candidates from the pool (invited
 * ones, by effective uptime), then from the cluster file's spares.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { NodeId } from '../paxos/index.js'
import { DEFAULT_PAXOS_CONFIG } from '../paxos/index.js'
import type { CommandCodec, ReplacementPolicy, VirtualPeerInit } from '../vpeer/index.js'
import { DEFAULT_REPLACEMENT, SystemClock, VirtualPeer, systemRandom } from '../vpeer/index.js'
import type { StateMachine } from '../contracts/index.js'
import { LevelStorage } from '../storage/index.js'
import type { Identity } from '../alm/identity.js'
import { createVpeerNode, parseMultiaddr } from '../alm/node-factory.js'
import type { VpeerLibp2p } from '../alm/node-factory.js'
import { Libp2pTransport } from '../alm/libp2p-transport.js'
import { DEFAULT_FRAME_BYTES_MAX, decodeWireMessage, encodeWireMessage } from '../alm/wire-codec.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { ClientService } from './client-service.js'
import { GroupSender } from './group-sender.js'
import type { VerifiedConfiguration } from './config-chain.js'
import { requestChainPage } from './output-senders.js'
import type { Notification } from './client-service.js'
import type { ClusterSpec } from './cluster-spec.js'
import { bootstrapConfiguration, dialAddresses } from './cluster-spec.js'
import { jsonPayloads } from './payload-codec.js'
import { groupKey } from './group-key.js'
import { fetchVerifiedConfiguration, libp2pCertificateSigner } from './config-chain.js'
import type { CID } from 'multiformats/cid'
import type { PayloadCodec } from './payload-codec.js'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { SpareAnnouncer, SparePool, SpareService, findProviders, probeSpare, resolvePeer, spareKey } from './spares.js'
import { scopedSignal } from '../util/signals.js'

/** The first repeat of the bootstrap dials, and the longest wait between repeats, ms. */
const BOOTSTRAP_REDIAL_FIRST_MS = 1000
const BOOTSTRAP_REDIAL_MAX_MS = 30_000

export interface MemberOptions<C, R, Q, A> {
  readonly identity: Identity
  /** Folder of this member's LevelDB database (created if missing). */
  readonly dataDir: string
  readonly cluster: ClusterSpec
  /** Listen addresses (default: this identity's addresses in the cluster file). */
  readonly listen?: readonly string[]
  readonly stateMachine: StateMachine<C, R, Q, A>
  readonly codec?: CommandCodec<C>
  readonly payloads?: PayloadCodec<Q, A>
  /** Runtime options passed through to the VirtualPeer (tick, retry, snapshot cadence, core). */
  readonly runtime?: Partial<Pick<VirtualPeerInit<C, R, Q, A>, 'tickMs' | 'retryMs' | 'paxos' | 'snapshotEverySlots' | 'logRetentionSlots' | 'sessionTtlMs' | 'noQuorumTimeoutMs'>>
  /** Replace dead voters from the cluster file's spares (default true; false turns it off). */
  readonly replacement?: boolean | Partial<Omit<ReplacementPolicy, 'candidates'>>
  readonly log?: NetLogger
  /** Send the runtime's and the core's trace lines to `log` at debug level (costly: off by default). */
  readonly trace?: boolean
  /**
   * Serve the group's private DHT and provide the group key (`groupKey`) there: at start, after
   * every membership change this member is part of, and every `provideEveryMs` (default 60 s).
   * A member that is in no configuration it knows (removed, or a spare) does not provide it.
   */
  readonly dht?: boolean
  readonly provideEveryMs?: number
  /** Multicast notifications sent to the group (`VirtualPeerClient.multicast`), once per message id. */
  readonly onMulticast?: (notification: Notification) => void
  /**
   * Offer this node as a spare through the DHT (with `dht`): while it is in no configuration it
   * joins the DHT through the cluster file's voters, provides the group's spare key every
   * `provideEveryMs` and answers the spare protocol. Default: true for an identity that is not
   * among the cluster file's voters.
   */
  readonly spare?: boolean
  /** The spare pool (with `dht`): between two lookups and probe rounds, ms (default 5000). */
  readonly spareRefreshMs?: number
  /** A spare probe that has not been answered after this long fails, ms (default 2000). */
  readonly spareProbeTimeoutMs?: number
  /**
   * Addresses of group members the cluster file does not list (multiaddrs with /p2p/), e.g. from
   * an invitation: learned at start and dialed, so the members learn this node's address too
   * (identify) and can reach it once it is in a configuration.
   */
  readonly bootstrap?: readonly string[]
}

export class Member<C, R, Q, A> {
  readonly id: NodeId
  readonly vp: VirtualPeer<C, R, Q, A>
  readonly node: VpeerLibp2p
  readonly transport: Libp2pTransport
  readonly service: ClientService<Q, A>
  private readonly storage: LevelStorage
  private readonly clock: SystemClock
  private readonly log: NetLogger
  private allowed = new Set<NodeId>()
  private readonly cluster: ClusterSpec
  private stopping: Promise<void> | undefined
  /** With the DHT: the spares found there (every member watches them; the leader uses them). */
  spares: SparePool | undefined
  private spareService: SpareService | undefined
  private announcer: SpareAnnouncer | undefined
  /** Members of the group found in the DHT while this node is in no configuration (admitted). */
  private groupPeers = new Set<NodeId>()
  /** Members named by the bootstrap addresses (an invitation): admitted like the cluster file's. */
  private bootstrapPeers = new Set<NodeId>()
  private cancelBootstrapRedial: (() => void) | undefined
  /** The group's configuration as verified from providers' chains (while this node is a spare). */
  private verifiedGroup: VerifiedConfiguration | undefined
  /** Addresses learned at run time (probes, the peer store, the DHT) of peers the cluster file does not list. */
  private readonly learnedAddresses = new Map<NodeId, readonly Multiaddr[]>()
  private readonly resolving = new Set<NodeId>()

  private constructor (parts: {
    id: NodeId, vp: VirtualPeer<C, R, Q, A>, node: VpeerLibp2p, transport: Libp2pTransport, service: ClientService<Q, A>,
    storage: LevelStorage, clock: SystemClock, log: NetLogger, cluster: ClusterSpec
  }) {
    this.id = parts.id
    this.vp = parts.vp
    this.node = parts.node
    this.transport = parts.transport
    this.service = parts.service
    this.storage = parts.storage
    this.clock = parts.clock
    this.log = parts.log
    this.cluster = parts.cluster
  }

  /** Opens the storage, starts the libp2p node and the runtime. */
  static async start<C, R, Q, A> (options: MemberOptions<C, R, Q, A>): Promise<Member<C, R, Q, A>> {
    const { identity, cluster } = options
    const log = options.log ?? silentLogger
    const listen = options.listen ?? cluster.addresses[identity.id] ?? ['/ip4/127.0.0.1/tcp/0']
    const startedAt = performance.now()
    // Every configuration is signed by the replaced voters with their identity keys, in the
    // context of this group's key (config-chain.ts), so outsiders can verify the membership.
    const key = await groupKey(cluster)
    const keys = options.dht === true ? { group: key, spare: await spareKey(key) } : undefined
    await mkdir(options.dataDir, { recursive: true })
    const storage = await LevelStorage.open(join(options.dataDir, 'db'))
    let node: VpeerLibp2p | undefined
    try {
      node = await createVpeerNode({ privateKey: identity.privateKey, listen, ...(options.dht === true ? { dht: 'server' as const } : {}) })
      const clock = new SystemClock({ onError: error => { log.error(errorFields(error), 'timer callback threw') } })
      let member: Member<C, R, Q, A> | undefined
      const frameBytesMax = frameLimitFor(options.runtime?.paxos)
      const transport = new Libp2pTransport({
        node,
        codec: { encode: m => encodeWireMessage(m, { frameBytesMax }), decode: bytes => decodeWireMessage(bytes, { frameBytesMax }) },
        frameBytesMax,
        isAllowed: peer => member?.isAllowed(peer) ?? false,
        log
      })
      const spares = cluster.spares
      const libp2p = node
      const pool = keys === undefined
        ? undefined
        : new SparePool({
          self: identity.id,
          // The lookup runs until its timeout once the local records are out: one refresh interval, within 0.5-3 s.
          find: async signal => await findProviders(libp2p, keys.spare, { max: 32, timeoutMs: Math.min(3000, Math.max(500, options.spareRefreshMs ?? 5000)), signal }),
          probe: async (peer, signal) => await probeSpare(libp2p, peerIdFromString(peer.id), peer.addresses, keys.group, options.spareProbeTimeoutMs ?? 2000, signal),
          isAllowed: peer => member?.vp.isClientAllowed(peer) ?? false,
          learned: async (peer, addresses) => { await member?.learn(peer, addresses) },
          fallback: spares,
          active: () => member?.inConfiguration() ?? false,
          refreshMs: options.spareRefreshMs ?? 5000,
          log
        })
      const replacement = options.replacement ?? true
      const vp = await VirtualPeer.create<C, R, Q, A>({
        id: identity.id,
        configuration: bootstrapConfiguration(cluster),
        transport,
        storage,
        clock,
        stateMachine: options.stateMachine,
        random: systemRandom(),
        access: { admins: cluster.admins },
        certificates: libp2pCertificateSigner(identity.privateKey, key.bytes),
        // VP-to-VP messages: outputs go out under this group's key; with the DHT, this member
        // delivers them while it leads, finding the target group by its key (verified chain).
        group: key.toString(),
        ...(options.dht === true
          ? {
              deliver: async (target: string, outputs: ReadonlyArray<{ seq: number, data: Uint8Array }>, sender: { readonly group: string }, signal: AbortSignal) => {
                const groups = member?.groups
                if (groups === undefined) throw new Error('the member is not started')
                const client = await groups.client(target, { signal })
                return await client.deliverOutputs(sender.group, outputs, { signal })
              }
            }
          : {}),
        // The runtime's and the core's trace build a line per event: only when asked for.
        ...(options.trace === true ? { trace: (line: string) => { log.debug({ trace: line }, 'trace') } } : {}),
        ...(options.codec !== undefined ? { codec: options.codec } : {}),
        ...options.runtime,
        ...(replacement === false
          ? {}
          : { replacement: { ...DEFAULT_REPLACEMENT, ...(replacement === true ? {} : replacement), candidates: () => pool?.candidates() ?? spares } })
      })
      const service = new ClientService<Q, A>({
        node,
        peer: vp,
        payloads: options.payloads ?? jsonPayloads<Q, A>(),
        addressesOf: peer => member?.addressesOf(peer) ?? [],
        ...(options.onMulticast !== undefined ? { onNotify: options.onMulticast } : {}),
        genesis: { group: cluster.group, voters: cluster.voters, admins: cluster.admins },
        log
      })
      member = new Member({ id: identity.id, vp, node, transport, service, storage, clock, log, cluster })
      member.spares = pool
      if (options.dht === true) member.groups = await GroupSender.create<unknown, unknown>({ node, bootstrap: [], log })
      member.refreshAllowed()
      vp.addEventListener('membership', e => {
        member?.refreshAllowed()
        member?.resolveMembers()
        const c = e.detail.configuration
        log.info({ epoch: c.epoch, voters: c.voters, learners: c.learners, fromSlot: e.detail.fromSlot }, 'membership changed')
      })
      vp.addEventListener('snapshot', e => {
        // Timed from the accepted offer to the install done (transfer, durable write, restore):
        // what a replacement or a far-behind member waits for.
        const { index, from, bytes, chunks, ms } = e.detail
        log.info({ index, from, bytes, chunks, ms: Math.round(ms * 10) / 10, mbPerSec: Math.round(bytes / 1000 / Math.max(ms, 0.001) * 10) / 10 }, 'snapshot received')
      })
      vp.addEventListener('certificate', e => { log.info({ epoch: e.detail.epoch, voters: e.detail.configuration.voters }, 'configuration certified') })
      vp.addEventListener('access', e => { log.info({ peer: e.detail.peer, allowed: e.detail.allowed, admin: e.detail.admin, issuer: e.detail.issuer }, 'allow-list changed') })
      vp.addEventListener('error', e => { log.error({ ...errorFields(e.detail.error) }, 'replica halted') })
      vp.addEventListener('leader', e => {
        // A new leader must reach every member, including those it never heard of before.
        if (e.detail.role === 'leader') member?.resolveMembers()
        log.info({ leader: e.detail.leader, role: e.detail.role }, 'leadership changed')
      })
      for (const peer of [...cluster.voters, ...cluster.spares]) {
        if (peer !== identity.id) await transport.addPeer(peer, (cluster.addresses[peer] ?? []).map(parseMultiaddr))
      }
      await transport.start()
      await service.start()
      vp.start()
      await member.startBootstrap(options.bootstrap ?? [])
      if (keys !== undefined) {
        await member.startProviding(options.provideEveryMs ?? 60_000)
        await member.startSpares(keys, options.spare ?? !cluster.voters.includes(identity.id), options.provideEveryMs ?? 60_000, startedAt)
      }
      log.info({ id: identity.id, addresses: node.getMultiaddrs().map(a => a.toString()), role: cluster.voters.includes(identity.id) ? 'voter' : 'spare' }, 'member started')
      return member
    } catch (error) {
      try { await node?.stop() } catch {}
      await storage.close().catch(() => {})
      throw error
    }
  }

  /**
   * Learns the bootstrap addresses and dials them in the background (an unreachable one is
   * logged). Until this node is in a configuration it sends nothing, so nothing else would dial
   * them again, and a member that restarted since does not know where this node listens (it
   * never announced itself): the dials are repeated, backing off from 1 s to 30 s, until this
   * node is in a configuration. An invitation accepted while the inviting machine was off
   * otherwise never reached the group.
   */
  private async startBootstrap (addresses: readonly string[]): Promise<void> {
    const byPeer = new Map<NodeId, Multiaddr[]>()
    for (const text of addresses) {
      const ma = parseMultiaddr(text)
      const peer = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (peer === undefined || peer === this.id) continue
      const bare = parseMultiaddr(ma.getComponents().filter(c => c.name !== 'p2p').map(c => `/${c.name}${c.value !== undefined ? `/${c.value}` : ''}`).join(''))
      byPeer.set(peer, [...(byPeer.get(peer) ?? []), bare])
    }
    this.bootstrapPeers = new Set(byPeer.keys())
    this.refreshAllowed()
    for (const [peer, list] of byPeer) {
      await this.learn(peer, list)
      void this.node.dial(peerIdFromString(peer), { signal: AbortSignal.timeout(5000) })
        .catch((error: unknown) => { this.log.info({ peer, ...errorFields(error) }, 'bootstrap peer not reachable now') })
    }
    if (byPeer.size > 0) this.redialBootstrapAfter(BOOTSTRAP_REDIAL_FIRST_MS)
  }

  private redialBootstrapAfter (delayMs: number): void {
    if (this.stopping !== undefined) return
    this.cancelBootstrapRedial = this.clock.after(delayMs, () => {
      this.cancelBootstrapRedial = undefined
      // In a configuration now: its members are dialed whenever this node sends to them.
      if (this.stopping !== undefined || this.inConfiguration()) return
      void this.redialBootstrap().then(() => { this.redialBootstrapAfter(Math.min(BOOTSTRAP_REDIAL_MAX_MS, delayMs * 2)) })
    })
  }

  /** Dials every bootstrap peer this node has no connection to; never rejects. */
  private async redialBootstrap (): Promise<void> {
    await Promise.all([...this.bootstrapPeers].map(async peer => {
      const id = peerIdFromString(peer)
      if (this.node.getConnections(id).length > 0) return
      await this.node.dial(id, { signal: AbortSignal.timeout(5000) })
        .catch((error: unknown) => { this.log.debug({ peer, ...errorFields(error) }, 'bootstrap peer still not reachable') })
    }))
  }

  /** Other groups this member reaches through the DHT (to deliver VP-to-VP outputs; with `dht`). */
  groups: GroupSender<unknown, unknown> | undefined

  /** The group key this member provides (set when the DHT is on). */
  groupKey: CID | undefined
  private provideTimer: ReturnType<typeof setInterval> | undefined
  private providing: Promise<void> | undefined
  private readonly provideAbort = new AbortController()

  private async startProviding (everyMs: number): Promise<void> {
    const key = await groupKey(this.cluster)
    this.groupKey = key
    const provide = (why: string): void => {
      if (this.stopping !== undefined || this.providing !== undefined) return
      const status = this.vp.status()
      const inConfiguration = [...status.configuration.voters, ...status.configuration.learners].includes(this.id)
      if (!inConfiguration) return
      this.providing = (async () => {
        const scope = scopedSignal([this.provideAbort.signal], Math.min(everyMs, 30_000))
        try {
          await this.node.contentRouting.provide(key, { signal: scope.signal })
          this.log.debug({ key: key.toString(), why }, 'group key provided')
        } catch (error) {
          this.log.debug({ key: key.toString(), why, ...errorFields(error) }, 'group key not provided (will retry)')
        } finally {
          scope.dispose()
          this.providing = undefined
        }
      })()
    }
    // The routing table fills as the members connect: provide soon after start, then on every
    // membership change this member takes part in, and periodically (records expire).
    setTimeout(() => { provide('start') }, 500).unref()
    this.vp.addEventListener('membership', () => { provide('membership') })
    this.provideTimer = setInterval(() => { provide('periodic') }, everyMs)
    this.provideTimer.unref()
  }

  /**
   * The spare side (answering probes; announcing while willing and in no configuration) and
   * the pool (every member watches the DHT's spares, so that a new leader has watched too).
   */
  private async startSpares (keys: { group: CID, spare: CID }, willing: boolean, everyMs: number, startedAt: number): Promise<void> {
    const isSpare = (): boolean => willing && !this.inConfiguration()
    this.spareService = new SpareService({ node: this.node, groupKey: keys.group, isSpare, uptimeMs: () => performance.now() - startedAt, log: this.log })
    await this.spareService.start()
    if (willing) {
      this.announcer = new SpareAnnouncer({
        node: this.node,
        groupKey: keys.group,
        spareKey: keys.spare,
        isSpare,
        bootstrap: [...this.cluster.voters, ...this.cluster.spares].filter(id => id !== this.id).flatMap(id => dialAddresses(this.cluster, id)).map(parseMultiaddr),
        everyMs,
        onGroupPeers: peers => {
          for (const p of peers) if (p.addresses.length > 0) void this.learn(p.id, p.addresses).catch(() => {})
          // Providing the group key proves nothing: admit the members of the configuration their
          // chains verify to (config-chain.ts). A lookup that found nobody keeps the last answer.
          if (peers.length > 0) void this.verifyGroupPeers(keys.group, peers.map(p => p.id))
        },
        log: this.log
      })
      this.announcer.start()
    }
    this.spares?.start()
  }

  /**
   * Fetches the configuration chain from up to five providers of the group key and admits the
   * voters and learners of the newest configuration verified from the genesis.
   */
  private async verifyGroupPeers (key: CID, providers: readonly string[]): Promise<void> {
    for (const peer of providers.slice(0, 5)) {
      if (this.stopping !== undefined) return
      const scope = scopedSignal([this.provideAbort.signal], 5000)
      try {
        const trusted = this.verifiedGroup
        const got = await fetchVerifiedConfiguration({
          groupKey: key,
          ...(trusted !== undefined ? { trusted } : {}),
          signal: scope.signal,
          request: async (fromEpoch, o) => await requestChainPage(this.node, peer, fromEpoch, o)
        })
        if (trusted === undefined || got.epoch > trusted.epoch) this.verifiedGroup = got
      } catch (error) {
        this.log.debug({ peer, ...errorFields(error) }, 'a provider of the group key showed no chain that verifies')
      } finally {
        scope.dispose()
      }
    }
    const v = this.verifiedGroup
    if (v !== undefined) this.groupPeers = new Set([...v.voters, ...v.learners])
    this.refreshAllowed()
  }

  /** Whether this node is in a configuration it knows (the newest or one still governing). */
  private inConfiguration (): boolean {
    const status = this.vp.status()
    return [status.configuration, ...status.configurations.map(e => e.configuration)].some(c => c.voters.includes(this.id) || c.learners.includes(this.id))
  }

  /** Records where `peer` listens and tells the transport. */
  private async learn (peer: NodeId, addresses: readonly Multiaddr[]): Promise<void> {
    if (peer === this.id || addresses.length === 0) return
    this.learnedAddresses.set(peer, addresses.slice(0, 32))
    await this.transport.addPeer(peer, addresses)
  }

  /**
   * Finds the addresses of configuration members this node has none for (a spare found by
   * another member's pool): the peer store, else a DHT lookup. In the background; a member
   * still unknown is tried again at the next membership or leadership change.
   */
  private resolveMembers (): void {
    if (this.stopping !== undefined || this.node.services.dht === undefined) return
    const status = this.vp.status()
    for (const c of [status.configuration, ...status.configurations.map(e => e.configuration)]) {
      for (const id of [...c.voters, ...c.learners]) {
        if (id === this.id || this.resolving.has(id) || this.addressesOf(id).length > 0) continue
        this.resolving.add(id)
        void resolvePeer(this.node, id, 5000)
          .then(async addresses => {
            if (addresses.length > 0) await this.learn(id, addresses)
            else this.log.warn({ peer: id }, 'no address known for a member of the configuration')
          })
          .catch((error: unknown) => { this.log.warn({ peer: id, ...errorFields(error) }, 'member address not resolved') })
          .finally(() => { this.resolving.delete(id) })
      }
    }
  }

  /** Whether `peer` may speak the Paxos protocols here (see the module comment). */
  isAllowed (peer: NodeId): boolean {
    return this.allowed.has(peer)
  }

  /**
   * Where `peer` listens, with /p2p/: this node's own addresses, else the cluster file's, else
   * what it learned at run time (a spare's probe, the DHT).
   */
  addressesOf (peer: NodeId): string[] {
    if (peer === this.id) return this.node.getMultiaddrs().map(a => a.toString())
    const listed = dialAddresses(this.cluster, peer)
    if (listed.length > 0) return listed
    const learned = this.learnedAddresses.get(peer) ?? this.spares?.addressesOf(peer) ?? []
    return learned.map(a => a.toString()).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${peer}`)
  }

  /** Listen addresses with /p2p/ (port 0 resolved). */
  get addresses (): string[] {
    return this.node.getMultiaddrs().map(a => a.toString())
  }

  private refreshAllowed (): void {
    const status = this.vp.status()
    const next = new Set<NodeId>()
    for (const c of [status.configuration, ...status.configurations.map(e => e.configuration)]) {
      for (const id of [...c.voters, ...c.learners]) next.add(id)
    }
    // A node in no configuration learns from the genesis and from the group's members in the DHT.
    if (!next.has(this.id)) for (const id of [...this.cluster.voters, ...this.cluster.spares, ...this.groupPeers, ...this.bootstrapPeers]) next.add(id)
    next.delete(this.id)
    this.allowed = next
  }

  /**
   * Stops gracefully: the runtime first (a write in progress completes), then the client
   * service, the transport, the libp2p node, the storage.
   */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      if (this.provideTimer !== undefined) clearInterval(this.provideTimer)
      this.cancelBootstrapRedial?.()
      this.provideAbort.abort()
      await this.providing
      await this.spares?.stop()
      await this.announcer?.stop()
      await this.spareService?.stop()
      await this.vp.stop()
      await this.groups?.close()
      await this.service.stop()
      await this.transport.stop()
      await this.node.stop()
      this.clock.stop()
      await this.storage.close()
      this.log.info({ id: this.id }, 'member stopped')
    })()
    await this.stopping
  }
}

/**
 * The frame limit for a core configuration. A promise carries the acceptor's votes above its
 * commit index, about α full batches, and cannot be split (Phase 1 needs all of them): the
 * frame must hold α + 2 batches. Catch-up replies are bounded in bytes by the core itself.
 */
export function frameLimitFor (paxos: { readonly alpha?: number, readonly batchBytesMax?: number } | undefined): number {
  const alpha = paxos?.alpha ?? DEFAULT_PAXOS_CONFIG.alpha
  const batch = paxos?.batchBytesMax ?? DEFAULT_PAXOS_CONFIG.batchBytesMax
  // Per batch: its data plus the ids and lengths of up to batchCommandsMax commands (~80 B each).
  return Math.max(DEFAULT_FRAME_BYTES_MAX, (alpha + 2) * (batch + 512 * 1024) + 1024 * 1024)
}
