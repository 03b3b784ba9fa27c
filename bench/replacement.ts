/**
 * Replacement time (issue 3 §5): simulated time from the permanent crash of a voter to the
 * configuration in which its replacement votes, from the rolling-replacement scenario
 * (src/sim/scenarios.ts: every original member crashes for good, one at a time, under client
 * load, and the leader's policy swaps it for a spare: addLearner, catch-up, replaceVoter).
 *
 *   npx tsx bench/replacement.ts                 JSON on stdout, progress on stderr
 *   npx tsx bench/replacement.ts --quick         a few seeds, two settings (smoke test)
 *   npx tsx bench/replacement.ts --markdown      also the README tables on stderr
 *   npx tsx bench/replacement.ts --seeds 50 --nodes 5 --ticks 50,100
 *   npx tsx bench/replacement.ts --series size,stream --state-mib 1,4 --stream-mib 16
 *
 * Four series (`--series`, default all):
 *   - "timeout": replaceAfterTicks ∈ {25, 50, 100, 200, 400} (tick = 10 ms virtual), N = 3 and 5;
 *   - "log": the length of the log a new member must catch up, by running the client load
 *     longer before the first crash (warm-up), at replaceAfterTicks 100;
 *   - "size": replacement time against the snapshot size, snapshots on (every 50 slots, 10 kept)
 *     and S bytes of application state in every snapshot (PaddedKvStateMachine), N = 3;
 *   - "stream": wall-clock throughput of one snapshot transfer between two VirtualPeers over
 *     LocalNetwork with real timers (SystemClock) and MemoryStorage, offer to install done.
 * Each replacement is split by whether the crashed member was the leader (then an election comes
 * first and the new leader's failure detector starts from zero).
 *
 * Times of the first three are virtual and the scenario is deterministic, so the figures are a
 * function of the parameters and the seeds (same machine or not); only `wallSeconds` and the
 * whole "stream" series depend on the machine (and on whatever else it is running).
 */
import { pathToFileURL } from 'node:url'
import { UsageError } from './cli-errors.js'
import { parseArgs } from 'node:util'
import type { Configuration, NodeId } from '../src/paxos/types.js'
import { paddingBytes, runRollingReplacement } from '../src/sim/scenarios.js'
import type { ReplacementTiming } from '../src/sim/scenarios.js'
import { MemoryStorage } from '../src/storage/memory-storage.js'
import type { StateMachine } from '../src/contracts/index.js'
import { LocalNetwork } from '../src/vpeer/local-network.js'
import type { WireMessage } from '../src/vpeer/snapshot-transfer.js'
import { SystemClock } from '../src/vpeer/system-clock.js'
import { systemRandom } from '../src/vpeer/system-random.js'
import { VirtualPeer } from '../src/vpeer/virtual-peer.js'
import { machineInfo } from './machine.js'

/** SimCluster's default tick, ms of virtual time. */
const TICK_MS = 10

export interface TimeStats {
  readonly count: number
  readonly mean: number | null
  readonly p50: number | null
  readonly p95: number | null
  readonly max: number | null
}

export type Series = 'timeout' | 'log'
/** Every series `--series` can select. */
export type SeriesName = Series | 'size' | 'stream'
const SERIES: readonly SeriesName[] = ['timeout', 'log', 'size', 'stream']
const MIB = 1024 * 1024

export interface Row {
  readonly series: Series
  readonly nodes: number
  readonly replaceAfterTicks: number
  readonly replaceAfterMs: number
  /** Virtual ms of client load before the first crash. */
  readonly warmupMs: number
  readonly seeds: readonly number[]
  /** Runs with no violation (safety, linearizability, liveness). */
  readonly runsOk: number
  readonly failingSeeds: readonly number[]
  /** Members crashed (N per passing run) and how many were replaced in time. */
  readonly replacements: number
  readonly notReplaced: number
  /** Highest chosen slot when a member crashed: the log its replacement had to catch up. */
  readonly slotsAtCrash: { readonly mean: number, readonly min: number, readonly max: number }
  readonly ms: TimeStats
  readonly leader: TimeStats
  readonly nonLeader: TimeStats
  /** Mean replacement time minus the failure-detection timeout: what the protocol itself costs. */
  readonly meanOverTimeoutMs: number | null
  readonly wallSeconds: number
}

/** Least squares of replacement ms on slots at the crash, over every replacement of one N. */
export interface LogFit {
  readonly nodes: number
  readonly points: number
  readonly msPer1000Slots: number | null
  readonly interceptMs: number | null
}

