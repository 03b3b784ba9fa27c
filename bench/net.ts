/**
 * The network runtime end to end: three `vpeer node` processes on 127.0.0.1 (libp2p tcp + noise
 * + yamux, LevelDB with fsync on every persist, the KV state machine) and a load generator in a
 * process of its own (bench/net-client.ts), against the etcd 3.4 figures of the same machine.
 *
 *   npm run bench:net                            JSON on stdout, progress on stderr
 *   npm run bench:net -- --markdown              a README table on stdout instead
 *   npm run bench:net -- --quick                 short phases (the smoke test)
 *   npm run bench:net -- --phases writes,failover
 *   npm run bench:net -- --cpu-prof DIR          also a V8 CPU profile of every member (written on SIGTERM at the end)
 *
 * Phases (`--phases`, default all):
 *   - writes: closed-loop writes of `valueBytes` at 1, 16 and 64 in flight: writes/s, latency
 *     p50/p99, and CPU seconds per 1,000 writes of the client process and of the members
 *     (utime + stime from /proc/<pid>/stat before and after the timed part; wall time is noisy
 *     on a shared machine, CPU time much less);
 *   - reads: linearizable reads (read-index at the leader) at 16 in flight, over keys written
 *     before;
 *   - failover: writes start every 5 ms whatever the answers; the leader is kill -9'd; the time
 *     from the kill to the completion of the first write that started after it and succeeded.
 *     Between trials the killed member is restarted and waited for until it has applied what
 *     the leader had. Default configuration (10 ms tick, election 15–30 ticks);
 *   - snapshot: a second cluster with one spare and snapshots every 32 slots keeping no log
 *     below them: about `--snapshot-mb` MB of state in large keys, a snapshot taken, the spare
 *     started and a follower killed for good; the leader's replacement policy adds the spare as a
 *     learner after replaceAfterTicks (3 s) and it receives the snapshot over libp2p. Its
 *     `snapshot received` log line gives the bytes and the wall time from the accepted offer to
 *     the install done (chunks over /vpeer/snapshot/1.0.0, verification, durable write, restore).
 *
 * The KV store's values are numbers, so "value bytes" are carried in the key (net-client.ts).
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
import { ProcessCluster } from '../simulations/process-cluster.js'
import type { LoadResult, ProbeRecord } from './net-client.js'
import { UsageError, benchCli, parseFlags, runIfMain } from './cli-errors.js'
import { machineInfo } from './machine.js'
import type { MachineInfo } from './machine.js'

const CLIENT = fileURLToPath(new URL('./net-client.ts', import.meta.url))

export const PHASES = ['writes', 'reads', 'failover', 'snapshot'] as const
export type Phase = typeof PHASES[number]

/** etcd 3.4 on this machine (the lead's measurement), and the targets set against it. */
export const ETCD = { writesPerSec64: 4100, p50Ms1: 0.94, readsPerSec16: 3700, failoverMs: 1300, failoverTunedMs: 300 } as const
export const TARGETS = { writesPerSec64: 8000, p50Ms1: 1, readsPerSec16: 7500, failoverMs: 300 } as const

export const USAGE = `usage: npm run bench:net -- [--json | --markdown] [--quick] [--phases writes,reads,failover,snapshot]
       [--value-bytes N] [--trials N] [--snapshot-mb N] [--cpu-prof DIR]

Three vpeer member processes on 127.0.0.1 (libp2p, LevelDB with fsync) and a load generator
process: write throughput and latency at 1/16/64 in flight, linearizable reads at 16, failover
after kill -9 of the leader, snapshot transfer MB/s to a replacing spare, CPU seconds per 1,000
writes (client and members), against etcd 3.4 on this machine.
  --json            the full result as JSON on stdout (default)
  --markdown        a README table on stdout instead
  --quick           short phases (smoke test; figures are not measurements)
  --phases LIST     which phases to run (default all)
  --value-bytes N   bytes per write (default 128)
  --trials N        failover trials (default 5; quick 1)
  --snapshot-mb N   state to transfer in the snapshot phase, MB (default 16; quick 1)
  --cpu-prof DIR    write a V8 CPU profile of every member to DIR (vpeer node --cpu-prof)
  --help            this text
Progress goes to stderr. Exit codes: 0 done, 1 the bench failed, 2 bad options.`

