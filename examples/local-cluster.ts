/**
 * `npx tsx examples/local-cluster.ts [--fresh] [--writes N] [--data DIR]`: a real-time virtual
 * peer of three replicas inside one process.
 *
 * Unlike the simulator demo, everything here is the production wiring: `SystemClock` (real
 * timers), `systemRandom()` (OS randomness for election timeouts), `LevelStorage` (fsync'd
 * LevelDB, one folder per replica) and the `KvStateMachine`. Only the transport is in-process
 * (`LocalNetwork`): no sockets are opened. The run elects a leader, writes N keys through
 * random members and reads them back linearizably, crashes the leader (halt + close its
 * database), writes more, restarts the crashed replica from its LevelDB folder and checks that
 * it caught up, then shuts down cleanly. The data stays on disk: a second run without `--fresh`
 * starts every replica from the commit index the previous run left.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, rm } from 'node:fs/promises'
import { relative, resolve, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { formatBallot } from '../src/paxos/ballot.js'
import type { PaxosMessage } from '../src/paxos/messages.js'
import type { Configuration, NodeId } from '../src/paxos/types.js'
import { KvStateMachine } from '../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'
import { LevelStorage } from '../src/storage/level-storage.js'
import { LocalNetwork } from '../src/vpeer/local-network.js'
import { SystemClock } from '../src/vpeer/system-clock.js'
import { systemRandom } from '../src/vpeer/system-random.js'
import { VirtualPeer } from '../src/vpeer/virtual-peer.js'

type KvPeer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>

export interface LocalClusterOptions {
  readonly writes: number
  /** Absolute path of the folder holding one LevelDB folder per replica. */
  readonly data: string
  readonly fresh: boolean
}

/** What a run established; handed to `io.result` for tests (the printed lines say the same). */
export interface LocalClusterResult {
  /** How many runs this data directory has seen, this one included (a replicated counter). */
  readonly run: number
  /** The first leader elected. */
  readonly leader: NodeId
  /** Each replica's commit index as loaded from its LevelDB folder at the start of the run. */
  readonly loadedCommitIndex: Readonly<Record<NodeId, number>>
  readonly commitsPerSecond: number
  readonly restarted: {
    readonly id: NodeId
    /** Commit index it reloaded from disk after the crash. */
    readonly loadedCommitIndex: number
    /** Its applied index once caught up, equal to every other replica's. */
    readonly appliedIndex: number
    readonly digest: string
  }
  /** Each replica's commit index and applied index at the clean shutdown. */
  readonly finalCommitIndex: Readonly<Record<NodeId, number>>
  readonly finalApplied: Readonly<Record<NodeId, number>>
}

export interface LocalClusterIo {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  readonly result?: (result: LocalClusterResult) => void
}

const USAGE = `usage: npx tsx examples/local-cluster.ts [options]

Three VirtualPeers in one process over LevelDB, real timers and an in-process network.
  --writes N   keys written in the first phase (default 2000; a quarter more after the crash)
  --data DIR   data directory, one LevelDB folder per replica (default ./data/local-cluster)
  --fresh      wipe the data directory first (otherwise the previous run's data is reused)
Exit codes: 0 every check passed, 1 a check failed, 2 bad options`

const IDS: readonly NodeId[] = ['a', 'b', 'c']
const CONFIGURATION: Configuration = { epoch: 0, voters: IDS, learners: [] }
/** Client operations in flight at once (each replica's own session allows 512). */
const CONCURRENCY = 64
/** No single operation or wait may hang the example: a stuck run fails instead. */
const OP_TIMEOUT_MS = 30_000
const ELECTION_TIMEOUT_MS = 10_000
const CATCH_UP_TIMEOUT_MS = 20_000
const RUN_KEY = 'run'

class UsageError extends Error {
  readonly code = 'ERR_LOCAL_CLUSTER_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A check of the example failed (not a crash of the library). */
class CheckFailed extends Error {
  readonly code = 'ERR_LOCAL_CLUSTER_CHECK'
  constructor (message: string) {
    super(message)
    this.name = 'CheckFailed'
  }
}

export function parseLocalClusterArgs (argv: readonly string[], cwd = process.cwd()): LocalClusterOptions | 'help' {
  let values
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        writes: { type: 'string' },
        data: { type: 'string' },
        fresh: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true,
      allowPositionals: false
    }))
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (values.help === true) return 'help'
  let writes = 2000
  if (values.writes !== undefined) {
    if (!/^\d+$/.test(values.writes)) throw new UsageError(`--writes must be an integer, got ${JSON.stringify(values.writes)}`)
    writes = Number(values.writes)
    if (writes < 1 || writes > 1_000_000) throw new UsageError(`--writes must be in [1, 1000000], got ${writes}`)
  }
  const data = values.data ?? join('data', 'local-cluster')
  if (data.length === 0) throw new UsageError('--data must not be empty')
  return { writes, data: resolve(cwd, data), fresh: values.fresh === true }
}