export interface BenchResult {
  readonly bench: 'replacement'
  readonly date: string
  readonly node: string
  readonly platform: string
  readonly cpu: { readonly model: string, readonly count: number }
  readonly params: {
    readonly quick: boolean
    readonly tickMs: number
    readonly seedsPerRow: number
    readonly firstSeed: number
    readonly nodes: readonly number[]
    readonly replaceAfterTicks: readonly number[]
    readonly warmupMs: readonly number[]
    readonly logSeriesReplaceAfterTicks: number
    readonly defaultWarmupMs: number
    readonly lossRate: number
    readonly pipelineMax: number
    readonly clients: number
    /** Resolution of the measured times (how often the scenario looks at the configuration). */
    readonly pollMs: number
    readonly series: readonly SeriesName[]
  }
  readonly rows: readonly Row[]
  readonly logFits: readonly LogFit[]
  /** Replacement time against snapshot size (series "size"); `measured: false` when not selected. */
  readonly snapshotSize: SnapshotSizeResult
  /** Snapshot streaming throughput over the in-memory transport (series "stream"). */
  readonly snapshotStreaming: SnapshotStreamingResult
}

export interface SnapshotSizeRow {
  /** Opaque state carried in every snapshot, besides the (tiny) registers. */
  readonly stateBytes: number
  readonly stateMiB: number
  /** Chunks of one snapshot at `snapshotChunkBytes`. */
  readonly chunks: number
  readonly seeds: readonly number[]
  readonly runsOk: number
  readonly failingSeeds: readonly number[]
  /** Members crashed over every run (failing runs included here: the point is whether it finishes). */
  readonly replacements: number
  readonly notReplaced: number
  /** Replacement times of the passing runs, virtual ms. */
  readonly ms: TimeStats
  readonly leader: TimeStats
  readonly nonLeader: TimeStats
  /** Snapshots received from a peer and installed, over every run of the row. */
  readonly snapshotInstalls: number
  readonly runsWithInstalls: number
  readonly wallSeconds: number
}

export interface SnapshotSizeResult {
  readonly measured: boolean
  readonly note: string
  readonly params?: {
    readonly nodes: number
    readonly replaceAfterTicks: number
    readonly snapshotEverySlots: number
    readonly logRetentionSlots: number
    readonly snapshotChunkBytes: number
    readonly seedsPerRow: number
    readonly firstSeed: number
    /** A replacement not done after this many virtual ms fails the run. */
    readonly replacementDeadlineMs: number
  }
  readonly rows: readonly SnapshotSizeRow[]
}

export interface SnapshotStreamingRow {
  readonly stateBytes: number
  readonly stateMiB: number
  readonly chunkBytes: number
  readonly chunks: number
  /** Wall ms from the offer to the receiver's install done, per repeat. */
  readonly runsMs: readonly number[]
  readonly medianMs: number
  /** stateBytes / median, 10⁶ bytes per second. */
  readonly mbPerSecond: number
  readonly mibPerSecond: number
}

export interface SnapshotStreamingResult {
  readonly measured: boolean
  readonly note: string
  readonly params?: {
    readonly repeats: number
    readonly windowChunks: number
    readonly transport: 'LocalNetwork'
    readonly clock: 'SystemClock'
    readonly storage: 'MemoryStorage'
  }
  readonly rows: readonly SnapshotStreamingRow[]
}

interface Options {
  readonly quick: boolean
  readonly seeds: number
  readonly first: number
  readonly nodes: number[]
  readonly ticks: number[]
  readonly warmups: number[]
  readonly logTicks: number
  readonly warmupMs: number
  readonly loss: number
  readonly pipeline: number
  readonly clients: number
  readonly pollMs: number
  readonly markdown: boolean
  readonly series: readonly SeriesName[]
  readonly stateMiB: number[]
  readonly sizeSeeds: number
  readonly sizeEvery: number
  readonly sizeRetention: number
  readonly sizeChunkBytes: number
  readonly sizeDeadlineMs: number
  readonly streamMiB: number[]
  readonly streamChunkKiB: number[]
  readonly streamRepeats: number
}

export { UsageError }

