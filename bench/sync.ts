/**
 * Folder replication measured end to end: real `vpeer start` processes on 127.0.0.1
 * (simulations/replica-hosts.ts), files written into their folders, the clock stopped when every
 * host holds the same files, is idle and is at the same catalog revision.
 *
 *   npm run bench:sync                          six hosts, unshaped: S1–S6 beside Syncthing, rsync, Unison
 *   npm run bench:sync -- --paper               the original paper's experiments, every node at 3 Mbit/s + 10 ms
 *   npm run bench:sync -- --paper --scale 0.1 --only 2.1
 *   npm run bench:sync -- --quick               tiny sizes, three hosts (smoke test; not a measurement)
 *
 * What is measured, per scenario:
 *   - time: from the start of the change (files renamed into a folder, appended, overwritten, a
 *     host started) to the end of the first poll of every host's control socket that finds them
 *     all idle, in step and at one revision, whose files are then checked byte for byte against
 *     what was written (a poll that passes but whose files differ does not count). `landed` is the
 *     same without "idle": the data is there, the nodes have not yet confirmed it with a pass
 *     that found nothing to do.
 *   - wire: the block exchange's bytes sent (frames with their length prefix), summed over all
 *     hosts, and the origin's share; blocks fetched.
 *   - TCP: bytes sent on every TCP connection to or from a host's listen port, read from the
 *     kernel (`ss -ti`, bytes_sent) before and after. TCP − exchange is everything else the nodes
 *     said to each other: the catalog (Paxos), libp2p identify/ping, and noise/yamux framing. A
 *     connection that closed in between is lost from that count (reported as closed).
 *
 * The six default scenarios and the reference figures (Syncthing 1.19, rsync 3.5 in a mesh,
 * Unison 2.52) are in `SCENARIOS`/`REFERENCE`; the paper's cases and the physical limit at its
 * link rate in `PAPER_CASES`/`paperLimit` (see /work/shared/paper-experiments.md).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { mkdir, open, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ReplicaHosts, describe as describeBytes } from '../simulations/replica-hosts.js'
import type { FileMap } from '../simulations/replica-hosts.js'
import { readFolderConfig } from '../src/replica/folder.js'
import type { ReplicaStatus } from '../src/replica/node.js'
import { isConflictPath } from '../src/sync/catalog.js'
import { UsageError, benchCli, parseFlags, runIfMain } from './cli-errors.js'
import { machineInfo } from './machine.js'
import type { MachineInfo } from './machine.js'

export const KiB = 1024
export const MiB = 1024 * 1024

/** The paper's link: 3 Mbit/s each way per host, 10 ms one-way (`vpeer start --shape 3,10`). */
export const PAPER_SHAPE = { mbit: 3, delayMs: 10 } as const

export const USAGE = `usage: npm run bench:sync -- [--paper [--only CASE] [--scale F]] [--quick]
       [--rescan-ms MS] [--out FILE]

Real vpeer start processes on 127.0.0.1, one folder each.
  (default)       six hosts, unshaped: S1–S6 beside Syncthing 1.19, rsync 3.5 and Unison 2.52
  --paper         the original paper's experiments (cases 1.1–1.5 on 4 hosts, 2.1–2.3 and 3.1 on 6),
                  every node started with --shape ${PAPER_SHAPE.mbit},${PAPER_SHAPE.delayMs}; our time beside theirs and the physical limit
  --only CASE     with --paper: measure one case (e.g. 2.2); the earlier cases of its scenario run
                  first unshaped as setup, then the nodes restart shaped
  --scale F       with --paper: file and append sizes × F (0 < F ≤ 1; the limit scales too)
  --quick         three hosts, tiny sizes (smoke test; not a measurement, targets not judged)
  --rescan-ms MS  every node's periodic rescan (default 500; a watcher reports changes sooner)
  --out FILE      write the JSON result to FILE and print the table on stdout
                  (default: JSON on stdout, the table on stderr)
  --help          this text
Progress goes to stderr. Exit codes: 0 done, 1 the bench failed, 2 bad options.`

export interface Options {
  readonly mode: 'default' | 'paper'
  readonly quick: boolean
  readonly only: string | undefined
  readonly scale: number
  readonly rescanMs: number
  readonly out: string | undefined
}

