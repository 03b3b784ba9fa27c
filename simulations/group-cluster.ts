/**
 * A virtual peer inside a private DHT, all in this process, on 127.0.0.1: `dhtNodes` plain DHT
 * servers (libp2p nodes that serve `/vpeer/kad/1.0.0` and nothing else), the VP's `voters`
 * members and `spares` spare members (each a full `Member` with `dht: true`: LevelDB, runtime,
 * transport, client service). For the group-address test, `npm run demo:group` and
 * `npm run bench:group`.
 *
 * Topology. Every node dials `degree` random nodes started before it, so the DHT is a random
 * graph and not a star around a seed: a lookup has to walk it. Members dial plain nodes only (the
 * group's own links come from the cluster file), so the client's bootstrap peer is several hops
 * from the providers. `start` returns once every node's routing table holds
 * `routingTableMin` peers (measured: `startup.routingTables`), so a client started then finds a
 * populated DHT, not one still filling.
 *
 * Where spares come from is one switch, `spareSource`: today the cluster file's static pool
 * (`CLUSTER_FILE_SPARES`); a source that announces spares in the DHT plugs in as another
 * `SpareSource` (it leaves them out of the cluster file and passes its options to the members).
 *
 * `kill(id)` stops a node for good; its folder stays (nothing it held is deleted), but it is
 * never restarted. `stop()` stops everything and removes the temporary folder.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'
import { generateIdentity, readIdentity } from '../src/alm/identity.js'
import type { Identity } from '../src/alm/identity.js'
import { createVpeerNode, parseMultiaddr } from '../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../src/alm/node-factory.js'
import type { NetLogger } from '../src/alm/log.js'
import { VirtualPeerClient } from '../src/net/client.js'
import type { VirtualPeerClientOptions } from '../src/net/client.js'
import type { ClusterSpec } from '../src/net/cluster-spec.js'
import { groupKey } from '../src/net/group-key.js'
import { initCluster } from '../src/net/init.js'
import type { InitResult } from '../src/net/init.js'
import { Member } from '../src/net/member.js'
import type { MemberOptions } from '../src/net/member.js'
import type { Configuration, NodeId } from '../src/paxos/index.js'
import { KvStateMachine } from '../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'
import { CodedError, InvalidArgumentError } from '../src/util/errors.js'

export type KvMember = Member<KvCommand, KvResult, KvQuery, KvAnswer>
export type KvClient = VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>
type KvMemberOptions = MemberOptions<KvCommand, KvResult, KvQuery, KvAnswer>

/** A wait of the harness ran out (the message says for what). */
export class GroupClusterTimeoutError extends CodedError {
  static override name = 'GroupClusterTimeoutError'
  constructor (message: string) {
    super(message, 'ERR_GROUP_CLUSTER_TIMEOUT')
  }
}

/**
 * Where the spares come from. `inClusterFile`: the cluster file lists them (the leader's
 * replacement pool is that list). `memberOptions`: what a voter or a spare is started with on
 * top of the harness's own options (a DHT-announced source sets its announce option here).
 */
export interface SpareSource {
  readonly name: string
  readonly inClusterFile: boolean
  readonly memberOptions?: (role: 'voter' | 'spare') => Partial<KvMemberOptions>
}

/** The static pool: spares named in the cluster file, with their addresses. */
export const CLUSTER_FILE_SPARES: SpareSource = { name: 'cluster-file', inClusterFile: true }

/**
 * Spares that are not in the cluster file: each announces itself under the group's spare key in
 * the DHT (`vpeer node --dht --spare`), the administrator invites it (allow-list), and the
 * leader's spare pool finds, probes and ranks them by observed uptime.
 */
export const DHT_SPARES: SpareSource = {
  name: 'dht',
  inClusterFile: false,
  // A lookup and probe round every 3 s per member: sooner costs the shared CPU of an in-process DHT.
  memberOptions: role => role === 'spare' ? { spare: true, spareRefreshMs: 3000 } : { spareRefreshMs: 3000 }
}