function parseOptions (argv: readonly string[]): Options {
  try {
    return parseOptionsOrThrow(argv)
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
}

function parseOptionsOrThrow (argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      seeds: { type: 'string' },
      first: { type: 'string', default: '1' },
      nodes: { type: 'string' },
      ticks: { type: 'string' },
      'warmup-ms': { type: 'string' },
      'log-ticks': { type: 'string', default: '100' },
      loss: { type: 'string', default: '0.02' },
      pipeline: { type: 'string', default: '32' },
      clients: { type: 'string', default: '3' },
      'poll-ms': { type: 'string', default: '10' },
      markdown: { type: 'boolean', default: false },
      series: { type: 'string' },
      'state-mib': { type: 'string' },
      'size-seeds': { type: 'string' },
      'size-every': { type: 'string', default: '50' },
      'size-retention': { type: 'string', default: '10' },
      'size-chunk-kib': { type: 'string', default: '64' },
      'size-deadline-ms': { type: 'string', default: '20000' },
      'stream-mib': { type: 'string' },
      'stream-chunk-kib': { type: 'string' },
      'stream-repeats': { type: 'string', default: '3' }
    },
    strict: true,
    allowPositionals: false
  })
  const quick = values.quick ?? false
  const num = (name: string, raw: string | undefined, min: number, integer = true): number => {
    const v = Number(raw)
    if (raw === undefined || !Number.isFinite(v) || v < min || (integer && !Number.isSafeInteger(v))) throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${raw ?? ''}`)
    return v
  }
  const list = (name: string, raw: string | undefined, fallback: string, min: number, integer = true): number[] =>
    (raw ?? fallback).split(',').map(s => num(name, s.trim(), min, integer))
  const series = (values.series ?? SERIES.join(',')).split(',').map(x => x.trim())
  for (const x of series) if (!(SERIES as readonly string[]).includes(x)) throw new Error(`--series: unknown series ${x} (expected ${SERIES.join(',')})`)
  const positive = (name: string, xs: number[]): number[] => {
    if (xs.some(x => x <= 0)) throw new Error(`--${name}: sizes must be > 0`)
    return xs
  }
  const loss = num('loss', values.loss, 0, false)
  if (loss > 0.3) throw new Error('--loss: at most 0.3')
  return {
    quick,
    seeds: num('seeds', values.seeds ?? (quick ? '2' : '20'), 1),
    first: num('first', values.first, 0),
    // Fewer than 3 voters cannot lose one and keep a majority.
    nodes: list('nodes', values.nodes, quick ? '3' : '3,5', 3),
    ticks: list('ticks', values.ticks, quick ? '25,100' : '25,50,100,200,400', 1),
    // 1 s is the scenario's default warm-up; at ~30 slots/s of client load the others give logs
    // of roughly 1k, 3.5k and 9k slots before the first crash.
    warmups: list('warmup-ms', values['warmup-ms'], quick ? '1000,3000' : '1000,30000,120000,300000', 0),
    logTicks: num('log-ticks', values['log-ticks'], 1),
    warmupMs: 1000,
    loss,
    pipeline: num('pipeline', values.pipeline, 1),
    clients: num('clients', values.clients, 1),
    pollMs: num('poll-ms', values['poll-ms'], 1),
    markdown: values.markdown ?? false,
    series: series as SeriesName[],
    stateMiB: positive('state-mib', list('state-mib', values['state-mib'], quick ? '0.1,1' : '0.1,1,4,16', 0, false)),
    sizeSeeds: num('size-seeds', values['size-seeds'] ?? (quick ? '2' : '10'), 1),
    sizeEvery: num('size-every', values['size-every'], 1),
    sizeRetention: num('size-retention', values['size-retention'], 0),
    sizeChunkBytes: num('size-chunk-kib', values['size-chunk-kib'], 1) * 1024,
    sizeDeadlineMs: num('size-deadline-ms', values['size-deadline-ms'], 1000),
    streamMiB: positive('stream-mib', list('stream-mib', values['stream-mib'], quick ? '1' : '1,16,64', 0, false)),
    streamChunkKiB: list('stream-chunk-kib', values['stream-chunk-kib'], '64,256', 1),
    streamRepeats: num('stream-repeats', values['stream-repeats'], 1)
  }
}

function round1 (x: number): number {
  return Math.round(x * 10) / 10
}

/** Mean and nearest-rank percentiles; null fields for an empty sample. */
export function timeStats (xs: readonly number[]): TimeStats {
  if (xs.length === 0) return { count: 0, mean: null, p50: null, p95: null, max: null }
  const s = [...xs].sort((a, b) => a - b)
  const rank = (q: number): number => s[Math.max(0, Math.ceil(q * s.length) - 1)] ?? NaN
  return { count: s.length, mean: round1(s.reduce((a, x) => a + x, 0) / s.length), p50: round1(rank(0.5)), p95: round1(rank(0.95)), max: round1(s[s.length - 1] ?? NaN) }
}

function fit (nodes: number, points: ReadonlyArray<readonly [number, number]>): LogFit {
  const n = points.length
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0)
  if (n < 2 || sxx === 0) return { nodes, points: n, msPer1000Slots: null, interceptMs: null }
  const slope = sxy / sxx
  return { nodes, points: n, msPer1000Slots: round1(slope * 1000), interceptMs: round1(my - slope * mx) }
}

interface Done extends ReplacementTiming { readonly ms: number }

async function runRow (series: Series, nodes: number, replaceAfterTicks: number, warmupMs: number, o: Options, log: (line: string) => void): Promise<{ row: Row, done: Done[] }> {
  const started = performance.now()
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.first + i)
  const failingSeeds: number[] = []
  const timings: ReplacementTiming[] = []
  for (const seed of seeds) {
    const r = await runRollingReplacement({
      seed, nodes, replaceAfterTicks, warmupMs, lossRate: o.loss, pipelineMax: o.pipeline, clients: o.clients, pollMs: o.pollMs
    })
    if (!r.ok) {
      // A failing run is a bug for `npm run sim -- --scenario rolling` to chase; its times
      // are kept out of the figures (they would mix in whatever went wrong).
      failingSeeds.push(seed)
      log(`  seed ${seed} FAILED: ${r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`).join(' | ')}`)
      continue
    }
    timings.push(...r.timings)
  }
  const done = timings.filter((t): t is Done => t.ms !== undefined)
  const slots = timings.map(t => t.slotsAtCrash ?? 0)
  const ms = timeStats(done.map(t => t.ms))
  const replaceAfterMs = replaceAfterTicks * TICK_MS
  const row: Row = {
    series,
    nodes,
    replaceAfterTicks,
    replaceAfterMs,
    warmupMs,
    seeds,
    runsOk: seeds.length - failingSeeds.length,
    failingSeeds,
    replacements: timings.length,
    notReplaced: timings.length - done.length,
    slotsAtCrash: slots.length === 0
      ? { mean: 0, min: 0, max: 0 }
      : { mean: Math.round(slots.reduce((a, x) => a + x, 0) / slots.length), min: Math.min(...slots), max: Math.max(...slots) },
    ms,
    leader: timeStats(done.filter(t => t.wasLeader).map(t => t.ms)),
    nonLeader: timeStats(done.filter(t => !t.wasLeader).map(t => t.ms)),
    meanOverTimeoutMs: ms.mean === null ? null : round1(ms.mean - replaceAfterMs),
    wallSeconds: round1((performance.now() - started) / 1000)
  }
  log(`${series} N=${nodes} replaceAfterTicks=${replaceAfterTicks} warm-up ${warmupMs} ms: mean ${ms.mean ?? '-'} ms, p95 ${ms.p95 ?? '-'} ms ` +
    `(leader ${row.leader.mean ?? '-'}, non-leader ${row.nonLeader.mean ?? '-'}), log ${row.slotsAtCrash.mean} slots, ` +
    `${row.runsOk}/${seeds.length} runs ok, ${row.wallSeconds} s`)
  return { row, done }
}