export interface Options {
  readonly format: 'json' | 'markdown'
  readonly quick: boolean
  readonly phases: readonly Phase[]
  readonly valueBytes: number
  readonly trials: number
  readonly snapshotMB: number
  readonly cpuProf: string | undefined
}

export function parseOptions (argv: readonly string[]): Options {
  const values = parseFlags(argv, {
    json: { type: 'boolean' },
    markdown: { type: 'boolean' },
    quick: { type: 'boolean' },
    phases: { type: 'string' },
    'value-bytes': { type: 'string' },
    trials: { type: 'string' },
    'snapshot-mb': { type: 'string' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, USAGE)
  if (values.json === true && values.markdown === true) throw new UsageError('--json and --markdown exclude each other')
  const quick = values.quick === true
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw === undefined) return fallback
    const v = Number(raw)
    if (!Number.isFinite(v) || v < min || v > max) throw new UsageError(`--${name}: expected a number in ${min}..${max}, got ${raw}`)
    return v
  }
  const phases = (values.phases ?? PHASES.join(',')).split(',').map(x => x.trim()).filter(x => x !== '')
  for (const p of phases) if (!(PHASES as readonly string[]).includes(p)) throw new UsageError(`--phases: unknown phase ${p} (expected ${PHASES.join(',')})`)
  if (phases.length === 0) throw new UsageError('--phases: none given')
  const trials = num('trials', values.trials, quick ? 1 : 5, 1, 1000)
  const valueBytes = num('value-bytes', values['value-bytes'], 128, 8, 512 * 1024)
  if (!Number.isSafeInteger(trials) || !Number.isSafeInteger(valueBytes)) throw new UsageError('--trials and --value-bytes take integers')
  return {
    format: values.markdown === true ? 'markdown' : 'json',
    quick,
    phases: PHASES.filter(p => phases.includes(p)),
    valueBytes,
    trials,
    snapshotMB: num('snapshot-mb', values['snapshot-mb'], quick ? 1 : 16, 0.1, 512),
    cpuProf: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof'])
  }
}

// ---------------------------------------------------------------------------------------------
// Results

export interface CpuPer1000 {
  /** The load generator process. */
  readonly client: number
  /** All members together (the leader does most of it). */
  readonly members: number
  /** Each member, leader first. */
  readonly perMember: readonly number[]
}

export interface LoadRow {
  readonly inflight: number
  readonly ops: number
  readonly seconds: number
  readonly opsPerSec: number
  readonly latencyMs: LoadResult['latencyMs']
  readonly errors: number
  readonly cpuSecondsPer1000: CpuPer1000
}

export interface FailoverTrial {
  readonly ms: number
  /** The write that measured it: when it started and ended, ms after the kill. */
  readonly writeStartedMs: number
  readonly killed: string
  readonly newLeader: string | undefined
  /**
   * Ms from the kill to the new leader's 'leadership changed' log line (its role became leader;
   * pino's ms clock): the election's share of `ms`, the rest is the client finding the leader
   * and the write itself.
   */
  readonly electedMs: number | null
  /** Wall ms until the restarted member had applied what the leader had. */
  readonly catchUpMs: number
}

export interface SnapshotRow {
  readonly bytes: number
  readonly chunks: number
  /** Offer accepted → install done, at the receiving spare. */
  readonly ms: number
  readonly mbPerSec: number
  /** Slot of the snapshot. */
  readonly index: number
  /** Wall ms from killing the follower to the spare's install done (replaceAfterTicks included). */
  readonly killToInstalledMs: number
}

