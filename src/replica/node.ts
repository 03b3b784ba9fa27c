/**
 * A replication node: one folder kept identical with the other nodes of its group.
 *
 * It is a `Member` of the group's virtual peer whose state machine is the catalog
 * (`src/sync/catalog.ts`): the first node founds the group as its only voter; nodes that join by
 * invitation are learners, promoted to voters while the group has fewer than `targetVoters`
 * (odd counts only), and a learner that sleeps is kept (a laptop closed for the night is not a
 * dead spare). Beside the Paxos protocols the node speaks the block exchange
 * (`/vpeer/blocks/1.0.0`) with the group's members, and runs the sync engine (`sync-engine.ts`)
 * on its folder, driven by the catalog's changes, a watcher and a periodic rescan.
 *
 * Every member of a configuration holds the content: voters and learners alike fetch and serve
 * chunks, so a file one node adds is swarmed by all the others.
 */
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { loadOrCreateIdentity } from '../alm/identity.js'
import type { Identity } from '../alm/identity.js'
import { Member } from '../net/member.js'
import { jsonPayloads } from '../net/payload-codec.js'
import { groupKey } from '../net/group-key.js'
import type { NodeId } from '../paxos/index.js'
import type { CatalogStateMachine } from '../sync/catalog.js'
import type { CatalogEntry, CatalogResult } from '../sync/catalog-types.js'
import { FolderStateMachine, folderCodec } from '../sync/folder-state.js'
import type { FolderAnswer, FolderCommand, FolderQuery, FolderResult } from '../sync/folder-state.js'
import type { NodeRecord } from '../sync/address-book.js'
import { parseMultiaddr } from '../alm/node-factory.js'
import type { ChunkRef, ChunkStore } from '../sync/chunk.js'
import { collectGarbage } from '../sync/chunk-store.js'
import { PackChunkStore } from '../sync/pack-store.js'
import { chunkFile } from '../sync/chunker.js'
import type { FileSystem } from '../sync/fs.js'
import { NodeFileSystem } from '../sync/fs.js'
import { IgnoreRules } from '../sync/ignore.js'
import { sweepTemporaries } from '../sync/landing.js'
import { LocalIndex } from '../sync/local-index.js'
import { scanFolder } from '../sync/scanner.js'
import { FolderWatcher } from '../sync/watcher.js'
import { BlockExchange } from './exchange.js'
import type { BlockExchangeStats, FetchProgress } from './exchange.js'
import { ControlServer, controlSocketPath } from './control.js'
import type { FolderConfig, FolderPaths } from './folder.js'
import { encodeInvitation, folderPaths, foundingGenesis, readFolderConfig, writeFolderConfig } from './folder.js'
import { SyncEngine } from './sync-engine.js'
import type { SyncEngineStatus } from './sync-engine.js'
import { InvalidArgumentError } from '../util/errors.js'
import { scopedSignal } from '../util/signals.js'

export interface ReplicaNodeOptions {
  /** The replicated folder (`vpeer init` made it). */
  readonly folder: string
  readonly log?: NetLogger
  /** The file system under the folder (tests inject faults); default `node:fs`. */
  readonly fs?: FileSystem
  /** Voters the group grows to from its learners (default 3). */
  readonly targetVoters?: number
  /** A pass runs at least this often, ms (default 10 s). */
  readonly rescanEveryMs?: number
  /** Watch the folder for changes (default true; the periodic rescan runs regardless). */
  readonly watch?: boolean
  /** Emulate a host link on the block exchange (the paper's experiments). */
  readonly shaper?: { readonly bitsPerSecond: number, readonly delayMs: number }
  /** Serve `vpeer status`, `invite`, … on the folder's control socket (default true). */
  readonly control?: boolean
  /** Progress of chunk downloads (the CLI draws a bar). */
  readonly onProgress?: (progress: FetchProgress) => void
  /** Runtime tick, ms (default the runtime's). */
  readonly tickMs?: number
  /**
   * A voter silent this long is replaced by a caught-up learner, ms (default 10 minutes: the
   * machines of a replication group sleep and reboot; a replaced voter that returns is added
   * back as a learner).
   */
  readonly replaceAfterMs?: number
  /** Snapshot cadence and log kept below it, in slots (the runtime's defaults otherwise). */
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
}