export interface GroupClusterOptions {
  /** Plain DHT server nodes (not members); the DHT holds these plus every voter and spare. */
  readonly dhtNodes: number
  readonly voters: number
  readonly spares: number
  /** Parent of the temporary folder (default the OS's). */
  readonly dir?: string
  /** Random earlier nodes each node dials (default 4). */
  readonly degree?: number
  /**
   * How often members re-provide the group key (default 10 s; they also provide on every
   * membership change). Each provide is a DHT query to about 20 peers: measured in a 20-node
   * DHT, five voters providing every second keep one core ~90 % busy, against ~25 % with none.
   */
  readonly provideEveryMs?: number
  /** A voter silent this long is replaced (default 1000 ms; the library's default is 3 s). */
  readonly replaceAfterMs?: number
  /** Runtime tick (default 10 ms, the library's). */
  readonly tickMs?: number
  readonly spareSource?: SpareSource
  /** Peers every routing table must hold before `start` returns (default min(total - 1, 8)). */
  readonly routingTableMin?: number
  /** Start the spares too (default true). */
  readonly startSpares?: boolean
  readonly log?: NetLogger
  /** Narration of the start-up (one line per step). */
  readonly progress?: (line: string) => void
  readonly signal?: AbortSignal
}

export interface GroupNode {
  readonly name: string
  readonly id: string
  readonly role: 'dht' | 'voter' | 'spare'
  /** Running (never restarted once killed). */
  readonly alive: boolean
}

interface NodeEntry {
  readonly name: string
  readonly id: string
  readonly role: 'dht' | 'voter' | 'spare'
  readonly libp2p: VpeerLibp2p
  readonly member: KvMember | undefined
  alive: boolean
}

export interface RoutingTableStats {
  readonly min: number
  readonly p50: number
  readonly max: number
  /** Ms from the first node's start until every table held `routingTableMin` peers. */
  readonly readyMs: number
}

export interface StartupStats {
  readonly totalMs: number
  readonly nodesMs: number
  readonly routingTables: RoutingTableStats
  /** Process heap and RSS after start-up, MB. */
  readonly heapMB: number
  readonly rssMB: number
  /** This process's event-loop delay during start-up, ms (how starved every node in it was). */
  readonly eventLoopDelayMs: { readonly p50: number, readonly p99: number, readonly max: number }
}

/** Plain DHT nodes created at once. */
const START_BATCH = 5

const r1 = (x: number): number => Math.round(x * 10) / 10

export class GroupCluster {
  readonly dir: string
  readonly init: InitResult
  readonly groupKey: CID
  readonly spareSource: SpareSource
  startup: StartupStats | undefined
  private readonly nodes: NodeEntry[] = []
  private readonly o: Required<Pick<GroupClusterOptions, 'degree' | 'provideEveryMs' | 'replaceAfterMs' | 'tickMs'>> & GroupClusterOptions
  private readonly spareIdentities: Array<{ name: string, identity: Identity, dir: string }>
  private stopped = false

  private constructor (dir: string, init: InitResult, key: CID, spareIdentities: Array<{ name: string, identity: Identity, dir: string }>, o: GroupCluster['o']) {
    this.dir = dir
    this.init = init
    this.groupKey = key
    this.o = o
    this.spareSource = o.spareSource ?? CLUSTER_FILE_SPARES
    this.spareIdentities = spareIdentities
  }