const SNAPSHOT_SIZE_NOTE = 'Rolling replacement with snapshots on and S bytes of opaque application state in every snapshot ' +
  '(PaddedKvStateMachine), so a replacement learner, finding the log below it compacted, catches up by snapshot transfer. ' +
  'Times are virtual. The simulated network has latency (1-10 ms a message) but no bandwidth limit: a 64 KiB chunk ' +
  'arrives as fast as a 100-byte heartbeat, so the size shows up only as chunk round trips (window of 4 requests in ' +
  'flight per transfer), not as transfer time; CPU spent hashing and copying costs wall time, never virtual time. ' +
  'Failing runs are kept out of the time statistics but counted (failingSeeds, notReplaced). Known liveness problem ' +
  '(reported, in src/paxos + src/vpeer, not the bench): a learner whose transfer outlasts replaceAfterTicks is removed as ' +
  'silent while it is still fetching chunks, and re-added spares are then dropped at once, so large states can fail to be ' +
  'replaced at all; see the failing seeds of the largest size.'

const SNAPSHOT_STREAMING_NOTE = 'One snapshot streamed from one VirtualPeer to another over LocalNetwork (in-process, no ' +
  'serialization, delivery on setImmediate turns), SystemClock and MemoryStorage: wall ms from the receiver starting the ' +
  'transfer (on the sender\'s offer, the answer to its catch-up request) to its install done (every chunk verified on arrival, the whole state verified again by the storage ' +
  'install, then restored). Median of the repeats. Depends on the machine and its load.'