export interface ReplicaStatus {
  readonly id: NodeId
  readonly name: string
  readonly folder: string
  readonly group: string
  readonly groupKey: string
  readonly addresses: readonly string[]
  readonly role: 'voter' | 'learner' | 'none'
  readonly leader: NodeId | undefined
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
  readonly catalog: { readonly revision: number, readonly files: number, readonly bytes: number, readonly conflicts: number }
  readonly local: { readonly files: number, readonly inStep: number, readonly behind: readonly string[] }
  readonly sync: SyncEngineStatus
  readonly exchange: BlockExchangeStats
  /** The chunk download in progress, if any. */
  readonly transfer: FetchProgress | undefined
  readonly connected: readonly NodeId[]
}

export class ReplicaNode {
  readonly id: NodeId
  readonly paths: FolderPaths
  readonly member: Member<FolderCommand, FolderResult, FolderQuery, FolderAnswer>
  readonly state: FolderStateMachine
  readonly catalog: CatalogStateMachine
  readonly exchange: BlockExchange
  readonly engine: SyncEngine
  private readonly index: LocalIndex
  private readonly config: FolderConfig
  private readonly log: NetLogger
  private watcher: FolderWatcher | undefined
  private control: ControlServer | undefined
  private readonly abort = new AbortController()
  private stopping: Promise<void> | undefined
  private key = ''
  private rejoinTimer: ReturnType<typeof setInterval> | undefined
  private transfer: FetchProgress | undefined
  /** `contentPeers()` as of `atMs` (undefined: to be computed). */
  private members: { readonly ids: Set<NodeId>, readonly atMs: number } | undefined
  private readmitting = false

  private constructor (parts: {
    identity: Identity, paths: FolderPaths, member: ReplicaNode['member'], state: FolderStateMachine, exchange: BlockExchange,
    engine: SyncEngine, index: LocalIndex, config: FolderConfig, log: NetLogger
  }) {
    this.id = parts.identity.id
    this.paths = parts.paths
    this.member = parts.member
    this.state = parts.state
    this.catalog = parts.state.catalog
    this.exchange = parts.exchange
    this.engine = parts.engine
    this.index = parts.index
    this.config = parts.config
    this.log = parts.log
  }