  /** Starts the DHT, the members and the spares; resolves once the routing tables are filled. */
  static async start (options: GroupClusterOptions): Promise<GroupCluster> {
    const int = (name: string, v: number, min: number): void => {
      if (!Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${v}`)
    }
    int('dhtNodes', options.dhtNodes, 1)
    int('voters', options.voters, 1)
    int('spares', options.spares, 0)
    const o = { degree: 4, provideEveryMs: 10_000, replaceAfterMs: 1000, tickMs: 10, ...options }
    int('degree', o.degree, 1)
    const source = o.spareSource ?? CLUSTER_FILE_SPARES
    const dir = await mkdtemp(join(o.dir ?? tmpdir(), 'vpeer-group-'))
    let cluster: GroupCluster | undefined
    try {
      const init = await initCluster({ dir, members: o.voters, spares: source.inClusterFile ? o.spares : 0, group: 'group-demo' })
      const spareIdentities: Array<{ name: string, identity: Identity, dir: string }> = []
      if (!source.inClusterFile) {
        for (let i = 0; i < o.spares; i++) spareIdentities.push({ name: `s${i + 1}`, identity: await generateIdentity(), dir: join(dir, `s${i + 1}`) })
      }
      cluster = new GroupCluster(dir, init, await groupKey(init.spec), spareIdentities, o)
      await cluster.boot()
      return cluster
    } catch (error) {
      if (cluster !== undefined) await cluster.stop()
      else await rm(dir, { recursive: true, force: true })
      throw error
    }
  }

  get spec (): ClusterSpec { return this.init.spec }

  /** DHT servers in total: plain nodes, voters, spares. */
  get size (): number { return this.nodes.length }

  /** Every node the harness started, in start order. */
  list (): GroupNode[] {
    return this.nodes.map(n => ({ name: n.name, id: n.id, role: n.role, alive: n.alive }))
  }

  /** The genesis voters (the ones a client is never told about). */
  get originalVoters (): readonly NodeId[] { return this.spec.voters }

  nameOf (id: string): string {
    return this.nodes.find(n => n.id === id)?.name ?? id.slice(-8)
  }

  member (nameOrId: string): KvMember {
    const n = this.entry(nameOrId)
    if (n.member === undefined) throw new InvalidArgumentError(`${nameOrId} is a plain DHT node, not a member`)
    return n.member
  }

  /** Running members (voters, learners and spares). */
  liveMembers (): KvMember[] {
    return this.nodes.flatMap(n => n.alive && n.member !== undefined ? [n.member] : [])
  }

  /** A node's listen address with /p2p/. */
  addressOf (nameOrId: string): string {
    return addressOf(this.entry(nameOrId).libp2p)
  }

  /** A plain DHT node's address with /p2p/: the one the fewest members dialed directly. */
  bootstrapAddress (): string {
    const plain = this.nodes.filter(n => n.role === 'dht' && n.alive)
    if (plain.length === 0) throw new InvalidArgumentError('no plain DHT node is running')
    const memberIds = new Set(this.nodes.filter(n => n.member !== undefined).map(n => n.id))
    const memberLinks = (n: NodeEntry): number => n.libp2p.getConnections().filter(c => memberIds.has(c.remotePeer.toString())).length
    const best = plain.reduce((a, b) => memberLinks(b) < memberLinks(a) ? b : a)
    return addressOf(best.libp2p)
  }

  /**
   * The configuration the group runs now: the newest one known to the leader, or (no leader)
   * the highest epoch any live member knows.
   */
  configuration (): Configuration {
    const live = this.liveMembers()
    const leader = live.find(m => m.vp.status().role === 'leader')
    if (leader !== undefined) return leader.vp.status().configuration
    let best: Configuration | undefined
    for (const m of live) {
      const c = m.vp.status().configuration
      if (best === undefined || c.epoch > best.epoch) best = c
    }
    if (best === undefined) throw new InvalidArgumentError('no member is running')
    return best
  }

  /**
   * The next original voter to stop in a turnover: one that does not lead while there is one,
   * so the leader goes last (a client then learns of no new member through redirects, only
   * through the DHT). Undefined once no original votes.
   */
  nextOriginalVictim (): NodeId | undefined {
    const voters = this.configuration().voters
    const live = this.originalVoters.filter(id => voters.includes(id) && this.entry(id).alive)
    const leader = this.leader()?.id
    return live.find(id => id !== leader) ?? live[0]
  }

  /** The live member that leads, if any. */
  leader (): KvMember | undefined {
    return this.liveMembers().find(m => m.vp.status().role === 'leader')
  }

  /**
   * Resolves with the configuration once the leader has committed one whose voters satisfy
   * `accept` and no change is still taking effect.
   */
  async waitForConfiguration (accept: (c: Configuration) => boolean, options: { timeoutMs?: number, signal?: AbortSignal, what?: string } = {}): Promise<Configuration> {
    const timeoutMs = options.timeoutMs ?? 30_000
    const deadline = Date.now() + timeoutMs
    for (;;) {
      options.signal?.throwIfAborted()
      const leader = this.leader()
      if (leader !== undefined) {
        const s = leader.vp.status()
        if (s.configurations.length <= 1 && accept(s.configuration)) return s.configuration
      }
      if (Date.now() > deadline) throw new GroupClusterTimeoutError(`no ${options.what ?? 'matching configuration'} within ${timeoutMs} ms (now ${describe(this.configuration(), id => this.nameOf(id))})`)
      await sleep(20)
    }
  }

  /** Waits until `victim` is out of the voters and a replacement brought them back to full size. */
  async waitForReplacement (victim: NodeId, options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<Configuration> {
    return await this.waitForConfiguration(c => !c.voters.includes(victim) && c.voters.length === this.o.voters && c.learners.length === 0,
      { ...options, what: `replacement of ${this.nameOf(victim)}` })
  }

  /** Stops a node for good (a member stops its runtime, transport and node; its folder stays). */
  async kill (nameOrId: string): Promise<void> {
    const n = this.entry(nameOrId)
    if (!n.alive) return
    n.alive = false
    if (n.member !== undefined) await n.member.stop()
    else await n.libp2p.stop()
  }

  /**
   * A client that knows only the group key and one bootstrap address (a plain DHT node), with
   * the administrator's identity.
   */
  async connectClient (options: Partial<Omit<VirtualPeerClientOptions<KvCommand, KvResult, KvQuery, KvAnswer>, 'members'>> & { bootstrap?: string, signal?: AbortSignal } = {}): Promise<KvClient> {
    return await VirtualPeerClient.connect<KvCommand, KvResult, KvQuery, KvAnswer>({
      ...options,
      group: this.groupKey,
      bootstrap: [options.bootstrap ?? this.bootstrapAddress()],
      identity: options.identity ?? await readIdentity(this.init.adminKey),
      signal: options.signal ?? AbortSignal.timeout(30_000)
    })
  }

  /** Routing-table sizes of the live nodes. */
  routingTables (): { min: number, p50: number, max: number } {
    const sizes = this.nodes.filter(n => n.alive).map(n => routingTableSize(n.libp2p)).sort((a, b) => a - b)
    return { min: sizes[0] ?? 0, p50: sizes[Math.floor((sizes.length - 1) / 2)] ?? 0, max: sizes[sizes.length - 1] ?? 0 }
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    // Members first (their runtimes talk to each other), then the plain nodes.
    for (const n of [...this.nodes].reverse()) {
      if (!n.alive) continue
      n.alive = false
      try {
        if (n.member !== undefined) await n.member.stop()
        else await n.libp2p.stop()
      } catch {}
    }
    await rm(this.dir, { recursive: true, force: true })
  }

  // ---------------------------------------------------------------------------------------

  private entry (nameOrId: string): NodeEntry {
    const n = this.nodes.find(x => x.name === nameOrId || x.id === nameOrId)
    if (n === undefined) throw new InvalidArgumentError(`no node ${nameOrId}`)
    return n
  }

  private say (line: string): void { this.o.progress?.(line) }

  private async boot (): Promise<void> {
    const t0 = performance.now()
    const delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
    try {
      await this.bootNodes(t0)
    } finally {
      delay.disable()
    }
    const ms = (ns: number): number => r1(ns / 1e6)
    this.startup = { ...(this.startup as StartupStats), eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) } }
  }

  private async bootNodes (t0: number): Promise<void> {
    const { degree } = this.o
    // Node i dials `degree` random nodes among 0..i-1: connected whatever order the dials
    // complete in, and no node is a hub. Created a few at a time: all at once, their handshakes
    // and self-queries pile up and time out on a loaded machine.
    for (let i = 0; i < this.o.dhtNodes; i += START_BATCH) {
      this.o.signal?.throwIfAborted()
      const earlier = [...this.nodes]
      const batch = await Promise.all(Array.from({ length: Math.min(START_BATCH, this.o.dhtNodes - i) }, async (_, j) => {
        const identity = await generateIdentity()
        const libp2p = await createVpeerNode({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], dht: 'server' })
        const entry: NodeEntry = { name: `d${i + j + 1}`, id: identity.id, role: 'dht', libp2p, member: undefined, alive: true }
        this.nodes.push(entry)
        return entry
      }))
      await Promise.all(batch.map(async (n, j) => { await this.dialRandom(n.libp2p, [...earlier, ...batch.slice(0, j)], degree) }))
    }
    this.say(`${this.o.dhtNodes} plain DHT nodes up (each dialed ${degree} random earlier ones) in ${Math.round(performance.now() - t0)} ms`)
    const plain = this.nodes.filter(n => n.role === 'dht')
    const start = async (name: string, role: 'voter' | 'spare', identity: Identity, dataDir: string): Promise<void> => {
      const member = await Member.start<KvCommand, KvResult, KvQuery, KvAnswer>({
        identity,
        dataDir,
        cluster: this.spec,
        stateMachine: new KvStateMachine(),
        dht: true,
        provideEveryMs: this.o.provideEveryMs,
        runtime: { tickMs: this.o.tickMs },
        replacement: { replaceAfterTicks: Math.max(1, Math.round(this.o.replaceAfterMs / this.o.tickMs)) },
        ...(this.o.log !== undefined ? { log: this.o.log } : {}),
        ...this.spareSource.memberOptions?.(role)
      })
      this.nodes.push({ name, id: identity.id, role, libp2p: member.node, member, alive: true })
      await this.dialRandom(member.node, plain, degree)
    }
    const voters = this.init.nodes.filter(n => n.role === 'voter')
    await Promise.all(voters.map(async n => { await start(n.name, 'voter', await readIdentity(join(n.dir, 'identity.key')), n.dir) }))
    this.say(`${voters.length} voters up: ${voters.map(n => n.name).join(' ')} (${Math.round(performance.now() - t0)} ms)`)
    if (this.o.startSpares !== false) {
      const spares = this.spareSource.inClusterFile
        ? await Promise.all(this.init.nodes.filter(n => n.role === 'spare').map(async n => ({ name: n.name, identity: await readIdentity(join(n.dir, 'identity.key')), dir: n.dir })))
        : this.spareIdentities
      await Promise.all(spares.map(async s => { await start(s.name, 'spare', s.identity, s.dir) }))
      if (spares.length > 0) this.say(`${spares.length} spares up (${this.spareSource.name}): ${spares.map(s => s.name).join(' ')} (${Math.round(performance.now() - t0)} ms)`)
    }
    const nodesMs = performance.now() - t0
    const total = this.nodes.length
    const want = Math.min(total - 1, this.o.routingTableMin ?? 8)
    const deadline = Date.now() + 60_000
    // kad-dht adds a peer to its table once identify shows it speaks the DHT protocol, and each
    // node's self-query (started at once: initialQuerySelfInterval 0) connects it to its closest
    // peers. Nudge the stragglers with a refresh rather than wait for the next interval.
    let nudged = 0
    while (this.routingTables().min < want) {
      this.o.signal?.throwIfAborted()
      if (Date.now() > deadline) throw new GroupClusterTimeoutError(`routing tables still hold ${this.routingTables().min} < ${want} peers after 60 s`)
      await sleep(50)
      if (performance.now() - t0 - nodesMs > 2000 * (nudged + 1)) {
        nudged++
        await Promise.all(this.nodes.filter(n => routingTableSize(n.libp2p) < want).map(async n => { await dhtOf(n.libp2p)?.refreshRoutingTable().catch(() => {}) }))
      }
    }
    const readyMs = performance.now() - t0
    const tables = this.routingTables()
    await this.waitForConfiguration(c => c.voters.length === this.o.voters, { what: 'leader', ...(this.o.signal !== undefined ? { signal: this.o.signal } : {}) })
    if (!this.spareSource.inClusterFile && this.spareIdentities.length > 0) {
      // DHT spares must be invited before a leader adds them: their keys go on the allow-list.
      const admin = await VirtualPeerClient.create<KvCommand, KvResult, KvQuery, KvAnswer>({
        members: this.nodes.filter(n => n.role === 'voter').map(n => addressOf(n.libp2p)),
        identity: await readIdentity(this.init.adminKey),
        // Fifty nodes starting in one process can stall the event loop for a second at a time.
        attemptTimeoutMs: 5000,
        deadlineMs: 120_000
      })
      try {
        for (const s of this.spareIdentities) await admin.allow(s.identity.id, { signal: AbortSignal.timeout(120_000) })
      } finally {
        await admin.close()
      }
      this.say(`${this.spareIdentities.length} DHT spares invited (allow-list)`)
    }
    const mem = process.memoryUsage()
    this.startup = {
      totalMs: Math.round(performance.now() - t0),
      nodesMs: Math.round(nodesMs),
      routingTables: { ...tables, readyMs: Math.round(readyMs) },
      heapMB: r1(mem.heapUsed / 1e6),
      rssMB: r1(mem.rss / 1e6),
      eventLoopDelayMs: { p50: 0, p99: 0, max: 0 }
    }
    this.say(`DHT of ${total} nodes: every routing table holds ≥ ${want} peers (min ${tables.min}, median ${tables.p50}, max ${tables.max}) ${Math.round(readyMs)} ms after the first node started; leader elected; heap ${this.startup.heapMB} MB, RSS ${this.startup.rssMB} MB`)
  }

  private async dialRandom (node: VpeerLibp2p, among: readonly NodeEntry[], count: number): Promise<void> {
    const pool = among.filter(n => n.alive && n.libp2p !== node)
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const t = pool[i] as NodeEntry
      pool[i] = pool[j] as NodeEntry
      pool[j] = t
    }
    await Promise.all(pool.slice(0, count).map(async n => {
      const target = parseMultiaddr(addressOf(n.libp2p))
      // A handshake can time out while the process is busy starting nodes: retried, then fatal.
      for (let attempt = 1; ; attempt++) {
        try {
          await node.dial(target, { signal: AbortSignal.timeout(10_000) })
          return
        } catch (error) {
          if (attempt >= 3 || this.o.signal?.aborted === true) throw error
          await sleep(200 * attempt)
        }
      }
    }))
  }
}

function addressOf (node: VpeerLibp2p): string {
  const a = node.getMultiaddrs()[0]
  if (a === undefined) throw new InvalidArgumentError(`node ${node.peerId.toString()} listens nowhere`)
  return a.toString()
}

function dhtOf (node: VpeerLibp2p): (KadDHT & { routingTable?: { size: number } }) | undefined {
  return node.services.dht as (KadDHT & { routingTable?: { size: number } }) | undefined
}

function routingTableSize (node: VpeerLibp2p): number {
  return dhtOf(node)?.routingTable?.size ?? 0
}

/** `epoch 3: voters s1 m2 m3 …, learners s2` with names. */
export function describe (c: Configuration, name: (id: string) => string = id => id): string {
  return `epoch ${c.epoch}: voters ${c.voters.map(name).join(' ')}${c.learners.length > 0 ? `, learners ${c.learners.map(name).join(' ')}` : ''}`
}