export function parseOptions (argv: readonly string[]): Options {
  const v = parseFlags(argv, {
    paper: { type: 'boolean' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
    scale: { type: 'string' },
    'rescan-ms': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, USAGE)
  const paper = v.paper === true
  const quick = v.quick === true
  if (paper && quick) throw new UsageError('--quick is the default mode\'s smoke test; for a short paper run use --paper --scale 0.05')
  if (!paper && v.only !== undefined) throw new UsageError('--only applies to --paper')
  if (!paper && v.scale !== undefined) throw new UsageError('--scale applies to --paper')
  if (v.only !== undefined && !PAPER_CASES.some(c => c.id === v.only)) {
    throw new UsageError(`--only: no case ${v.only} (cases: ${PAPER_CASES.map(c => c.id).join(', ')})`)
  }
  const scale = v.scale === undefined ? 1 : Number(v.scale)
  if (!(scale > 0 && scale <= 1)) throw new UsageError(`--scale: expected a number in (0, 1], got ${v.scale}`)
  const rescanMs = v['rescan-ms'] === undefined ? 500 : Number(v['rescan-ms'])
  if (!Number.isSafeInteger(rescanMs) || rescanMs < 100 || rescanMs > 60_000) throw new UsageError(`--rescan-ms: expected an integer in 100..60000, got ${v['rescan-ms']}`)
  if (v.out === '') throw new UsageError('--out: expected a file name')
  return { mode: paper ? 'paper' : 'default', quick, only: v.only, scale, rescanMs, out: v.out }
}

// ---------------------------------------------------------------------------------------------
// The physical limit of the paper's setting

export interface Limit {
  /** The bytes that bound the case: the most any one host must receive, or must send alone. */
  readonly bytes: number
  readonly seconds: number
  /** Which bound it is: a receiver's download, or a sole holder's upload. */
  readonly bound: 'receive' | 'upload' | 'none'
  readonly host: string | null
}

/**
 * The time no schedule can beat when every host has `bitsPerSecond` each way: a host that lacks
 * `need[h]` bytes takes them in at that rate at best, however many peers serve it; bytes only
 * `unique[h]` holds must leave it at least once, at that rate. The larger of the two bounds.
 */
export function paperLimit (need: Readonly<Record<string, number>>, unique: Readonly<Record<string, number>>, bitsPerSecond: number): Limit {
  let best: { bytes: number, bound: Limit['bound'], host: string | null } = { bytes: 0, bound: 'none', host: null }
  for (const [host, bytes] of Object.entries(need)) if (bytes > best.bytes) best = { bytes, bound: 'receive', host }
  for (const [host, bytes] of Object.entries(unique)) if (bytes > best.bytes) best = { bytes, bound: 'upload', host }
  return { ...best, seconds: best.bytes * 8 / bitsPerSecond }
}

// ---------------------------------------------------------------------------------------------
// Results

export interface Traffic {
  /** Block exchange bytes sent, all hosts. */
  readonly exchangeBytes: number
  /** Block exchange bytes sent by the host the change came from (null: no single origin). */
  readonly originUploadBytes: number | null
  readonly blocksFetched: number
  readonly sentByHost: Readonly<Record<string, number>>
  /** TCP payload bytes between the hosts (null: `ss` unavailable). */
  readonly tcpBytes: number | null
  /** TCP − exchange: catalog (Paxos), identify/ping, noise/yamux framing. */
  readonly otherBytes: number | null
  /** Connections that closed during the run (their bytes are missing from tcpBytes). */
  readonly tcpConnectionsClosed: number
}

export interface Measurement {
  /** Change → all idle, in step, same revision, files verified. */
  readonly wallMs: number
  /** Change → files verified in step at one revision (before the nodes confirmed idle). */
  readonly landedMs: number
  /** The longest of the last passes, ms (for a no-change resync: what one rescan costs). */
  readonly passMs: number
  readonly revision: number
  readonly traffic: Traffic
  readonly conflict?: { readonly copies: number, readonly bothVersionsSurvive: boolean, readonly copyPath: string | null }
}

export interface Target {
  readonly what: string
  readonly met: boolean | null
}

export interface ScenarioResult {
  readonly id: string
  readonly title: string
  readonly hosts: readonly string[]
  readonly dataBytes: number
  /** Bytes that must reach someone: each receiver's missing bytes, summed. */
  readonly mustDeliverBytes: number
  readonly measured: Measurement | null
  readonly error: string | null
  readonly targets: readonly Target[]
}

export interface PaperCaseResult {
  readonly id: string
  readonly title: string
  readonly hosts: readonly string[]
  readonly paper: { readonly seconds: number, readonly trafficMiB: number }
  readonly limit: Limit
  readonly mustDeliverBytes: number
  readonly measured: Measurement | null
  readonly error: string | null
  /** Our time over the limit (null: no limit, the case moves nothing). */
  readonly overLimit: number | null
  readonly targetMet: boolean | null
}

export interface SyncBenchResult extends MachineInfo {
  readonly bench: 'sync'
  readonly mode: 'default' | 'paper'
  readonly params: {
    readonly quick: boolean
    readonly rescanMs: number
    readonly scale: number
    readonly only: string | null
    readonly shape: string | null
    readonly transport: string
  }
  readonly scenarios: readonly ScenarioResult[]
  readonly paperCases: readonly PaperCaseResult[]
}

/** Reference figures for the default scenarios (seconds, bytes); null: not reported. */
export const REFERENCE: Readonly<Record<string, { syncthing: { s: number | null, wire: number | null }, rsync: { s: number | null, wire: number | null }, unison: { s: number | null, wire: number | null } }>> = {
  S1: { syncthing: { s: 2.3, wire: null }, rsync: { s: 9.8, wire: null }, unison: { s: 5.4, wire: null } },
  S2: { syncthing: { s: 1.1, wire: 51.6 * MiB }, rsync: { s: null, wire: null }, unison: { s: null, wire: null } },
  S3: { syncthing: { s: 0.11, wire: 0 }, rsync: { s: null, wire: null }, unison: { s: null, wire: null } },
  S4: { syncthing: { s: null, wire: null }, rsync: { s: null, wire: null }, unison: { s: null, wire: null } },
  S5: { syncthing: { s: null, wire: 136 * KiB }, rsync: { s: null, wire: 46 * KiB }, unison: { s: null, wire: 48 * KiB } },
  S6: { syncthing: { s: null, wire: null }, rsync: { s: null, wire: null }, unison: { s: null, wire: null } }
}

// ---------------------------------------------------------------------------------------------
// TCP accounting

type TcpCounts = Map<string, number>

const execFileAsync = promisify(execFile)

/** bytes_sent of every established TCP socket with an end on one of `ports`, by "local peer". */
export function parseSs (text: string, ports: ReadonlySet<number>): TcpCounts {
  const out: TcpCounts = new Map()
  let current: string | undefined
  for (const line of text.split('\n')) {
    if (line.length === 0) continue
    if (!/^\s/.test(line)) {
      const ends = line.trim().split(/\s+/).filter(t => /:\d+$/.test(t))
      const port = (t: string | undefined): number => Number(t?.slice(t.lastIndexOf(':') + 1))
      current = ends.length >= 2 && (ports.has(port(ends[0])) || ports.has(port(ends[1]))) ? `${ends[0]} ${ends[1]}` : undefined
      if (current !== undefined) out.set(current, 0)
    } else if (current !== undefined) {
      const m = /\bbytes_sent:(\d+)/.exec(line)
      if (m !== null) out.set(current, Number(m[1]))
    }
  }
  return out
}

async function tcpCounts (ports: ReadonlySet<number>): Promise<TcpCounts | null> {
  try {
    const { stdout } = await execFileAsync('ss', ['-tinH', 'state', 'established'], { timeout: 5000, maxBuffer: 16 * MiB })
    return parseSs(stdout, ports)
  } catch {
    return null
  }
}

/** Bytes sent between two readings; connections gone by the second are counted as closed. */
export function tcpDelta (before: TcpCounts, after: TcpCounts): { bytes: number, closed: number } {
  let bytes = 0
  for (const [k, v] of after) bytes += v - (before.get(k) ?? 0)
  let closed = 0
  for (const k of before.keys()) if (!after.has(k)) closed++
  return { bytes, closed }
}

// ---------------------------------------------------------------------------------------------
// The hosts and what they should hold

/** A failure of the replication itself (not of the bench): the hosts never converged. */
export class ConvergenceTimeoutError extends Error {
  readonly code = 'ERR_BENCH_NOT_CONVERGED'
  constructor (message: string) {
    super(message)
    this.name = 'ConvergenceTimeoutError'
  }
}

/** What every converging host must hold. */
export interface Expectation {
  /** path → describe() of its bytes. */
  readonly files: ReadonlyMap<string, string>
  /** Sum of the sizes (the catalog's byte count must equal it). */
  readonly bytes: number
  /** The catalog must have moved past this revision. */
  readonly afterRevision?: number
  /** A concurrent edit: `path` holds one of `versions`, exactly one conflict copy the other. */
  readonly conflict?: { readonly path: string, readonly versions: readonly [string, string], readonly size: number }
}

/** The files the bench wrote, as they should be everywhere. */
class Dataset {
  private readonly data = new Map<string, Buffer>()
  private readonly hashes = new Map<string, string>()

  set (path: string, bytes: Buffer): void {
    this.data.set(path, bytes)
    this.hashes.delete(path)
  }

  get (path: string): Buffer {
    const b = this.data.get(path)
    if (b === undefined) throw new Error(`the bench wrote no ${path}`)
    return b
  }

  expectation (afterRevision?: number): Expectation {
    const files = new Map<string, string>()
    let bytes = 0
    for (const [path, b] of [...this.data].sort(([a], [b]) => a < b ? -1 : 1)) {
      let h = this.hashes.get(path)
      if (h === undefined) { h = describeBytes(b); this.hashes.set(path, h) }
      files.set(path, h)
      bytes += b.length
    }
    return { files, bytes, ...(afterRevision !== undefined ? { afterRevision } : {}) }
  }
}

interface Snapshot {
  readonly statuses: Map<string, ReplicaStatus>
  readonly tcp: TcpCounts | null
}

/** A group of hosts: its processes, the shaping they run with, the files they should hold. */
class Cluster {
  readonly data = new Dataset()
  shaped: boolean
  private ports = new Set<number>()
  private staged = 0

  private constructor (readonly hosts: ReplicaHosts, shaped: boolean, private readonly log: (line: string) => void, private readonly pollMs: number) {
    this.shaped = shaped
  }

  /** `n` hosts initialized (none started); the founder is C1. */
  static async create (n: number, o: { rescanMs: number, shaped: boolean, log: (line: string) => void }): Promise<Cluster> {
    const hosts = await ReplicaHosts.create({ hosts: n, rescanMs: o.rescanMs, startTimeoutMs: 60_000 })
    const c = new Cluster(hosts, o.shaped, o.log, o.shaped ? 200 : 50)
    for (const h of hosts.hosts) {
      for (const addr of (await readFolderConfig(h.folder)).listen) {
        const m = /\/tcp\/(\d+)/.exec(addr)
        if (m !== null) c.ports.add(Number(m[1]))
      }
    }
    return c
  }

  get names (): string[] { return this.hosts.names }
  get running (): string[] { return this.names.filter(n => this.hosts.running(n)) }

  startArgs (): string[] {
    return this.shaped ? ['--shape', `${PAPER_SHAPE.mbit},${PAPER_SHAPE.delayMs}`] : []
  }

  async start (names: readonly string[]): Promise<void> {
    await Promise.all(names.map(async n => { await this.hosts.start(n, this.startArgs()) }))
  }

  /**
   * C1 founds the group; `members` are invited (one at a time: each is a reconfiguration) and
   * then started together, as the process tests form a group. Every invitation is made while
   * only the founder runs, so it carries the founder's addresses only: whether the joiners then
   * find each other (and swarm) is up to the nodes, which is what the per-host upload shows.
   */
  async form (members: readonly string[]): Promise<void> {
    const [founder, ...joiners] = members
    if (founder === undefined) throw new Error('a group needs a founder')
    await this.hosts.found(founder, this.startArgs())
    for (const j of joiners) await this.hosts.invite(founder, j)
    await this.start(joiners)
    await this.settle(members)
  }

  /** Restarts every running host with the current shaping (its counters restart at 0). */
  async restartAll (): Promise<void> {
    const names = this.running
    for (const n of names) await this.hosts.stop(n)
    await this.start(names)
    await this.settle(names)
  }

  /** Files appear in `host`'s folder at once (written beside the folders, then renamed in). */
  async place (host: string, files: ReadonlyArray<readonly [string, Buffer]>): Promise<void> {
    const staging = join(this.hosts.dir, '.staging')
    await mkdir(staging, { recursive: true })
    const moves: Array<[string, string]> = []
    for (const [path, bytes] of files) {
      const tmp = join(staging, `${this.staged++}`)
      await writeFile(tmp, bytes)
      moves.push([tmp, this.hosts.pathOf(host, path)])
    }
    for (const [from, to] of moves) await rename(from, to)
    for (const [path, bytes] of files) this.data.set(path, bytes)
  }

  async append (host: string, path: string, bytes: Buffer): Promise<void> {
    await this.hosts.appendFile(host, path, bytes)
    this.data.set(path, Buffer.concat([this.data.get(path), bytes]))
  }

  /** Overwrites `bytes.length` bytes at `offset` in place (the file keeps its size). */
  async overwrite (host: string, path: string, offset: number, bytes: Buffer, track = true): Promise<void> {
    const f = await open(this.hosts.pathOf(host, path), 'r+')
    try {
      await f.write(bytes, 0, bytes.length, offset)
    } finally {
      await f.close()
    }
    if (track) {
      const next = Buffer.from(this.data.get(path))
      bytes.copy(next, offset)
      this.data.set(path, next)
    }
  }

  async snapshot (names: readonly string[]): Promise<Snapshot> {
    const [statuses, tcp] = await Promise.all([this.statuses(names), tcpCounts(this.ports)])
    return { statuses, tcp }
  }

  private async statuses (names: readonly string[]): Promise<Map<string, ReplicaStatus>> {
    const list = await Promise.all(names.map(async n => [n, await this.hosts.status(n)] as const))
    return new Map(list)
  }

  /** Waits (untimed) until `names` hold what the bench wrote. */
  async settle (names: readonly string[], timeoutMs = 120_000): Promise<void> {
    await this.waitFor(names, this.data.expectation(), performance.now(), timeoutMs)
  }

  /**
   * Runs `change` and times it to convergence of `names` on `expect()` (computed after the
   * change). `origin`: the host whose upload is reported apart.
   */
  async measure (names: readonly string[], origin: string | null, change: () => Promise<void>, expect: (revisionBefore: number) => Expectation, timeoutMs: number): Promise<Measurement> {
    const before = await this.snapshot(this.running)
    const revisionBefore = Math.max(...[...before.statuses.values()].map(s => s.catalog.revision))
    const t0 = performance.now()
    await change()
    const done = await this.waitFor(names, expect(revisionBefore), t0, timeoutMs)
    const after = await this.afterSnapshot(done.statuses)
    return { wallMs: done.idleAt - t0, landedMs: done.landedAt - t0, passMs: done.passMs, revision: done.revision, traffic: this.traffic(before, after, origin), ...(done.conflict !== undefined ? { conflict: done.conflict } : {}) }
  }

  /**
   * A resync with nothing changed: from now until every host of `names` has finished a pass that
   * started after now, is idle, and the catalog has not moved.
   */
  async measureNoChange (names: readonly string[], timeoutMs: number): Promise<Measurement> {
    for (;;) {
      const t0 = performance.now()
      const before = await this.snapshot(this.running)
      // A status that says idle was taken with no pass running, so any pass counted after it
      // started after t0. A pass running at t0 could finish without rescanning: take t0 again.
      if (names.some(n => before.statuses.get(n)?.sync.idle !== true)) { await sleep(20); continue }
      const revision = before.statuses.get(names[0] as string)?.catalog.revision ?? -1
      const deadline = t0 + timeoutMs
      for (;;) {
        const statuses = await this.statuses(names)
        const at = performance.now()
        const ok = names.every(n => {
          const s = statuses.get(n) as ReplicaStatus
          return s.sync.passes > (before.statuses.get(n) as ReplicaStatus).sync.passes && s.sync.idle && s.catalog.revision === revision && s.local.inStep === s.local.files
        })
        if (ok) {
          const after = await this.afterSnapshot(statuses)
          const passMs = Math.max(...[...statuses.values()].map(s => s.sync.lastPassMs))
          return { wallMs: at - t0, landedMs: at - t0, passMs, revision, traffic: this.traffic(before, after, null) }
        }
        if (at > deadline) throw new ConvergenceTimeoutError(`no-change resync: ${names.join(', ')} did not all complete an idle pass within ${timeoutMs} ms: ${why(statuses)}`)
        await sleep(this.pollMs)
      }
    }
  }

  private async afterSnapshot (statuses: Map<string, ReplicaStatus>): Promise<Snapshot> {
    const rest = this.running.filter(n => !statuses.has(n))
    const [more, tcp] = await Promise.all([this.statuses(rest), tcpCounts(this.ports)])
    return { statuses: new Map([...statuses, ...more]), tcp }
  }

  private traffic (before: Snapshot, after: Snapshot, origin: string | null): Traffic {
    const sentByHost: Record<string, number> = {}
    let exchangeBytes = 0
    let blocksFetched = 0
    for (const [n, s] of after.statuses) {
      // A host started during the change has no baseline: its counters started at zero.
      const b = before.statuses.get(n)
      const sent = s.exchange.bytesSent - (b?.exchange.bytesSent ?? 0)
      sentByHost[n] = sent
      exchangeBytes += sent
      blocksFetched += s.exchange.blocksFetched - (b?.exchange.blocksFetched ?? 0)
    }
    const tcp = before.tcp !== null && after.tcp !== null ? tcpDelta(before.tcp, after.tcp) : null
    return {
      exchangeBytes,
      originUploadBytes: origin === null ? null : sentByHost[origin] ?? 0,
      blocksFetched,
      sentByHost,
      tcpBytes: tcp?.bytes ?? null,
      otherBytes: tcp === null ? null : tcp.bytes - exchangeBytes,
      tcpConnectionsClosed: tcp?.closed ?? 0
    }
  }

  /**
   * Polls `names` until all are idle, in step and at one revision that satisfies `expect`, then
   * checks their files byte for byte; a check that fails sends it back to polling.
   */
  private async waitFor (names: readonly string[], expect: Expectation, t0: number, timeoutMs: number): Promise<{ landedAt: number, idleAt: number, passMs: number, revision: number, statuses: Map<string, ReplicaStatus>, conflict?: Measurement['conflict'] }> {
    const deadline = t0 + timeoutMs
    const extraFiles = expect.conflict !== undefined ? 1 : 0
    const extraBytes = expect.conflict?.size ?? 0
    let landedAt: number | undefined
    let last = ''
    for (;;) {
      let statuses: Map<string, ReplicaStatus> | undefined
      try {
        statuses = await this.statuses(names)
      } catch (error) {
        last = `status failed: ${(error as Error).message}`
      }
      const at = performance.now()
      if (statuses !== undefined) {
        const all = [...statuses.values()]
        const revision = all[0]?.catalog.revision ?? -1
        const landed = all.every(s => s.catalog.revision === revision && s.local.inStep === s.local.files &&
          s.catalog.files === expect.files.size + extraFiles && s.catalog.bytes === expect.bytes + extraBytes &&
          (expect.afterRevision === undefined || revision > expect.afterRevision))
        if (!landed) landedAt = undefined
        else landedAt ??= at
        if (landed && all.every(s => s.sync.idle)) {
          const check = await this.verify(names, expect)
          if (check.ok) {
            return { landedAt: landedAt ?? at, idleAt: at, passMs: Math.max(...all.map(s => s.sync.lastPassMs)), revision, statuses, ...(check.conflict !== undefined ? { conflict: check.conflict } : {}) }
          }
          landedAt = undefined
          last = check.why
        } else {
          last = why(statuses)
        }
      }
      if (at > deadline) throw new ConvergenceTimeoutError(`hosts ${names.join(', ')} did not converge within ${timeoutMs} ms: ${last}`)
      await sleep(this.pollMs)
    }
  }

  private async verify (names: readonly string[], expect: Expectation): Promise<{ ok: true, conflict?: Measurement['conflict'] } | { ok: false, why: string }> {
    let conflict: Measurement['conflict'] | undefined
    for (const n of names) {
      const actual: FileMap = await this.hosts.files(n)
      const c = expect.conflict
      if (c !== undefined) {
        const copies = Object.keys(actual).filter(p => isConflictPath(p))
        const copy = copies.length === 1 ? copies[0] as string : null
        const held = [actual[c.path], copy === null ? undefined : actual[copy]]
        const both = held.includes(c.versions[0]) && held.includes(c.versions[1])
        conflict = { copies: copies.length, bothVersionsSurvive: both, copyPath: copy }
        if (!both) return { ok: false, why: `${n}: ${copies.length} conflict copies, versions held: ${held.map(h => h?.slice(0, 20)).join(', ')}` }
        for (const p of [c.path, ...copies]) delete actual[p]
      }
      const wanted = Object.fromEntries([...expect.files].filter(([p]) => c === undefined || p !== c.path))
      const bad = [...new Set([...Object.keys(actual), ...Object.keys(wanted)])].filter(p => actual[p] !== wanted[p])
      if (bad.length > 0) return { ok: false, why: `${n}: files differ from what was written: ${bad.slice(0, 5).join(', ')}` }
    }
    return conflict === undefined ? { ok: true } : { ok: true, conflict }
  }

  async close (): Promise<void> {
    await this.hosts.close()
  }
}

function why (statuses: Map<string, ReplicaStatus>): string {
  return [...statuses].map(([n, s]) => `${n}: revision ${s.catalog.revision}, ${s.catalog.files} files, ${s.local.inStep}/${s.local.files} in step, ${s.sync.idle ? 'idle' : 'syncing'}` +
    `${s.sync.problems.length > 0 ? ` problems ${JSON.stringify(s.sync.problems.slice(0, 2))}` : ''}`).join('; ')
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

function random (bytes: number): Buffer {
  return randomBytes(bytes)
}

function sha (b: Buffer): string {
  return describeBytes(b)
}

// ---------------------------------------------------------------------------------------------
// Default mode: S1–S6

export interface Sizes {
  readonly hosts: number
  readonly s1Files: number
  readonly s1Bytes: number
  readonly s2Append: number
  readonly s4Files: number
  readonly s4Bytes: number
  readonly s5Bytes: number
  readonly s5Edit: number
}

export function sizes (quick: boolean): Sizes {
  return quick
    ? { hosts: 3, s1Files: 4, s1Bytes: 256 * KiB, s2Append: 16 * KiB, s4Files: 6, s4Bytes: 32 * KiB, s5Bytes: MiB, s5Edit: 4 * KiB }
    : { hosts: 6, s1Files: 10, s1Bytes: 10 * MiB, s2Append: MiB, s4Files: 20, s4Bytes: 500 * KiB, s5Bytes: 10 * MiB, s5Edit: 4 * KiB }
}

/** Which files host i (1-based, ≥ 2) appends to in S2 and the paper's case 2.2: two each, in turn. */
export function appendTargets (hostIndex: number, files: number): [number, number] {
  const first = (2 * (hostIndex - 2)) % files
  return [first + 1, (first + 1) % files + 1]
}

const fname = (prefix: string, i: number, count: number): string => `${prefix}${String(i).padStart(String(count).length, '0')}.bin`

export function judgeDefault (id: string, m: Measurement | null, s: Sizes, quick: boolean): Target[] {
  const t = (what: string, ok: (m: Measurement) => boolean): Target => ({ what, met: quick || m === null ? null : ok(m) })
  const s1Data = s.s1Files * s.s1Bytes
  const s2Must = (s.hosts - 1) * 2 * s.s2Append * (s.hosts - 1)
  switch (id) {
    case 'S1': return [t('faster than Syncthing (2.3 s)', m => m.wallMs < 2300), t('origin upload ≤ 2 × data set', m => (m.traffic.originUploadBytes ?? Infinity) <= 2 * s1Data)]
    case 'S2': return [t('faster than Syncthing (1.1 s)', m => m.wallMs < 1100), t(`wire ≤ 1.05 × ${fmtBytes(s2Must)}`, m => m.traffic.exchangeBytes <= 1.05 * s2Must)]
    case 'S3': return [t('≤ 0.1 s (rescan confirms no change)', m => m.passMs <= 100), t('no chunk traffic', m => m.traffic.blocksFetched === 0 && m.traffic.exchangeBytes === 0)]
    case 'S4': return [{ what: 'faster than Syncthing (no Syncthing figure given)', met: null }]
    case 'S5': return [t('wire ≤ 46 KiB (rsync)', m => m.traffic.exchangeBytes <= 46 * KiB)]
    case 'S6': return [t('both versions survive, one conflict copy', m => m.conflict?.bothVersionsSurvive === true && m.conflict.copies === 1)]
    default: return []
  }
}

async function runDefault (o: Options, log: (line: string) => void): Promise<ScenarioResult[]> {
  const s = sizes(o.quick)
  const results: ScenarioResult[] = []
  const timeout = o.quick ? 30_000 : 300_000
  const names = Array.from({ length: s.hosts }, (_, i) => `C${i + 1}`)
  const record = (id: string, title: string, hosts: readonly string[], dataBytes: number, mustDeliverBytes: number, m: Measurement | null, error: string | null): void => {
    results.push({ id, title, hosts, dataBytes, mustDeliverBytes, measured: m, error, targets: judgeDefault(id, m, s, o.quick) })
    log(m !== null ? `${id}: ${(m.wallMs / 1000).toFixed(2)} s (landed ${(m.landedMs / 1000).toFixed(2)} s), exchange ${fmtBytes(m.traffic.exchangeBytes)}, TCP ${m.traffic.tcpBytes === null ? '?' : fmtBytes(m.traffic.tcpBytes)}` : `${id}: FAILED ${error ?? ''}`)
  }
  const attempt = async (id: string, title: string, hosts: readonly string[], dataBytes: number, must: number, fn: () => Promise<Measurement>): Promise<boolean> => {
    log(`${id}: ${title}`)
    try {
      record(id, title, hosts, dataBytes, must, await fn(), null)
      return true
    } catch (error) {
      if (!(error instanceof ConvergenceTimeoutError)) throw error
      record(id, title, hosts, dataBytes, must, null, error.message)
      return false
    }
  }

  let a: Cluster | undefined = await Cluster.create(s.hosts, { rescanMs: o.rescanMs, shaped: false, log })
  let b: Cluster | undefined
  try {
    log(`forming a group of ${s.hosts} hosts`)
    await a.form(names)
    const A = a
    const s1 = Array.from({ length: s.s1Files }, (_, i) => [fname('F', i + 1, s.s1Files), random(s.s1Bytes)] as const)
    const s1Data = s.s1Files * s.s1Bytes
    let ok = await attempt('S1', `C1 has ${s.s1Files} files × ${fmtBytes(s.s1Bytes)} (random); replicate to ${s.hosts - 1} other hosts`, names, s1Data, s1Data * (s.hosts - 1),
      async () => await A.measure(names, 'C1', async () => { await A.place('C1', s1) }, r => A.data.expectation(r), timeout))
    if (ok) {
      const edits = names.slice(1).flatMap((h, i) => appendTargets(i + 2, s.s1Files).map(f => [h, fname('F', f, s.s1Files), random(s.s2Append)] as const))
      const must = edits.length * s.s2Append * (s.hosts - 1)
      ok = await attempt('S2', `append ${fmtBytes(s.s2Append)} to two different files on each of C2–C${s.hosts}; resync`, names, edits.length * s.s2Append, must,
        async () => await A.measure(names, null, async () => { await Promise.all(edits.map(async ([h, p, bytes]) => { await A.append(h, p, bytes) })) }, r => A.data.expectation(r), timeout))
    }
    if (ok) ok = await attempt('S3', 'no change; resync (every node rescans and confirms)', names, 0, 0, async () => await A.measureNoChange(names, timeout))
    if (ok) {
      const s4 = Array.from({ length: s.s4Files }, (_, i) => [fname('G', i + 1, s.s4Files), random(s.s4Bytes)] as const)
      const data = s.s4Files * s.s4Bytes
      await attempt('S4', `C1 has ${s.s4Files} files × ${fmtBytes(s.s4Bytes)}; replicate to ${s.hosts - 1} hosts`, names, data, data * (s.hosts - 1),
        async () => await A.measure(names, 'C1', async () => { await A.place('C1', s4) }, r => A.data.expectation(r), timeout))
    }
    // S5 and S6 run in a group of three: a fresh one unless the first group is already three.
    if (s.hosts === 3) {
      b = a
      a = undefined
    } else {
      await a.close()
      a = undefined
      b = await Cluster.create(3, { rescanMs: o.rescanMs, shaped: false, log })
      log('forming a group of 3 hosts for S5 and S6')
      await b.form(['C1', 'C2', 'C3'])
    }
    const B = b
    const three = ['C1', 'C2', 'C3']
    const path = 'edit-me.bin'
    await B.place('C1', [[path, random(s.s5Bytes)]])
    await B.settle(three, timeout)
    const middle = Math.floor(s.s5Bytes / 2) - s.s5Edit / 2
    ok = await attempt('S5', `overwrite ${fmtBytes(s.s5Edit)} in the middle of a ${fmtBytes(s.s5Bytes)} file on C1; resync 2 hosts`, three, s.s5Edit, 2 * s.s5Edit,
      async () => await B.measure(three, 'C1', async () => { await B.overwrite('C1', path, middle, random(s.s5Edit)) }, r => B.data.expectation(r), timeout))
    if (ok) {
      // The same file edited on C2 and C3 at once, each before it saw the other's edit.
      const base = B.data.get(path)
      const e2 = random(s.s5Edit)
      const e3 = random(s.s5Edit)
      const at2 = Math.floor(s.s5Bytes / 8)
      const at3 = Math.floor(s.s5Bytes * 7 / 8)
      const v2 = Buffer.from(base); e2.copy(v2, at2)
      const v3 = Buffer.from(base); e3.copy(v3, at3)
      await attempt('S6', 'the same file edited on C2 and C3 before either saw the other\'s edit', three, 2 * s.s5Edit, 4 * s.s5Edit,
        async () => await B.measure(three, null, async () => {
          await Promise.all([B.overwrite('C2', path, at2, e2, false), B.overwrite('C3', path, at3, e3, false)])
        }, r => {
          const e = B.data.expectation(r)
          return { ...e, conflict: { path, versions: [sha(v2), sha(v3)], size: s.s5Bytes } }
        }, timeout))
    }
  } finally {
    await a?.close()
    await b?.close()
  }
  return results
}

// ---------------------------------------------------------------------------------------------
// --paper: the original experiments

interface PaperContext {
  readonly c: Cluster
  readonly scale: number
  /** A scaled size. */
  readonly sz: (bytes: number) => number
}

export interface PaperCase {
  readonly id: string
  readonly scenario: 1 | 2 | 3
  readonly title: string
  readonly paper: { readonly seconds: number, readonly trafficMiB: number }
  /** The hosts that must converge at the end of the case. */
  readonly hosts: readonly string[]
  readonly origin: string | null
  /** Bytes each host must receive, and bytes only one host holds, for the limit (scaled). */
  readonly need: (sz: (b: number) => number) => Record<string, number>
  readonly unique: (sz: (b: number) => number) => Record<string, number>
  /** Untimed preparation (invitations). */
  readonly prepare?: (x: PaperContext) => Promise<void>
  /** The timed change; absent: nothing changes (a resync that must move nothing). */
  readonly change?: (x: PaperContext) => Promise<void>
}

const F = 10 * MiB
const C14 = ['C1', 'C2', 'C3', 'C4']
const C16 = ['C1', 'C2', 'C3', 'C4', 'C5', 'C6']
const others = (all: readonly string[], except: string, bytes: number): Record<string, number> => Object.fromEntries(all.filter(h => h !== except).map(h => [h, bytes]))
const file = (x: PaperContext, name: string): readonly [string, Buffer] => [name, random(x.sz(F))]

export const PAPER_CASES: readonly PaperCase[] = [
  {
    id: '1.1', scenario: 1, title: 'two hosts only: F1 (10 MiB) from C1 to C2', paper: { seconds: 56, trafficMiB: 10 }, hosts: ['C1', 'C2'], origin: 'C1',
    need: sz => ({ C2: sz(F) }), unique: sz => ({ C1: sz(F) }),
    change: async x => { await x.c.place('C1', [file(x, 'F1.bin')]) }
  },
  {
    id: '1.2', scenario: 1, title: 'C3 and C4 join; F2 added on C1: F2 to C2, F1 and F2 to C3 and C4', paper: { seconds: 4 * 60 + 17, trafficMiB: 50 }, hosts: C14, origin: null,
    need: sz => ({ C2: sz(F), C3: 2 * sz(F), C4: 2 * sz(F) }), unique: sz => ({ C1: sz(F) }),
    prepare: async x => { for (const h of ['C3', 'C4']) await x.c.hosts.invite('C1', h) },
    change: async x => { await Promise.all([x.c.place('C1', [file(x, 'F2.bin')]), x.c.start(['C3', 'C4'])]) }
  },
  {
    id: '1.3', scenario: 1, title: 'F3 added on C1 and F4 on C3: F3 C1→C3, F4 C3→C1, both to C2 and C4', paper: { seconds: 4 * 60 + 32, trafficMiB: 60 }, hosts: C14, origin: null,
    need: sz => ({ C1: sz(F), C2: 2 * sz(F), C3: sz(F), C4: 2 * sz(F) }), unique: sz => ({ C1: sz(F), C3: sz(F) }),
    change: async x => { await Promise.all([x.c.place('C1', [file(x, 'F3.bin')]), x.c.place('C3', [file(x, 'F4.bin')])]) }
  },
  {
    id: '1.4', scenario: 1, title: 'every host has F1–F4; nothing to move', paper: { seconds: 25, trafficMiB: 0 }, hosts: C14, origin: null,
    need: () => ({}), unique: () => ({})
  },
  {
    id: '1.5', scenario: 1, title: '5 MiB appended to F1 on C1 and to F4 on C4; only the differences move', paper: { seconds: 60 + 45, trafficMiB: 20 }, hosts: C14, origin: null,
    need: sz => ({ C1: sz(5 * MiB), C2: 2 * sz(5 * MiB), C3: 2 * sz(5 * MiB), C4: sz(5 * MiB) }), unique: sz => ({ C1: sz(5 * MiB), C4: sz(5 * MiB) }),
    change: async x => { await Promise.all([x.c.append('C1', 'F1.bin', random(x.sz(5 * MiB))), x.c.append('C4', 'F4.bin', random(x.sz(5 * MiB)))]) }
  },
  {
    id: '2.1', scenario: 2, title: 'F1–F10 (10 MiB each) only on C1; replicate to the 5 other hosts', paper: { seconds: 32 * 60 + 47, trafficMiB: 500 }, hosts: C16, origin: 'C1',
    need: sz => others(C16, 'C1', 10 * sz(F)), unique: sz => ({ C1: 10 * sz(F) }),
    change: async x => { await x.c.place('C1', Array.from({ length: 10 }, (_, i) => file(x, fname('F', i + 1, 10)))) }
  },
  {
    id: '2.2', scenario: 2, title: '1 MiB appended to each file: C2 to F1, F2; C3 to F3, F4; … C6 to F9, F10', paper: { seconds: 3 * 60 + 12, trafficMiB: 20 }, hosts: C16, origin: null,
    need: sz => ({ C1: 10 * sz(MiB), ...others(C16, 'C1', 8 * sz(MiB)) }), unique: sz => others(C16, 'C1', 2 * sz(MiB)),
    change: async x => {
      await Promise.all(C16.slice(1).flatMap((h, i) => appendTargets(i + 2, 10).map(async f => { await x.c.append(h, fname('F', f, 10), random(x.sz(MiB))) })))
    }
  },
  {
    id: '2.3', scenario: 2, title: 'nothing changed; resync', paper: { seconds: 60 + 33, trafficMiB: 0 }, hosts: C16, origin: null,
    need: () => ({}), unique: () => ({})
  },
  {
    id: '3.1', scenario: 3, title: 'C1 has 20 files of 500 KiB; replicate the 10 MiB to the 5 other hosts', paper: { seconds: 3 * 60 + 59, trafficMiB: 50 }, hosts: C16, origin: 'C1',
    need: sz => others(C16, 'C1', 20 * sz(500 * KiB)), unique: sz => ({ C1: 20 * sz(500 * KiB) }),
    change: async x => { await x.c.place('C1', Array.from({ length: 20 }, (_, i) => [fname('G', i + 1, 20), random(x.sz(500 * KiB))] as const)) }
  }
]

/** The hosts of each scenario, and those running before its first case. */
const SCENARIO_HOSTS: Readonly<Record<1 | 2 | 3, { readonly all: number, readonly initial: readonly string[] }>> = {
  1: { all: 4, initial: ['C1', 'C2'] },
  2: { all: 6, initial: C16 },
  3: { all: 6, initial: C16 }
}

export const PAPER_TARGET = 1.2

async function runPaper (o: Options, log: (line: string) => void): Promise<PaperCaseResult[]> {
  const bitsPerSecond = PAPER_SHAPE.mbit * 1e6
  const sz = (bytes: number): number => Math.max(1, Math.round(bytes * o.scale))
  const results: PaperCaseResult[] = []
  const only = o.only === undefined ? undefined : PAPER_CASES.find(c => c.id === o.only)
  for (const scenario of [1, 2, 3] as const) {
    if (only !== undefined && only.scenario !== scenario) continue
    const cases = PAPER_CASES.filter(c => c.scenario === scenario)
    const spec = SCENARIO_HOSTS[scenario]
    // With --only, the earlier cases are set-up: they run unshaped, then the nodes restart shaped.
    const c = await Cluster.create(spec.all, { rescanMs: o.rescanMs, shaped: only === undefined, log })
    try {
      log(`scenario ${scenario}: forming a group of ${spec.initial.join(', ')}${c.shaped ? ` at ${PAPER_SHAPE.mbit} Mbit/s, ${PAPER_SHAPE.delayMs} ms` : ' (unshaped, set-up)'}`)
      await c.form(spec.initial)
      const x: PaperContext = { c, scale: o.scale, sz }
      for (const k of cases) {
        if (only !== undefined && k !== only && cases.indexOf(k) > cases.indexOf(only)) break
        const setup = only !== undefined && k !== only
        if (only !== undefined && k === only && !c.shaped) {
          log(`restarting ${c.running.join(', ')} with --shape ${PAPER_SHAPE.mbit},${PAPER_SHAPE.delayMs}`)
          c.shaped = true
          await c.restartAll()
        }
        const limit = paperLimit(k.need(sz), k.unique(sz), bitsPerSecond)
        const mustDeliver = Object.values(k.need(sz)).reduce((s, v) => s + v, 0)
        await k.prepare?.(x)
        log(`${setup ? 'set-up ' : ''}case ${k.id}: ${k.title} (limit ${limit.seconds.toFixed(1)} s)`)
        // A case that misses its limit by far is still worth its figure; past 6× it is a failure.
        const timeoutMs = Math.max(120_000, limit.seconds * 6_000 + 60_000)
        let measured: Measurement | null = null
        let error: string | null = null
        try {
          measured = k.change === undefined
            ? await c.measureNoChange(k.hosts, timeoutMs)
            : await c.measure(k.hosts, k.origin, async () => { await k.change?.(x) }, r => c.data.expectation(r), timeoutMs)
        } catch (e) {
          if (!(e instanceof ConvergenceTimeoutError)) throw e
          error = e.message
        }
        if (setup) {
          log(`set-up case ${k.id} done${measured !== null ? ` in ${(measured.wallMs / 1000).toFixed(1)} s (unshaped, not reported)` : `: FAILED ${error ?? ''}`}`)
          if (measured === null) throw new ConvergenceTimeoutError(`set-up case ${k.id} failed: ${error ?? ''}`)
          continue
        }
        const overLimit = measured !== null && limit.seconds > 0 ? measured.wallMs / 1000 / limit.seconds : null
        results.push({ id: k.id, title: k.title, hosts: k.hosts, paper: k.paper, limit, mustDeliverBytes: mustDeliver, measured, error, overLimit, targetMet: overLimit === null ? null : overLimit <= PAPER_TARGET })
        log(measured !== null
          ? `case ${k.id}: ${(measured.wallMs / 1000).toFixed(1)} s (paper ${k.paper.seconds} s, limit ${limit.seconds.toFixed(1)} s${overLimit !== null ? `, ${overLimit.toFixed(2)}× the limit` : ''}), exchange ${fmtBytes(measured.traffic.exchangeBytes)}`
          : `case ${k.id}: FAILED ${error ?? ''}`)
        if (measured === null) break
      }
    } finally {
      await c.close()
    }
  }
  return results
}

// ---------------------------------------------------------------------------------------------
// Output

export async function run (o: Options, log: (line: string) => void): Promise<SyncBenchResult> {
  const scenarios = o.mode === 'default' ? await runDefault(o, log) : []
  const paperCases = o.mode === 'paper' ? await runPaper(o, log) : []
  return {
    bench: 'sync',
    ...machineInfo(),
    mode: o.mode,
    params: {
      quick: o.quick,
      rescanMs: o.rescanMs,
      scale: o.scale,
      only: o.only ?? null,
      shape: o.mode === 'paper' ? `${PAPER_SHAPE.mbit} Mbit/s each way per host + ${PAPER_SHAPE.delayMs} ms one-way, block exchange only (the catalog's Paxos traffic is not shaped)` : null,
      transport: 'vpeer start child processes (tsx), libp2p tcp + noise + yamux on 127.0.0.1, one folder each under the OS temp dir'
    },
    scenarios,
    paperCases
  }
}

export function fmtBytes (n: number): string {
  const a = Math.abs(n)
  if (a >= MiB) return `${(n / MiB).toFixed(a >= 100 * MiB ? 0 : 1)} MiB`
  if (a >= KiB) return `${(n / KiB).toFixed(a >= 100 * KiB ? 0 : 1)} KiB`
  return `${n} B`
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
const met = (m: boolean | null): string => m === null ? '–' : m ? 'met' : 'MISSED'

export function formatDefaultTable (r: SyncBenchResult): string {
  const lines = [
    `vpeer bench:sync — ${r.scenarios[0]?.hosts.length ?? 0}-host group (S5/S6: 3 hosts), unshaped, 127.0.0.1; rescan ${r.params.rescanMs} ms; ${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.date.slice(0, 10)}${r.params.quick ? ' — QUICK RUN, not a measurement' : ''}`,
    'time = change → all hosts idle, in step, same revision, files verified (landed = same without idle); wire = block exchange bytes sent, all hosts; TCP = all bytes between the hosts (TCP − wire = catalog/Paxos + libp2p)',
    '',
    '| scenario | time (landed) | wire (origin upload) | must deliver | TCP (catalog+libp2p) | blocks | Syncthing 1.19 | rsync 3.5 | Unison 2.52 | targets |',
    '|---|---|---|---|---|---|---|---|---|---|'
  ]
  const ref = (x: { s: number | null, wire: number | null } | undefined): string => {
    if (x === undefined) return '–'
    const parts = [x.s === null ? null : `${x.s} s`, x.wire === null ? null : fmtBytes(x.wire)].filter(p => p !== null)
    return parts.length === 0 ? '–' : parts.join(', ')
  }
  for (const s of r.scenarios) {
    const m = s.measured
    const refs = REFERENCE[s.id]
    const targets = s.targets.map(t => `${t.what}: ${met(t.met)}`).join('; ')
    if (m === null) {
      lines.push(`| ${s.id} | FAILED: ${(s.error ?? '').slice(0, 200)} | | | | | ${ref(refs?.syncthing)} | ${ref(refs?.rsync)} | ${ref(refs?.unison)} | ${targets} |`)
      continue
    }
    const time = s.id === 'S3' ? `${secs(m.wallMs)} (rescan pass ${m.passMs.toFixed(0)} ms)` : `${secs(m.wallMs)} (${secs(m.landedMs)})`
    const wire = `${fmtBytes(m.traffic.exchangeBytes)}${m.traffic.originUploadBytes !== null ? ` (${fmtBytes(m.traffic.originUploadBytes)})` : ''}`
    const tcp = m.traffic.tcpBytes === null ? 'not counted' : `${fmtBytes(m.traffic.tcpBytes)} (${fmtBytes(m.traffic.otherBytes ?? 0)})${m.traffic.tcpConnectionsClosed > 0 ? ` [${m.traffic.tcpConnectionsClosed} conn. closed]` : ''}`
    const extra = m.conflict !== undefined ? `; ${m.conflict.copies} conflict cop${m.conflict.copies === 1 ? 'y' : 'ies'}, both versions ${m.conflict.bothVersionsSurvive ? 'survive' : 'DO NOT survive'}` : ''
    lines.push(`| ${s.id} ${s.title} | ${time} | ${wire} | ${fmtBytes(s.mustDeliverBytes)} | ${tcp} | ${m.traffic.blocksFetched} | ${ref(refs?.syncthing)} | ${ref(refs?.rsync)} | ${ref(refs?.unison)} | ${targets}${extra} |`)
  }
  return lines.join('\n')
}

export function formatPaperTable (r: SyncBenchResult): string {
  const lines = [
    `vpeer bench:sync --paper — every node at ${r.params.shape ?? ''}; SCALE ${r.params.scale}${r.params.scale !== 1 ? ' (file and append sizes × scale; limits scaled, the paper\'s times are for scale 1)' : ''}${r.params.only !== null ? `; only case ${r.params.only}` : ''}; rescan ${r.params.rescanMs} ms; ${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.date.slice(0, 10)}`,
    `limit = max(most bytes any one host must receive, bytes only one host holds) × 8 / ${PAPER_SHAPE.mbit} Mbit/s; target ours ÷ limit ≤ ${PAPER_TARGET}`,
    '',
    '| case | what | ours | paper | limit | ours ÷ limit | target | wire (exchange) | must deliver | paper traffic | TCP |',
    '|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const k of r.paperCases) {
    const m = k.measured
    const limit = k.limit.bound === 'none' ? '0 (nothing to move)' : `${k.limit.seconds.toFixed(1)} s (${k.limit.bound} ${k.limit.host ?? ''} ${fmtBytes(k.limit.bytes)})`
    if (m === null) {
      lines.push(`| ${k.id} | ${k.title} | FAILED: ${(k.error ?? '').slice(0, 200)} | ${k.paper.seconds} s | ${limit} | | | | ${fmtBytes(k.mustDeliverBytes)} | ${k.paper.trafficMiB} MiB | |`)
      continue
    }
    const ours = k.limit.bound === 'none' ? `${secs(m.wallMs)} (pass ${m.passMs.toFixed(0)} ms)` : secs(m.wallMs)
    lines.push(`| ${k.id} | ${k.title} | ${ours} | ${k.paper.seconds} s | ${limit} | ${k.overLimit === null ? '–' : k.overLimit.toFixed(2)} | ${met(k.targetMet)} | ${fmtBytes(m.traffic.exchangeBytes)} | ${fmtBytes(k.mustDeliverBytes)} | ${k.paper.trafficMiB} MiB | ${m.traffic.tcpBytes === null ? 'not counted' : fmtBytes(m.traffic.tcpBytes)} |`)
  }
  return lines.join('\n')
}

export function formatTable (r: SyncBenchResult): string {
  return r.mode === 'paper' ? formatPaperTable(r) : formatDefaultTable(r)
}

export async function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  return await benchCli(argv, out, err, {
    usage: USAGE,
    parse: parseOptions,
    run,
    format: (r, o) => {
      const json = JSON.stringify(r, null, 2)
      if (o.out === undefined) {
        err(formatTable(r) + '\n')
        return json
      }
      // format is synchronous: the file is written before the table is printed.
      writeFileSync(o.out, json + '\n')
      return formatTable(r)
    }
  })
}

runIfMain(import.meta.url, 'bench:sync', cli)