  /** Starts the node of `options.folder`; founds a group with this node as its voter if it has none. */
  static async start (options: ReplicaNodeOptions): Promise<ReplicaNode> {
    const log = options.log ?? silentLogger
    const fs = options.fs ?? new NodeFileSystem()
    const paths = folderPaths(options.folder)
    let config = await readFolderConfig(options.folder)
    const identity = await loadOrCreateIdentity(paths.identity)
    if (config.group === undefined) {
      config = { ...config, group: foundingGenesis(identity, config) }
      await writeFolderConfig(options.folder, config)
      log.info({ id: identity.id }, 'founded a new group with this node as its voter')
    }
    const group = config.group as NonNullable<FolderConfig['group']>
    await fs.mkdir(paths.chunks, { recursive: true })
    await fs.mkdir(paths.index, { recursive: true })
    const swept = await sweepTemporaries(fs, paths.root)
    if (swept > 0) log.info({ swept }, 'temporary files of an interrupted landing removed')
    const store = new PackChunkStore(fs, paths.chunks)
    const index = await LocalIndex.open(fs, paths.index, { onCorrupt: 'rebuild' })
    const state = new FolderStateMachine({ onListenerError: error => { log.error(errorFields(error), 'catalog listener threw') } })
    const catalog = state.catalog
    const member = await Member.start<FolderCommand, FolderResult, FolderQuery, FolderAnswer>({
      identity,
      dataDir: paths.state,
      cluster: group,
      listen: config.listen,
      stateMachine: state,
      codec: folderCodec,
      payloads: jsonPayloads<FolderQuery, FolderAnswer>(),
      bootstrap: config.bootstrap,
      spare: false,
      replacement: {
        targetVoters: options.targetVoters ?? 3,
        removeSilentLearners: false,
        replaceAfterTicks: replaceAfterTicks(options),
        // A learner counts as alive for promotion if heard within 2 s (not the runtime's 200 ms):
        // these are people's machines on busy networks, and a busy event loop delays every answer.
        freshTicks: Math.min(replaceAfterTicks(options), Math.round(2000 / (options.tickMs ?? 10)))
      },
      runtime: {
        ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
        ...(options.snapshotEverySlots !== undefined ? { snapshotEverySlots: options.snapshotEverySlots } : {}),
        ...(options.logRetentionSlots !== undefined ? { logRetentionSlots: options.logRetentionSlots } : {})
      },
      log
    })
    let node: ReplicaNode | undefined
    try {
      const exchange = new BlockExchange({
        node: member.node,
        store,
        isAllowed: peer => node?.mayExchange(peer) ?? false,
        log,
        ...(options.shaper !== undefined ? { shaper: options.shaper } : {})
      })
      await exchange.start()
      const ignore = await IgnoreRules.load(fs, paths.root)
      const engine = new SyncEngine({
        fs,
        root: paths.root,
        store,
        index,
        catalog: {
          get revision () { return catalog.revision },
          get: path => catalog.get(path),
          entries: () => catalog.entries({ deleted: true }),
          onChange: listener => catalog.onChange(change => { listener(change.kind === 'apply' ? change.paths : undefined) })
        },
        scan: async signal => {
          await ignore.reloadIfChanged()
          return await scanFolder({
            fs,
            root: paths.root,
            index,
            ignore,
            signal,
            chunkFile: async (abs, s) => await storeFile(fs, store, abs, s)
          })
        },
        submit: async (command, signal) => await member.vp.submit(command, { signal }) as CatalogResult,
        fetch: async (chunks, signal) => {
          try {
            await exchange.fetch(chunks, node?.contentPeers() ?? [], {
              signal,
              onProgress: progress => {
                if (node !== undefined) node.transfer = progress
                options.onProgress?.(progress)
              }
            })
          } finally {
            if (node !== undefined) node.transfer = undefined
          }
        },
        collectGarbage: async (isReferenced, signal) => {
          const gc = await collectGarbage(store, isReferenced, { signal })
          // The space comes back when the packs that are mostly garbage now are rewritten.
          if (gc.removed > 0) await store.compact()
          return { removed: gc.removed, bytesFreed: gc.bytesFreed }
        },
        origin: identity.id,
        ...(options.rescanEveryMs !== undefined ? { rescanEveryMs: options.rescanEveryMs } : {}),
        log
      })
      node = new ReplicaNode({ identity, paths, member, state, exchange, engine, index, config, log })
      const started = node
      member.vp.addEventListener('membership', () => { started.members = undefined })
      state.nodes.onChange(() => { void started.learnAddresses() })
      void started.learnAddresses()
      started.announceAddresses()
      node.key = (await groupKey(group)).toString()
      engine.start()
      node.rejoinTimer = setInterval(() => { node?.readmitReturning() }, 2000)
      node.rejoinTimer.unref()
      if (options.watch ?? true) {
        const engineRef = engine
        node.watcher = new FolderWatcher({
          root: paths.root,
          ignore,
          onBatch: () => { engineRef.kick() },
          onError: error => { log.warn(errorFields(error), 'folder watcher error (the periodic rescan continues)') }
        })
        await node.watcher.start(node.abort.signal)
      }
      if (options.control ?? true) {
        node.control = new ControlServer(controlSocketPath(paths.state), node.controlHandlers())
        await node.control.start()
      }
      log.info({ id: identity.id, folder: paths.root, addresses: member.addresses }, 'replication node started')
      return node
    } catch (error) {
      await node?.stop().catch(() => {})
      if (node === undefined) {
        await member.stop().catch(() => {})
        await index.close().catch(() => {})
      }
      throw error
    }
  }

  /**
   * Tells the transport where every machine in the address book listens (the peer store), so
   * the block exchange and Paxos can dial members this node was never introduced to.
   */
  private async learnAddresses (): Promise<void> {
    for (const record of this.state.nodes.entries()) {
      if (record.peer === this.id) continue
      try {
        await this.member.transport.addPeer(record.peer, record.addrs.map(parseMultiaddr))
      } catch (error) {
        this.log.warn({ peer: record.peer, ...errorFields(error) }, 'an address-book entry could not be used')
      }
    }
  }