interface Member {
  readonly id: NodeId
  readonly dir: string
  storage: LevelStorage | undefined
  peer: KvPeer | undefined
  sm: KvStateMachine
}

/**
 * The three replicas and what they share. All of it is real-time: a wait here is a wait on the
 * wall clock, bounded by the timeouts above.
 */
class LocalCluster {
  readonly clock = new SystemClock()
  readonly random = systemRandom()
  readonly network = new LocalNetwork<PaxosMessage>()
  readonly members: Member[]
  private readonly io: LocalClusterIo

  constructor (data: string, io: LocalClusterIo) {
    this.io = io
    this.members = IDS.map(id => ({ id, dir: join(data, id), storage: undefined, peer: undefined, sm: new KvStateMachine() }))
  }

  member (id: NodeId): Member {
    const m = this.members.find(x => x.id === id)
    if (m === undefined) throw new Error(`no member ${id}`)
    return m
  }

  running (): Array<Member & { peer: KvPeer }> {
    return this.members.filter((m): m is Member & { peer: KvPeer } => m.peer?.running === true)
  }

  /** Opens the member's LevelDB folder, rebuilds it from there, and starts it; returns the commit index it loaded. */
  async start (m: Member): Promise<number> {
    const storage = await LevelStorage.open(m.dir)
    let peer: KvPeer
    const sm = new KvStateMachine()
    try {
      peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
        id: m.id,
        configuration: CONFIGURATION,
        transport: this.network.endpoint(m.id),
        storage,
        clock: this.clock,
        random: this.random,
        stateMachine: sm
      })
    } catch (error) {
      await storage.close()
      throw error
    }
    // A failed disk write halts the replica; say so instead of leaving a silent minority.
    peer.addEventListener('error', e => { this.io.err(`${m.id}: halted by a storage failure: ${String(e.detail.error)}`) })
    const loaded = peer.status().commitIndex
    m.storage = storage
    m.peer = peer
    m.sm = sm
    // A new incarnation: nothing sent to the crashed one reaches this one.
    this.network.reconnect(m.id)
    peer.start()
    return loaded
  }

  /** What a crash looks like: off the network, halted mid-flight, its database closed. */
  async crash (m: Member): Promise<void> {
    this.network.disconnect(m.id)
    m.peer?.halt()
    await m.storage?.close()
    m.storage = undefined
  }

  /** Clean shutdown of one member: stop (waits for a persist in progress), then close its database. */
  async stop (m: Member): Promise<void> {
    await m.peer?.stop()
    await m.storage?.close()
    m.storage = undefined
  }

  async stopAll (): Promise<void> {
    // Every member, even if one fails to close: never leave a LevelDB lock behind.
    const results = await Promise.allSettled(this.members.map(async m => { await this.stop(m) }))
    this.clock.stop()
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** The running member that believes it leads with the highest ballot. */
  leader (): (Member & { peer: KvPeer }) | undefined {
    let best: (Member & { peer: KvPeer }) | undefined
    for (const m of this.running()) {
      const s = m.peer.status()
      if (s.role !== 'leader') continue
      if (best === undefined || compareBallots(s.ballot, best.peer.status().ballot) > 0) best = m
    }
    return best
  }

  pick (among: ReadonlyArray<Member & { peer: KvPeer }> = this.running()): Member & { peer: KvPeer } {
    const m = among[this.random.int(0, among.length)]
    if (m === undefined) throw new CheckFailed('no running member to send to')
    return m
  }
}

function compareBallots (a: { round: number, node: string }, b: { round: number, node: string }): number {
  return a.round !== b.round ? a.round - b.round : a.node < b.node ? -1 : a.node > b.node ? 1 : 0
}