async function runSizeRow (stateMiB: number, o: Options, log: (line: string) => void): Promise<SnapshotSizeRow> {
  const started = performance.now()
  const stateBytes = Math.round(stateMiB * MIB)
  const seeds = Array.from({ length: o.sizeSeeds }, (_, i) => o.first + i)
  const failingSeeds: number[] = []
  const passing: ReplacementTiming[] = []
  let replacements = 0
  let notReplaced = 0
  let snapshotInstalls = 0
  let runsWithInstalls = 0
  for (const seed of seeds) {
    const r = await runRollingReplacement({
      seed,
      nodes: 3,
      replaceAfterTicks: o.logTicks,
      lossRate: o.loss,
      pipelineMax: o.pipeline,
      clients: o.clients,
      pollMs: o.pollMs,
      snapshotEverySlots: o.sizeEvery,
      logRetentionSlots: o.sizeRetention,
      snapshotChunkBytes: o.sizeChunkBytes,
      stateBytes,
      replacementDeadlineMs: o.sizeDeadlineMs
    })
    snapshotInstalls += r.snapshotInstalls
    if (r.snapshotInstalls > 0) runsWithInstalls++
    // Every original member counts, crashed or not: a run that stopped at a replacement that never
    // finished did not get to crash the others.
    replacements += 3
    notReplaced += 3 - r.timings.filter(t => t.ms !== undefined).length
    if (!r.ok) {
      failingSeeds.push(seed)
      log(`  size ${stateMiB} MiB seed ${seed} FAILED: ${r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`).join(' | ')}`)
      continue
    }
    passing.push(...r.timings)
  }
  const done = passing.filter((t): t is Done => t.ms !== undefined)
  const row: SnapshotSizeRow = {
    stateBytes,
    stateMiB,
    chunks: Math.max(1, Math.ceil(stateBytes / o.sizeChunkBytes)),
    seeds,
    runsOk: seeds.length - failingSeeds.length,
    failingSeeds,
    replacements,
    notReplaced,
    ms: timeStats(done.map(t => t.ms)),
    leader: timeStats(done.filter(t => t.wasLeader).map(t => t.ms)),
    nonLeader: timeStats(done.filter(t => !t.wasLeader).map(t => t.ms)),
    snapshotInstalls,
    runsWithInstalls,
    wallSeconds: round1((performance.now() - started) / 1000)
  }
  log(`size ${stateMiB} MiB (${row.chunks} chunks): mean ${row.ms.mean ?? '-'} ms, p95 ${row.ms.p95 ?? '-'} ms, ${snapshotInstalls} installs, ` +
    `${row.runsOk}/${seeds.length} runs ok, ${notReplaced} not replaced, ${row.wallSeconds} s`)
  return row
}

/** A state machine that is nothing but an opaque blob: what the streaming bench moves. */
class BlobStateMachine implements StateMachine<unknown, null> {
  state: Uint8Array
  constructor (state: Uint8Array) { this.state = state }
  apply (): null { return null }
  query (): unknown { return null }
  // Never mutated after creation, so the snapshot can share it (the runtime only reads it).
  snapshot (): Uint8Array { return this.state }
  restore (bytes: Uint8Array): void { this.state = bytes }
}

/** Polls `cond` on real timers; rejects after `ms` (a hung transfer fails the bench instead of hanging it). */
async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`stream bench: timed out waiting for ${what}`)
    await new Promise<void>(resolve => { setTimeout(resolve, 2) })
  }
}

/**
 * One sender holding a snapshot of `stateBytes` (a one-member group that took a snapshot at its
 * first applied slot), then one fresh receiver per repeat. A receiver boots believing it is a
 * learner of the sender's group (the sender does not list it, so nothing but the snapshot transfer
 * reaches it): it asks the sender for chosen values, and the sender, whose log is compacted,
 * answers with its snapshot. A snapshot is accepted only as the answer to such a request, so the
 * time runs from the moment the receiver starts the transfer to the install.
 */
async function streamRow (stateMiB: number, chunkKiB: number, repeats: number): Promise<SnapshotStreamingRow> {
  const stateBytes = Math.round(stateMiB * MIB)
  const chunkBytes = chunkKiB * 1024
  const network = new LocalNetwork<WireMessage>()
  const configuration: Configuration = { epoch: 0, voters: ['src'], learners: [] }
  const clocks: SystemClock[] = []
  const peers: Array<VirtualPeer<unknown, null>> = []
  const make = async (id: NodeId, sm: BlobStateMachine, hooks: { installed?: () => void, receiving?: () => void } = {}): Promise<VirtualPeer<unknown, null>> => {
    const clock = new SystemClock()
    clocks.push(clock)
    const peer = await VirtualPeer.create<unknown, null, unknown, unknown>({
      id,
      configuration: id === 'src' ? configuration : { ...configuration, learners: [id] },
      transport: network.endpoint(id),
      storage: new MemoryStorage(),
      clock,
      stateMachine: sm,
      random: systemRandom(),
      snapshotEverySlots: 1,
      // Nothing kept below the snapshot: a receiver could only ever catch up by snapshot.
      logRetentionSlots: 0,
      snapshotChunkBytes: chunkBytes,
      ...(hooks.installed !== undefined ? { observer: { installed: hooks.installed } } : {}),
      ...(hooks.receiving !== undefined ? { trace: (line: string) => { if (line.includes(' receiving snapshot at ')) hooks.receiving?.() } } : {})
    })
    peers.push(peer)
    peer.start()
    return peer
  }
  const runsMs: number[] = []
  try {
    const source = await make('src', new BlobStateMachine(paddingBytes(stateBytes)))
    await waitFor(() => source.status().role === 'leader', 10_000, 'the sender to lead')
    await source.submit({ op: 'go' })
    // The snapshot of the first applied slot(s), built in the background, then stored.
    await waitFor(() => source.status().snapshotIndex > 0 && source.status().snapshotIndex === source.applied, 60_000, 'the sender\'s snapshot')
    for (let i = 0; i < repeats; i++) {
      // Stamped in the install callback itself, so the polling interval adds nothing to the time.
      let startedAt: number | undefined
      let doneAt: number | undefined
      const sink = await make(`sink${i}`, new BlobStateMachine(new Uint8Array(0)), {
        installed: () => { doneAt = performance.now() },
        receiving: () => { startedAt ??= performance.now() }
      })
      await waitFor(() => doneAt !== undefined, 120_000, `the install of ${stateMiB} MiB`)
      runsMs.push((doneAt ?? NaN) - (startedAt ?? NaN))
      sink.halt()
    }
  } finally {
    for (const p of peers) p.halt()
    for (const c of clocks) c.stop()
  }
  const sorted = [...runsMs].sort((a, b) => a - b)
  const medianMs = sorted[Math.floor(sorted.length / 2)] ?? NaN
  return {
    stateBytes,
    stateMiB,
    chunkBytes,
    chunks: Math.max(1, Math.ceil(stateBytes / chunkBytes)),
    runsMs: runsMs.map(round1),
    medianMs: round1(medianMs),
    mbPerSecond: round1(stateBytes / 1e6 / (medianMs / 1000)),
    mibPerSecond: round1(stateBytes / MIB / (medianMs / 1000))
  }
}

export async function main (argv: readonly string[], log: (line: string) => void = line => process.stderr.write(line + '\n')): Promise<BenchResult> {
  const o = parseOptions(argv)
  const rows: Row[] = []
  const logPoints = new Map<number, Array<readonly [number, number]>>()
  // Runs are deterministic, so a setting both series share (the default warm-up at the log
  // series' timeout) is run once and reported in both.
  const cache = new Map<string, Awaited<ReturnType<typeof runRow>>>()
  const run = async (series: Series, nodes: number, ticks: number, warmupMs: number): Promise<Awaited<ReturnType<typeof runRow>>> => {
    const key = `${nodes}/${ticks}/${warmupMs}`
    const hit = cache.get(key)
    if (hit !== undefined) return { row: { ...hit.row, series }, done: hit.done }
    const r = await runRow(series, nodes, ticks, warmupMs, o, log)
    cache.set(key, r)
    return r
  }
  const on = (x: SeriesName): boolean => o.series.includes(x)
  for (const nodes of on('timeout') ? o.nodes : []) {
    for (const ticks of o.ticks) rows.push((await run('timeout', nodes, ticks, o.warmupMs)).row)
  }
  for (const nodes of on('log') ? o.nodes : []) {
    for (const warmupMs of o.warmups) {
      const { row, done } = await run('log', nodes, o.logTicks, warmupMs)
      rows.push(row)
      const pts = logPoints.get(nodes) ?? []
      for (const t of done) pts.push([t.slotsAtCrash ?? 0, t.ms])
      logPoints.set(nodes, pts)
    }
  }
  const notRun = (name: SeriesName): string => `Not run: series "${name}" was not selected (--series ${o.series.join(',')}).`
  let snapshotSize: SnapshotSizeResult = { measured: false, note: notRun('size'), rows: [] }
  if (on('size')) {
    const sizeRows: SnapshotSizeRow[] = []
    for (const mib of o.stateMiB) sizeRows.push(await runSizeRow(mib, o, log))
    snapshotSize = {
      measured: true,
      note: SNAPSHOT_SIZE_NOTE,
      params: {
        nodes: 3,
        replaceAfterTicks: o.logTicks,
        snapshotEverySlots: o.sizeEvery,
        logRetentionSlots: o.sizeRetention,
        snapshotChunkBytes: o.sizeChunkBytes,
        seedsPerRow: o.sizeSeeds,
        firstSeed: o.first,
        replacementDeadlineMs: o.sizeDeadlineMs
      },
      rows: sizeRows
    }
  }
  let snapshotStreaming: SnapshotStreamingResult = { measured: false, note: notRun('stream'), rows: [] }
  if (on('stream')) {
    const streamRows: SnapshotStreamingRow[] = []
    for (const mib of o.streamMiB) {
      for (const kib of o.streamChunkKiB) {
        const row = await streamRow(mib, kib, o.streamRepeats)
        log(`stream ${mib} MiB, ${kib} KiB chunks: median ${row.medianMs} ms, ${row.mibPerSecond} MiB/s (runs ${row.runsMs.join(', ')} ms)`)
        streamRows.push(row)
      }
    }
    snapshotStreaming = {
      measured: true,
      note: SNAPSHOT_STREAMING_NOTE,
      params: { repeats: o.streamRepeats, windowChunks: 4, transport: 'LocalNetwork', clock: 'SystemClock', storage: 'MemoryStorage' },
      rows: streamRows
    }
  }
  const result: BenchResult = {
    bench: 'replacement',
    ...machineInfo(),
    params: {
      quick: o.quick,
      tickMs: TICK_MS,
      seedsPerRow: o.seeds,
      firstSeed: o.first,
      nodes: o.nodes,
      replaceAfterTicks: o.ticks,
      warmupMs: o.warmups,
      logSeriesReplaceAfterTicks: o.logTicks,
      defaultWarmupMs: o.warmupMs,
      lossRate: o.loss,
      pipelineMax: o.pipeline,
      clients: o.clients,
      pollMs: o.pollMs,
      series: o.series
    },
    rows,
    logFits: [...logPoints].map(([nodes, pts]) => fit(nodes, pts)),
    snapshotSize,
    snapshotStreaming
  }
  if (o.markdown) log(markdownTables(result))
  return result
}

/** The README tables: virtual ms, over the replacements of the passing runs. */
export function markdownTables (r: BenchResult): string {
  const f = (x: number | null): string => x === null ? '–' : Math.round(x).toLocaleString('en-US')
  const split = (s: TimeStats): string => s.count === 0 ? '–' : `${f(s.mean)} (${s.count})`
  const p = r.params
  const lines = [
    `Replacement time (virtual ms from the permanent crash to the replacement voting), ${p.seedsPerRow} seeds per row, ` +
    `loss ${p.lossRate}, pipelineMax ${p.pipelineMax}, ${p.clients} clients, resolution ${p.pollMs} ms, ${r.date.slice(0, 10)}`
  ]
  if (p.series.includes('timeout')) {
    lines.push('',
      '| N | replaceAfterTicks | timeout ms | replacements | mean | p50 | p95 | max | leader mean (n) | non-leader mean (n) | mean − timeout |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  }
  for (const row of r.rows.filter(x => x.series === 'timeout')) {
    lines.push(`| ${row.nodes} | ${row.replaceAfterTicks} | ${f(row.replaceAfterMs)} | ${row.replacements - row.notReplaced}/${row.replacements} | ` +
      `${f(row.ms.mean)} | ${f(row.ms.p50)} | ${f(row.ms.p95)} | ${f(row.ms.max)} | ${split(row.leader)} | ${split(row.nonLeader)} | ${f(row.meanOverTimeoutMs)} |`)
  }
  if (p.series.includes('log')) {
    lines.push('', `Catch-up log length (replaceAfterTicks ${p.logSeriesReplaceAfterTicks}; longer client load before the first crash):`, '',
      '| N | warm-up s | log at crash, slots (mean) | mean | p50 | p95 | leader mean (n) | non-leader mean (n) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|')
  }
  for (const row of r.rows.filter(x => x.series === 'log')) {
    lines.push(`| ${row.nodes} | ${row.warmupMs / 1000} | ${f(row.slotsAtCrash.mean)} | ${f(row.ms.mean)} | ${f(row.ms.p50)} | ${f(row.ms.p95)} | ${split(row.leader)} | ${split(row.nonLeader)} |`)
  }
  lines.push('')
  for (const fitRow of r.logFits) {
    lines.push(`N = ${fitRow.nodes}: ${fitRow.msPer1000Slots === null ? 'no fit' : `+${fitRow.msPer1000Slots} ms per 1,000 slots of log (least squares over ${fitRow.points} replacements)`}`)
  }
  const failing = r.rows.filter(x => x.failingSeeds.length > 0)
  if (failing.length > 0) lines.push('', `Failing runs (excluded): ${failing.map(x => `${x.series} N=${x.nodes} ticks=${x.replaceAfterTicks} warm-up=${x.warmupMs}: ${x.failingSeeds.join(',')}`).join('; ')}`)
  const z = r.snapshotSize
  lines.push('', `Snapshot size: ${z.note}`)
  if (z.measured && z.params !== undefined) {
    const q = z.params
    lines.push('', `N = ${q.nodes}, replaceAfterTicks ${q.replaceAfterTicks}, snapshot every ${q.snapshotEverySlots} slots keeping ${q.logRetentionSlots}, ` +
      `chunks of ${q.snapshotChunkBytes / 1024} KiB, ${q.seedsPerRow} seeds per row, replacement deadline ${q.replacementDeadlineMs} ms:`, '',
    '| state MiB | chunks | runs ok | replaced | mean | p50 | p95 | max | leader mean (n) | non-leader mean (n) | snapshot installs | failing seeds |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const row of z.rows) {
      lines.push(`| ${row.stateMiB} | ${row.chunks} | ${row.runsOk}/${row.seeds.length} | ${row.replacements - row.notReplaced}/${row.replacements} | ` +
        `${f(row.ms.mean)} | ${f(row.ms.p50)} | ${f(row.ms.p95)} | ${f(row.ms.max)} | ${split(row.leader)} | ${split(row.nonLeader)} | ${row.snapshotInstalls} | ${row.failingSeeds.join(',') || '–'} |`)
    }
  }
  const st = r.snapshotStreaming
  lines.push('', `Snapshot streaming: ${st.note}`)
  if (st.measured && st.params !== undefined) {
    lines.push('', `${st.params.repeats} repeats, median; window ${st.params.windowChunks} chunk requests in flight:`, '',
      '| state MiB | chunk KiB | chunks | median ms | MB/s | MiB/s | runs ms |',
      '|---:|---:|---:|---:|---:|---:|---|')
    for (const row of st.rows) {
      lines.push(`| ${row.stateMiB} | ${row.chunkBytes / 1024} | ${row.chunks} | ${row.medianMs} | ${row.mbPerSecond} | ${row.mibPerSecond} | ${row.runsMs.join(', ')} |`)
    }
  }
  return lines.join('\n')
}

/** The header comment, as the `--help` text. */
const USAGE = `usage: npm run bench:replacement -- [--quick] [--markdown] [--seeds N] [--first N] [--nodes 3,5] [--ticks 25,50,…]
       [--series timeout,log,size,stream] [--state-mib 1,4] [--stream-mib 16] [--loss P] [--pipeline N] [--clients N]

Simulated time from a voter's permanent crash to its replacement voting, by replaceAfterTicks,
log length and snapshot size, plus the wall-clock throughput of one snapshot transfer.
JSON on stdout, progress on stderr; --markdown also prints the README tables on stderr.
--quick runs a few seeds and two settings (a smoke test).`

const invokedPath = process.argv[1]
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href && process.argv.slice(2).some(a => a === '--help' || a === '-h')) {
  process.stdout.write(USAGE + '\n')
} else if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  try {
    process.stdout.write(JSON.stringify(await main(process.argv.slice(2)), null, 2) + '\n')
  } catch (error) {
    // Bad flags: say why and exit 2, as the other CLIs do; anything else is a real failure.
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`${error.message}\n${USAGE}\n`)
    process.exitCode = 2
  }
}