  /**
   * Records this machine's listen addresses in the group's address book through the log, once
   * they differ from what the book says (at start; retried until it commits: a joiner waits to
   * be a member first).
   */
  private announceAddresses (): void {
    const addrs = this.member.addresses.map(a => a.replace(/\/p2p\/[^/]+$/, '')).filter(a => !a.includes('/p2p-circuit')).slice(0, 16)
    const known = this.state.nodes.get(this.id)
    if (this.stopping !== undefined || addrs.length === 0) return
    if (known !== undefined && known.name === this.config.name && JSON.stringify(known.addrs) === JSON.stringify(addrs)) return
    const scope = scopedSignal([this.abort.signal], 30_000)
    void this.member.vp.submit({ type: 'node', peer: this.id, name: this.config.name, addrs }, { signal: scope.signal })
      .finally(() => { scope.dispose() })
      .then(result => {
        if (result.status !== 'ok') this.log.warn({ result }, 'the address book refused this machine\'s addresses')
      })
      .catch(() => {
        if (this.stopping !== undefined) return
        const retry = setTimeout(() => { this.announceAddresses() }, 2000)
        retry.unref()
      })
  }

  /** The machines of the group and where they listen, as the log recorded them. */
  machines (): NodeRecord[] {
    return this.state.nodes.entries()
  }

  /**
   * While this node leads: a machine of the group (an administrator on the allow-list: every
   * invited node is one) that is connected but in no configuration — a voter replaced while it
   * was away, back again — is added back as a learner. A revoked peer is off the list and stays out.
   */
  private readmitReturning (): void {
    if (this.readmitting || this.stopping !== undefined) return
    const status = this.member.vp.status()
    if (status.role !== 'leader' || status.configurations.length > 1) return
    const members = new Set([...status.configuration.voters, ...status.configuration.learners])
    const returning = this.member.node.getPeers().map(p => p.toString())
      .find(peer => !members.has(peer) && this.member.vp.isClientAdmin(peer))
    if (returning === undefined) return
    this.readmitting = true
    this.log.info({ peer: returning }, 'a machine of the group is back: adding it as a learner')
    void this.member.vp.reconfigure({ kind: 'addLearner', node: returning }, { signal: AbortSignal.timeout(30_000) })
      .catch((error: unknown) => { this.log.info({ peer: returning, ...errorFields(error) }, 'could not add the returning machine (retried)') })
      .finally(() => { this.readmitting = false })
  }

  /** The peers that hold content: every member of the configurations this node knows, but itself. */
  contentPeers (): NodeId[] {
    const status = this.member.vp.status()
    const peers = new Set<NodeId>()
    for (const c of [status.configuration, ...status.configurations.map(e => e.configuration)]) {
      for (const id of [...c.voters, ...c.learners]) if (id !== this.id) peers.add(id)
    }
    return [...peers]
  }

  /**
   * Who may fetch chunks here: members of a configuration this node knows, and invited peers.
   * Asked for every inbound frame, so the member set is recomputed at most every 500 ms (and at
   * every membership change): a removed member loses access within that once its configuration
   * stops governing.
   */
  mayExchange (peer: string): boolean {
    if (peer === this.id) return false
    const now = performance.now()
    if (this.members === undefined || now - this.members.atMs > 500) this.members = { ids: new Set(this.contentPeers()), atMs: now }
    return this.members.ids.has(peer) || this.member.vp.isClientAllowed(peer)
  }

  /**
   * Invites `peer` (a PeerId string, from its `vpeer init`): puts it on the group's allow-list
   * (as an administrator: every replication node of a group is trusted alike) and adds it as a
   * learner, then returns the invitation it joins with.
   */
  async invite (peer: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    if (peer === this.id) throw new InvalidArgumentError('a node cannot invite itself')
    await this.member.vp.allowClient(peer, { admin: true, ...options })
    const status = this.member.vp.status()
    const known = [...status.configuration.voters, ...status.configuration.learners]
    if (!known.includes(peer)) {
      await this.member.vp.reconfigure({ kind: 'addLearner', node: peer }, options)
    }
    // Where the members listen: this node's own addresses, then the group's address book.
    const fromBook = this.state.nodes.entries().filter(r => r.peer !== peer && r.peer !== this.id && known.includes(r.peer)).flatMap(r => r.addrs.map(a => `${a}/p2p/${r.peer}`))
    const bootstrap = [...new Set([...this.member.addresses, ...fromBook])].slice(0, 64)
    return encodeInvitation({ group: this.config.group as NonNullable<FolderConfig['group']>, invitee: peer, bootstrap })
  }