async function waitFor<T> (what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new CheckFailed(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** Runs `task(0..n-1)` with at most `concurrency` in flight; the first failure stops new tasks and is thrown. */
async function pool (n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < n) {
      const i = next++
      try {
        await task(i)
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

function digestOf (sm: KvStateMachine): string {
  return createHash('sha256').update(sm.digest()).digest('hex').slice(0, 12)
}

function valueOf (run: number, i: number): number {
  // Distinct per run, so a read-back proves this run's write and not a leftover from the last one.
  return run * 10_000_000 + i
}

function statusLine (m: Member): string {
  if (m.peer === undefined) return `  ${m.id}  (not started)`
  const s = m.peer.status()
  const role = s.running ? s.role : 'down'
  return `  ${m.id}  ${role.padEnd(9)} leader ${s.leader ?? '-'}  ballot ${formatBallot(s.ballot).padEnd(5)} ` +
    `commit ${String(s.commitIndex).padStart(5)}  applied ${String(m.peer.applied).padStart(5)}  last slot ${String(s.lastSlot).padStart(5)}  ` +
    `pending ${s.pendingCommands}/${s.pendingReads}`
}

/** Refuses to wipe a folder this example did not make: `--fresh --data ~` must not delete a home. */
async function wipe (data: string): Promise<void> {
  let entries: string[]
  try {
    entries = await readdir(data)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  const foreign = entries.filter(e => !IDS.includes(e))
  if (foreign.length > 0) {
    throw new UsageError(`--fresh refuses to wipe ${data}: it holds ${foreign.slice(0, 3).map(e => JSON.stringify(e)).join(', ')}, which this example does not create`)
  }
  await rm(data, { recursive: true, force: true })
}

function display (path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' || rel.startsWith('..') ? path : rel
}

export async function runLocalCluster (options: LocalClusterOptions, io: LocalClusterIo): Promise<LocalClusterResult> {
  const out = io.out
  if (options.fresh) await wipe(options.data)
  await mkdir(options.data, { recursive: true })
  const cluster = new LocalCluster(options.data, io)
  const signal = (): AbortSignal => AbortSignal.timeout(OP_TIMEOUT_MS)
  try {
    out(`local cluster: ${IDS.length} replicas (${IDS.join(', ')}) in one process, LevelDB under ${display(options.data)}`)
    const t0 = performance.now()
    const loadedCommitIndex: Record<NodeId, number> = {}
    for (const m of cluster.members) {
      const loaded = await cluster.start(m)
      loadedCommitIndex[m.id] = loaded
      out(`  ${m.id}: opened ${display(m.dir)}, commit index on disk ${loaded}${loaded > 0 ? ' (left by an earlier run)' : ''}`)
    }

    const first = await waitFor('a leader', ELECTION_TIMEOUT_MS, () => cluster.leader())
    out(`leader: ${first.id} (ballot ${formatBallot(first.peer.status().ballot)}, elected ${Math.round(performance.now() - t0)} ms after start)`)

    // A replicated run counter: reading the previous value back is the data surviving a restart.
    const previous = await cluster.pick().peer.read({ key: RUN_KEY }, { signal: signal() }) ?? 0
    const run = previous + 1
    await cluster.pick().peer.submit({ f: 'write', key: RUN_KEY, value: run }, { signal: signal() })
    out(`run #${run} on this data directory${previous > 0 ? ` (the counter left by run #${previous} was read back)` : ''}`)

    // Phase 1: N writes through random members, timed.
    const n = options.writes
    const commitBefore = first.peer.status().commitIndex
    let t = performance.now()
    await pool(n, CONCURRENCY, async i => {
      await cluster.pick().peer.submit({ f: 'write', key: `k${i}`, value: valueOf(run, i) }, { signal: signal() })
    })
    const writeSeconds = (performance.now() - t) / 1000
    const commitsPerSecond = n / writeSeconds
    const slots = (cluster.leader()?.peer.status().commitIndex ?? commitBefore) - commitBefore
    out(`wrote ${n} keys through random members in ${writeSeconds.toFixed(2)} s: ${Math.round(commitsPerSecond)} commits/s ` +
      `(${slots} slots, ${(n / Math.max(1, slots)).toFixed(1)} commands per slot)`)

    // Linearizable read-back: each read is served only after the replica has applied
    // everything chosen before the read started, whichever member it goes to.
    t = performance.now()
    await pool(n, CONCURRENCY, async i => {
      const m = cluster.pick()
      const got = await m.peer.read({ key: `k${i}` }, { signal: signal() })
      if (got !== valueOf(run, i)) throw new CheckFailed(`read k${i} through ${m.id}: expected ${valueOf(run, i)}, got ${String(got)}`)
    })
    out(`read back ${n} keys through random members (linearizable reads): all match, ${((performance.now() - t) / 1000).toFixed(2)} s`)
    out('status:')
    for (const m of cluster.members) out(statusLine(m))

    // Crash the leader: the interesting case (the survivors must elect a new one).
    const leaderNow = cluster.leader()
    const victim = leaderNow ?? first
    const victimId = victim.id
    await cluster.crash(victim)
    out(`crash: ${victimId} (${leaderNow !== undefined ? 'the leader' : 'the first leader; an election was under way'}) halted and its LevelDB closed`)

    const more = Math.max(10, Math.ceil(n / 4))
    const survivors = cluster.running()
    t = performance.now()
    await pool(more, CONCURRENCY, async j => {
      const i = n + j
      await cluster.pick(survivors).peer.submit({ f: 'write', key: `k${i}`, value: valueOf(run, i) }, { signal: signal() })
    })
    const second = await waitFor('a new leader', ELECTION_TIMEOUT_MS, () => cluster.leader())
    out(`wrote ${more} more keys through ${survivors.map(m => m.id).join(', ')} in ${((performance.now() - t) / 1000).toFixed(2)} s; new leader ${second.id}`)

    // Restart from the LevelDB folder: the log up to its durable commit index is replayed,
    // the rest comes from the leader.
    const groupCommit = second.peer.status().commitIndex
    t = performance.now()
    const reloaded = await cluster.start(victim)
    out(`restart: ${victimId} reopened ${display(victim.dir)}, commit index on disk ${reloaded} (the group is at ${groupCommit})`)
    const target = await waitFor(`${victimId} to catch up`, CATCH_UP_TIMEOUT_MS, () => {
      const ms = cluster.running()
      if (ms.length !== IDS.length) return undefined
      const leader = cluster.leader()
      if (leader === undefined) return undefined
      const commit = leader.peer.status().commitIndex
      return ms.every(m => m.peer.applied === commit && m.peer.status().commitIndex === commit) ? commit : undefined
    })
    const digests = cluster.members.map(m => digestOf(m.sm))
    if (new Set(digests).size !== 1) {
      throw new CheckFailed(`states differ at applied index ${target}: ${cluster.members.map((m, k) => `${m.id} ${digests[k] ?? '?'}`).join(', ')}`)
    }
    const lastKey = `k${n + more - 1}`
    const lastValue = await cluster.member(victimId).peer?.read({ key: lastKey }, { signal: signal() })
    if (lastValue !== valueOf(run, n + more - 1)) throw new CheckFailed(`${victimId} read ${lastKey} = ${String(lastValue)} after catching up`)
    out(`caught up: ${victimId} applied ${target} like ${cluster.members.filter(m => m.id !== victimId).map(m => m.id).join(' and ')} in ` +
      `${Math.round(performance.now() - t)} ms; state digests equal (${digests[0] ?? '?'}); ${victimId} reads ${lastKey} = ${String(lastValue)}`)
    out('status:')
    for (const m of cluster.members) out(statusLine(m))
    const net = cluster.network.stats()
    const dropped = net.dropped.unknown + net.dropped.disconnected + net.dropped.stale + net.dropped.noHandler
    out(`network: ${net.sent} messages sent, ${net.delivered} delivered, ${dropped} dropped (around the crash)`)

    // Clean shutdown: stop waits for a persist in progress, then the database can close.
    await cluster.stopAll()
    const finalCommitIndex: Record<NodeId, number> = {}
    const finalApplied: Record<NodeId, number> = {}
    for (const m of cluster.members) {
      finalCommitIndex[m.id] = m.peer?.status().commitIndex ?? 0
      finalApplied[m.id] = m.peer?.applied ?? 0
    }
    out(`stopped cleanly; commit index at stop: ${IDS.map(id => `${id} ${finalCommitIndex[id] ?? 0}`).join(', ')}`)
    out('run again without --fresh: every replica starts from these commit indexes and the data is still there')
    return {
      run,
      leader: first.id,
      loadedCommitIndex,
      commitsPerSecond,
      restarted: { id: victimId, loadedCommitIndex: reloaded, appliedIndex: target, digest: digests[0] ?? '' },
      finalCommitIndex,
      finalApplied
    }
  } finally {
    // Idempotent after a clean stop; after a failure it releases timers and LevelDB locks.
    await cluster.stopAll().catch((error: unknown) => { io.err(`shutdown: ${String(error)}`) })
  }
}

/** Runs the example; returns the exit code. */
export async function main (argv: readonly string[], io: LocalClusterIo = processIo()): Promise<number> {
  let options: LocalClusterOptions
  try {
    const parsed = parseLocalClusterArgs(argv)
    if (parsed === 'help') { io.out(USAGE); return 0 }
    options = parsed
  } catch (error) {
    io.err(`local-cluster: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  try {
    const result = await runLocalCluster(options, io)
    io.result?.(result)
    return 0
  } catch (error) {
    if (error instanceof UsageError) { io.err(`local-cluster: ${error.message}`); return 2 }
    io.err(`local-cluster: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    return 1
  }
}

function processIo (): LocalClusterIo {
  // `… | head` closes the pipe early; that is the reader being done, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })
  return {
    out: line => { process.stdout.write(line + '\n') },
    err: line => { process.stderr.write(line + '\n') }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}