export interface NetBenchResult extends MachineInfo {
  readonly bench: 'net'
  readonly params: {
    readonly quick: boolean
    readonly phases: readonly Phase[]
    readonly members: 3
    readonly storage: 'LevelDB, fsync on every persist'
    readonly transport: 'libp2p tcp + noise + yamux on 127.0.0.1'
    readonly valueBytes: number
    readonly tickMs: 10
    readonly clockTicksPerSec: number
    readonly failoverProbeMs: number
    readonly snapshotMB: number
  }
  readonly writes: readonly LoadRow[]
  readonly reads: readonly LoadRow[]
  readonly failover: { readonly trials: readonly FailoverTrial[], readonly ms: Stats, readonly electedMs: Stats } | null
  readonly snapshot: SnapshotRow | null
  readonly etcd: typeof ETCD
  readonly targets: typeof TARGETS
  readonly targetsMet: { readonly writesPerSec64?: boolean, readonly p50Ms1?: boolean, readonly readsPerSec16?: boolean, readonly failoverMs?: boolean }
}

// ---------------------------------------------------------------------------------------------
// Plumbing

/** The load generator process and its JSON-lines RPC. */
class LoadClient {
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private stderr = ''
  private exited: string | undefined

  private constructor (private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (t: string) => { this.stderr = (this.stderr + t).slice(-4000) })
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', line => {
      let msg: { id: number, ok: boolean, result?: unknown, error?: string, code?: string }
      try { msg = JSON.parse(line) } catch { this.stderr += `[stdout] ${line}\n`; return }
      const w = this.waiting.get(msg.id)
      if (w === undefined) return
      this.waiting.delete(msg.id)
      if (msg.ok) w.resolve(msg.result)
      else w.reject(Object.assign(new Error(`net-client: ${msg.error ?? 'failed'}`), { code: msg.code }))
    })
    child.once('exit', (code, signal) => {
      this.exited = `net-client exited (${code ?? signal}): ${this.stderr}`
      for (const w of this.waiting.values()) w.reject(new Error(this.exited))
      this.waiting.clear()
    })
  }

  static start (cluster: ProcessCluster): LoadClient {
    const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, '--cluster', cluster.init.clusterFile, '--identity', cluster.init.adminKey], { stdio: ['pipe', 'pipe', 'pipe'] })
    return new LoadClient(child)
  }

  get pid (): number | undefined { return this.child.pid }

  async call<T> (op: string, args: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<T> {
    if (this.exited !== undefined) throw new Error(this.exited)
    const id = ++this.nextId
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`net-client: ${op} took more than ${timeoutMs} ms`)) }, timeoutMs)
      this.waiting.set(id, { resolve: v => { clearTimeout(timer); resolve(v as T) }, reject: e => { clearTimeout(timer); reject(e) } })
      this.child.stdin?.write(JSON.stringify({ id, op, ...args }) + '\n')
    })
  }

  async close (): Promise<void> {
    if (this.exited !== undefined) return
    const exited = new Promise<void>(resolve => { this.child.once('exit', () => { resolve() }) })
    await this.call('close', {}, 10_000).catch(() => {})
    const timer = setTimeout(() => { if (this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL') }, 5000)
    await exited
    clearTimeout(timer)
  }
}

interface View { readonly leader?: string, readonly applied: number }

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
function clockTicksPerSec (): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number(r.stdout?.trim())
  return Number.isSafeInteger(n) && n > 0 ? n : 100
}

/** utime + stime of `pid` in clock ticks (all its threads: libuv's pool does LevelDB's fsyncs). */
export function cpuTicksOf (pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const epochMs = (): number => performance.timeOrigin + performance.now()
const r1 = (x: number): number => Math.round(x * 10) / 10
const r3 = (x: number): number => Math.round(x * 1000) / 1000

class Bench {
  readonly ticksPerSec = clockTicksPerSec()
  constructor (readonly o: Options, readonly log: (line: string) => void) {}

  /** Member PIDs, the current leader's first. */
  pids (cluster: ProcessCluster, leader: string | undefined): number[] {
    const running = cluster.nodes.filter(n => n.child?.pid !== undefined)
    running.sort((a, b) => Number(b.id === leader) - Number(a.id === leader))
    return running.map(n => n.child?.pid as number)
  }

  /** Runs one timed load request, bracketing it with the members' CPU counters. */
  async timed (cluster: ProcessCluster, client: LoadClient, op: 'writes' | 'reads', args: Record<string, unknown>): Promise<LoadRow> {
    const view = await client.call<View>('leader')
    const pids = this.pids(cluster, view.leader)
    const before = pids.map(cpuTicksOf)
    const r = await client.call<LoadResult>(op, args)
    const after = pids.map(cpuTicksOf)
    const per1000 = (cpuSeconds: number): number => r.ops === 0 ? 0 : r3(cpuSeconds / r.ops * 1000)
    const perMember = pids.map((_, i) => per1000(((after[i] as number) - (before[i] as number)) / this.ticksPerSec))
    if (r.errors > 0) this.log(`  ${r.errors} ${op} failed (first: ${r.firstError ?? '?'})`)
    return {
      inflight: r.inflight,
      ops: r.ops,
      seconds: r.seconds,
      opsPerSec: r.opsPerSec,
      latencyMs: r.latencyMs,
      errors: r.errors,
      cpuSecondsPer1000: { client: per1000(r.cpuSeconds), members: r3(perMember.reduce((a, x) => a + x, 0)), perMember }
    }
  }

  async writes (cluster: ProcessCluster, client: LoadClient): Promise<LoadRow[]> {
    const rows: LoadRow[] = []
    for (const inflight of [1, 16, 64]) {
      const count = this.o.quick ? 20 * Math.max(1, inflight / 4) : inflight === 1 ? 400 : inflight === 16 ? 4000 : 8000
      const prefix = `w${inflight}/`
      await client.call('writes', { prefix, valueBytes: this.o.valueBytes, inflight, count: this.o.quick ? inflight : Math.min(count / 4, 500) })
      const row = await this.timed(cluster, client, 'writes', { prefix: `${prefix}t/`, valueBytes: this.o.valueBytes, inflight, count })
      this.log(`writes at ${inflight} in flight: ${row.opsPerSec} writes/s, p50 ${row.latencyMs.p50} ms, p99 ${row.latencyMs.p99} ms; ` +
        `CPU s per 1,000: client ${row.cpuSecondsPer1000.client}, members ${row.cpuSecondsPer1000.members} (${row.cpuSecondsPer1000.perMember.join(' / ')})`)
      rows.push(row)
    }
    return rows
  }

  async reads (cluster: ProcessCluster, client: LoadClient): Promise<LoadRow[]> {
    const keys = this.o.quick ? 32 : 1000
    const prefix = 'r/'
    await client.call('writes', { prefix, valueBytes: this.o.valueBytes, inflight: 16, count: keys })
    const count = this.o.quick ? 200 : 8000
    await client.call('reads', { prefix, valueBytes: this.o.valueBytes, keys, inflight: 16, count: Math.min(count / 4, 1000) })
    const row = await this.timed(cluster, client, 'reads', { prefix, valueBytes: this.o.valueBytes, keys, inflight: 16, count })
    this.log(`linearizable reads at 16 in flight: ${row.opsPerSec} reads/s, p50 ${row.latencyMs.p50} ms, p99 ${row.latencyMs.p99} ms; ` +
      `CPU s per 1,000: client ${row.cpuSecondsPer1000.client}, members ${row.cpuSecondsPer1000.members}`)
    return [row]
  }

  async failover (cluster: ProcessCluster, client: LoadClient): Promise<FailoverTrial[]> {
    const trials: FailoverTrial[] = []
    for (let t = 0; t < this.o.trials; t++) {
      const view = await client.call<View>('leader')
      const victim = cluster.node(view.leader as string)
      await client.call('probe-start', { prefix: `fo${t}/`, valueBytes: this.o.valueBytes, intervalMs: FAILOVER_PROBE_MS })
      await sleep(300)
      const killedAt = epochMs()
      await cluster.kill(victim.name)
      let first: ProbeRecord
      try {
        first = await client.call<ProbeRecord>('first-after', { t: killedAt, timeoutMs: 60_000 }, 70_000)
      } finally {
        await client.call('probe-stop')
      }
      const after = await client.call<View>('leader')
      const newLeader = after.leader === undefined ? undefined : cluster.node(after.leader)
      const elected = newLeader?.logs.find(l => l.msg === 'leadership changed' && l['role'] === 'leader' && Number(l['time']) >= Math.floor(killedAt))
      const trial = {
        ms: r1(first.end - killedAt),
        writeStartedMs: r1(first.start - killedAt),
        killed: victim.name,
        newLeader: newLeader?.name,
        electedMs: elected === undefined ? null : Math.round(Number(elected['time']) - killedAt)
      }
      // Back to three members before the next trial, the restarted one caught up.
      const restartedAt = performance.now()
      await cluster.start(victim.name)
      const deadline = Date.now() + 60_000
      for (;;) {
        const target = (await client.call<View>('leader')).applied
        const caught = (await client.call<View>('info', { member: victim.id })).applied
        if (caught >= target) break
        if (Date.now() > deadline) throw new Error(`${victim.name} applied only ${caught} of ${target} within 60 s of its restart`)
        await sleep(50)
      }
      trials.push({ ...trial, catchUpMs: Math.round(performance.now() - restartedAt) })
      this.log(`failover ${t + 1}/${this.o.trials}: killed ${victim.name} (leader), first write started after it done in ${trial.ms} ms (started at +${trial.writeStartedMs} ms), new leader ${trial.newLeader ?? '?'} elected at +${trial.electedMs ?? '?'} ms; restarted, caught up`)
    }
    return trials
  }

  async snapshot (): Promise<SnapshotRow> {
    const cluster = await ProcessCluster.create({ members: 3, spares: 1, nodeArgs: [...this.nodeArgs(), '--snapshot-every', String(SNAPSHOT_EVERY), '--log-retention', '0', '--log-level', 'debug'] })
    let client: LoadClient | undefined
    try {
      await cluster.startAll()
      client = LoadClient.start(cluster)
      const view = await client.call<View>('leader')
      const leader = cluster.node(view.leader as string)
      // Large keys build the state in few slots (a command may be up to 1 MiB).
      const keys = Math.max(1, Math.ceil(this.o.snapshotMB * 1e6 / SNAPSHOT_KEY_BYTES))
      await client.call('writes', { prefix: 'snap/', valueBytes: SNAPSHOT_KEY_BYTES, inflight: 4, count: keys })
      // Filler up to the next snapshot boundary, so that one snapshot holds every large key.
      const applied = (await client.call<View>('leader')).applied
      await client.call('writes', { prefix: 'fill/', valueBytes: 16, inflight: 4, count: SNAPSHOT_EVERY - (applied % SNAPSHOT_EVERY) + 1 })
      const wanted = applied + 1
      const deadline = Date.now() + 120_000
      while (!leader.logs.some(l => typeof l['trace'] === 'string' && snapshotTakenAt(l['trace']) >= wanted)) {
        if (Date.now() > deadline) throw new Error(`no snapshot at or above slot ${wanted} within 120 s on the leader`)
        await sleep(50)
      }
      this.log(`snapshot phase: ${keys} keys of ${SNAPSHOT_KEY_BYTES} B written, snapshot taken; starting the spare and killing a follower`)
      const spare = cluster.nodes.find(n => n.role === 'spare') as typeof cluster.nodes[number]
      await cluster.start(spare.name)
      const follower = cluster.nodes.find(n => n.role === 'voter' && n.id !== leader.id) as typeof cluster.nodes[number]
      const killedAt = performance.now()
      await cluster.kill(follower.name)
      const until = Date.now() + 120_000
      let line
      while ((line = spare.logs.find(l => l.msg === 'snapshot received')) === undefined) {
        if (Date.now() > until) throw new Error(`the spare received no snapshot within 120 s (its log: ${spare.logs.slice(-5).map(l => l.msg).join('; ')})`)
        await sleep(20)
      }
      const killToInstalledMs = Math.round(performance.now() - killedAt)
      const row: SnapshotRow = {
        bytes: Number(line['bytes']), chunks: Number(line['chunks']), ms: Number(line['ms']), mbPerSec: Number(line['mbPerSec']), index: Number(line['index']), killToInstalledMs
      }
      this.log(`snapshot: ${row.bytes} bytes in ${row.chunks} chunks, ${row.ms} ms offer → installed, ${row.mbPerSec} MB/s; ${killToInstalledMs} ms from the kill`)
      await this.stopGracefully(cluster)
      return row
    } finally {
      await client?.close()
      await cluster.close()
    }
  }

  nodeArgs (): string[] {
    return this.o.cpuProf === undefined ? [] : ['--cpu-prof', this.o.cpuProf]
  }

  /** SIGTERM to every member (so that --cpu-prof profiles are written), then the cluster closes. */
  async stopGracefully (cluster: ProcessCluster): Promise<void> {
    for (const n of cluster.nodes.filter(x => x.child !== undefined)) await cluster.signal(n.name, 'SIGTERM')
  }
}

const FAILOVER_PROBE_MS = 5
const SNAPSHOT_EVERY = 32
const SNAPSHOT_KEY_BYTES = 256 * 1024

/** The slot of a `snapshot taken at N` trace line, or -1. */
function snapshotTakenAt (trace: string): number {
  const m = / snapshot taken at (\d+) /.exec(trace)
  return m === null ? -1 : Number(m[1])
}

export interface Stats { readonly p50: number, readonly mean: number, readonly max: number, readonly min: number }

function stats (xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  return { p50: s[Math.max(0, Math.ceil(0.5 * s.length) - 1)] ?? 0, mean: r1(s.reduce((a, x) => a + x, 0) / Math.max(1, s.length)), max: s[s.length - 1] ?? 0, min: s[0] ?? 0 }
}

/** Runs the phases `o` selects. Throws if a phase cannot complete. */
export async function run (o: Options, log: (line: string) => void): Promise<NetBenchResult> {
  const bench = new Bench(o, log)
  const phase = (p: Phase): boolean => o.phases.includes(p)
  let writes: LoadRow[] = []
  let reads: LoadRow[] = []
  let failover: NetBenchResult['failover'] = null
  let snapshot: SnapshotRow | null = null
  if (phase('writes') || phase('reads') || phase('failover')) {
    const cluster = await ProcessCluster.create({ members: 3, spares: 0, nodeArgs: bench.nodeArgs() })
    let client: LoadClient | undefined
    try {
      await cluster.startAll()
      client = LoadClient.start(cluster)
      await client.call('leader')
      log(`cluster of 3 up in ${cluster.dir}`)
      if (phase('writes')) writes = await bench.writes(cluster, client)
      if (phase('reads')) reads = await bench.reads(cluster, client)
      if (phase('failover')) {
        const trials = await bench.failover(cluster, client)
        failover = { trials, ms: stats(trials.map(t => t.ms)), electedMs: stats(trials.flatMap(t => t.electedMs === null ? [] : [t.electedMs])) }
      }
      await client.close()
      client = undefined
      await bench.stopGracefully(cluster)
    } finally {
      await client?.close()
      await cluster.close()
    }
  }
  if (phase('snapshot')) snapshot = await bench.snapshot()
  const w64 = writes.find(w => w.inflight === 64)
  const w1 = writes.find(w => w.inflight === 1)
  const r16 = reads.find(r => r.inflight === 16)
  return {
    bench: 'net',
    ...machineInfo(),
    params: {
      quick: o.quick,
      phases: o.phases,
      members: 3,
      storage: 'LevelDB, fsync on every persist',
      transport: 'libp2p tcp + noise + yamux on 127.0.0.1',
      valueBytes: o.valueBytes,
      tickMs: 10,
      clockTicksPerSec: bench.ticksPerSec,
      failoverProbeMs: FAILOVER_PROBE_MS,
      snapshotMB: o.snapshotMB
    },
    writes,
    reads,
    failover,
    snapshot,
    etcd: ETCD,
    targets: TARGETS,
    targetsMet: {
      ...(w64 !== undefined ? { writesPerSec64: w64.opsPerSec >= TARGETS.writesPerSec64 } : {}),
      ...(w1 !== undefined ? { p50Ms1: w1.latencyMs.p50 <= TARGETS.p50Ms1 } : {}),
      ...(r16 !== undefined ? { readsPerSec16: r16.opsPerSec >= TARGETS.readsPerSec16 } : {}),
      ...(failover !== null ? { failoverMs: failover.ms.p50 <= TARGETS.failoverMs } : {})
    }
  }
}

/** The README table: one line per figure, against etcd 3.4 on the same machine and the target. */
export function markdownTable (r: NetBenchResult): string {
  const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 2 })
  const met = (x: boolean | undefined): string => x === undefined ? '–' : x ? 'met' : 'not met'
  const lines = [
    `vpeer over libp2p, 3 member processes on 127.0.0.1, LevelDB with fsync, ${r.params.valueBytes}-byte writes; ${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.date.slice(0, 10)}${r.params.quick ? ' — QUICK RUN, not a measurement' : ''}`,
    '',
    '| figure | vpeer | etcd 3.4 (same machine) | target | |',
    '|---|---:|---:|---:|---|'
  ]
  for (const w of r.writes) {
    const w64 = w.inflight === 64
    lines.push(`| writes/s at ${w.inflight} in flight | ${n(w.opsPerSec)} | ${w64 ? n(r.etcd.writesPerSec64) : '–'} | ${w64 ? `≥ ${n(r.targets.writesPerSec64)}` : '–'} | ${w64 ? met(r.targetsMet.writesPerSec64) : ''} |`)
    const w1 = w.inflight === 1
    lines.push(`| write latency at ${w.inflight} in flight, p50 / p99 ms | ${n(w.latencyMs.p50)} / ${n(w.latencyMs.p99)} | ${w1 ? `${n(r.etcd.p50Ms1)} (p50)` : '–'} | ${w1 ? `p50 ≤ ${n(r.targets.p50Ms1)}` : '–'} | ${w1 ? met(r.targetsMet.p50Ms1) : ''} |`)
  }
  for (const x of r.reads) {
    lines.push(`| linearizable reads/s at ${x.inflight} in flight (p50 / p99 ms) | ${n(x.opsPerSec)} (${n(x.latencyMs.p50)} / ${n(x.latencyMs.p99)}) | ${n(r.etcd.readsPerSec16)} | ≥ ${n(r.targets.readsPerSec16)} | ${met(r.targetsMet.readsPerSec16)} |`)
  }
  if (r.failover !== null) {
    const f = r.failover
    lines.push(`| failover after kill -9 of the leader, ms: p50 (min–max, ${f.trials.length} trials; new leader elected at p50 ${n(f.electedMs.p50)}) | ${n(f.ms.p50)} (${n(f.ms.min)}–${n(f.ms.max)}) | ${n(r.etcd.failoverMs)} default, ${n(r.etcd.failoverTunedMs)} tuned | ≤ ${n(r.targets.failoverMs)} | ${met(r.targetsMet.failoverMs)} |`)
  }
  if (r.snapshot !== null) {
    const s = r.snapshot
    lines.push(`| snapshot transfer to a replacing spare, MB/s (${n(s.bytes / 1e6)} MB, ${s.chunks} chunks, ${n(s.ms)} ms offer → installed) | ${n(s.mbPerSec)} | – | – | |`)
  }
  const cpuRows = [...r.writes.map(w => ({ what: `writes at ${w.inflight}`, c: w.cpuSecondsPer1000 })), ...r.reads.map(x => ({ what: `reads at ${x.inflight}`, c: x.cpuSecondsPer1000 }))]
  if (cpuRows.length > 0) {
    lines.push('', 'CPU seconds per 1,000 operations (utime + stime; members: leader first):', '',
      '| load | client process | members (sum) | each member |', '|---|---:|---:|---|')
    for (const { what, c } of cpuRows) lines.push(`| ${what} | ${n(c.client)} | ${n(c.members)} | ${c.perMember.map(n).join(' / ')} |`)
  }
  return lines.join('\n')
}

export function formatResult (r: NetBenchResult, format: Options['format']): string {
  return format === 'markdown' ? markdownTable(r) : JSON.stringify(r, null, 2)
}

/** The CLI: returns the exit code (0 done, 2 bad flags); a failure of the bench itself throws. */
export async function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  return await benchCli(argv, out, err, { usage: USAGE, parse: parseOptions, run, format: (r, o) => formatResult(r, o.format) })
}

runIfMain(import.meta.url, 'bench:net', cli)