  /** Takes `peer` out of the group: off the allow-list and out of the configuration. */
  async revoke (peer: string, options: { signal?: AbortSignal } = {}): Promise<{ removed: boolean }> {
    if (peer === this.id) throw new InvalidArgumentError('a node cannot revoke itself (revoke it from another node)')
    // Off the allow-list first: a machine of the group that is connected and in no configuration
    // is added back by the leader (readmitReturning), so removing it from the configuration first
    // would leave a window in which it is re-admitted.
    await this.member.vp.revokeClient(peer, options)
    const status = this.member.vp.status()
    let removed = false
    if (status.configuration.learners.includes(peer)) {
      await this.member.vp.reconfigure({ kind: 'removeLearner', node: peer }, options)
      removed = true
    } else if (status.configuration.voters.includes(peer)) {
      await this.member.vp.reconfigure({ kind: 'removeVoter', node: peer }, options)
      removed = true
    }
    return { removed }
  }

  status (): ReplicaStatus {
    const vp = this.member.vp.status()
    const c = vp.configuration
    const stats = this.catalog.stats
    const behind: string[] = []
    let inStep = 0
    let files = 0
    for (const entry of this.catalog.entries()) {
      files++
      if (this.index.get(entry.path)?.version === entry.version) inStep++
      else if (behind.length < 20) behind.push(entry.path)
    }
    return {
      id: this.id,
      name: this.config.name,
      folder: this.paths.root,
      group: this.config.group?.group ?? '',
      groupKey: this.key,
      addresses: this.member.addresses,
      role: c.voters.includes(this.id) ? 'voter' : c.learners.includes(this.id) ? 'learner' : 'none',
      leader: vp.leader,
      voters: c.voters,
      learners: c.learners,
      catalog: { revision: stats.revision, files: stats.files, bytes: stats.bytes, conflicts: stats.conflicts },
      local: { files, inStep, behind },
      sync: this.engine.status(),
      exchange: this.exchange.stats(),
      transfer: this.transfer,
      connected: this.member.node.getPeers().map(p => p.toString())
    }
  }

  /** The live conflict copies. */
  conflicts (): CatalogEntry[] {
    return this.catalog.conflicts()
  }

  private controlHandlers (): Record<string, (args: Record<string, unknown>) => Promise<unknown>> {
    const peerArg = (args: Record<string, unknown>): string => {
      if (typeof args.peer !== 'string' || args.peer.length === 0 || args.peer.length > 128) throw new InvalidArgumentError('peer must be a peer id')
      return args.peer
    }
    return {
      status: async () => this.status(),
      conflicts: async () => this.conflicts(),
      invite: async args => ({ invitation: await this.invite(peerArg(args), { signal: AbortSignal.timeout(30_000) }) }),
      revoke: async args => await this.revoke(peerArg(args), { signal: AbortSignal.timeout(30_000) })
    }
  }

  /** Stops the watcher, the engine (a landing in progress completes), the exchange, the member. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort()
      if (this.rejoinTimer !== undefined) clearInterval(this.rejoinTimer)
      await this.control?.close().catch(() => {})
      await this.watcher?.close().catch(() => {})
      await this.engine.stop().catch((error: unknown) => { this.log.warn(errorFields(error), 'sync engine stopped with an error') })
      await this.exchange.stop().catch(() => {})
      // Sealed, so the next start reads the active pack's index instead of scanning it.
      if (this.exchange.store instanceof PackChunkStore) await this.exchange.store.close().catch((error: unknown) => { this.log.warn(errorFields(error), 'the chunk store could not be closed') })
      await this.member.stop()
      await this.index.close().catch((error: unknown) => { this.log.error(errorFields(error), 'the local index could not be saved') })
      this.log.info({ id: this.id }, 'replication node stopped')
    })()
    await this.stopping
  }
}

function replaceAfterTicks (options: ReplicaNodeOptions): number {
  return Math.max(1, Math.round((options.replaceAfterMs ?? 600_000) / (options.tickMs ?? 10)))
}

/** Chunks a local file and puts every chunk in the store (peers fetch them from there). */
async function storeFile (fs: FileSystem, store: ChunkStore, abs: string, signal?: AbortSignal): Promise<{ chunks: ChunkRef[], size: number }> {
  const file = await fs.openRead(abs)
  const chunks: ChunkRef[] = []
  let size = 0
  try {
    for await (const chunk of chunkFile(file, signal !== undefined ? { signal } : {})) {
      if (!(await store.has(chunk.id))) await store.put(chunk.id, chunk.bytes)
      chunks.push({ id: chunk.id, size: chunk.bytes.length })
      size += chunk.bytes.length
    }
  } finally {
    await file.close()
  }
  return { chunks, size }
}
