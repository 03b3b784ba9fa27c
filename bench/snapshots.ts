/**
 * Snapshots under sustained load (issue 7 §4): three VirtualPeers in one process over
 * LocalNetwork with real timers (SystemClock), a closed loop of unbatched writes (one command
 * per slot), N slots in a burst, once with snapshots off and once on. Reports commits/s both
 * ways, snapshots completed during the burst, the lag applied − snapshot index (max during the
 * burst, sampled at every Ready of every peer, and final), the most log entries the core held
 * (lastSlot − compactedThrough), heap use, and how long the snapshots took to settle after the
 * burst (every peer's lag under `--every`, with no further writes).
 *
 *   npm run bench:snapshots                          JSON on stdout, progress on stderr
 *   npm run bench:snapshots -- --markdown            also the README table on stderr
 *   npm run bench:snapshots -- --slots 20000 --every 500 --storage memory,level
 *   NODE_OPTIONS=--expose-gc npm run bench:snapshots  heap figures after a full GC (see below)
 *   npm run bench:snapshots -- --help
 *
 * Heap: `process.memoryUsage().heapUsed`, sampled every `--sample-ms` during the burst (peak:
 * includes garbage not collected yet) and at the end with the peers still running. Started
 * with `--expose-gc` the baseline and the end are taken right after `global.gc()`, so the end
 * minus the baseline is what the three peers retain (log, storage image, snapshots); without it
 * those two figures include garbage and are marked `gc: false`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { HelpRequested, UsageError } from './cli-errors.js'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { Configuration, NodeId } from '../src/paxos/types.js'
import { KvStateMachine } from '../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'
import { PaddedKvStateMachine, paddingBytes } from '../src/sim/scenarios.js'
import { LevelStorage } from '../src/storage/level-storage.js'
import { MemoryStorage } from '../src/storage/memory-storage.js'
import type { Storage } from '../src/contracts/index.js'
import { LocalNetwork } from '../src/vpeer/local-network.js'
import type { WireMessage } from '../src/vpeer/snapshot-transfer.js'
import { SystemClock } from '../src/vpeer/system-clock.js'
import { systemRandom } from '../src/vpeer/system-random.js'
import { VirtualPeer } from '../src/vpeer/virtual-peer.js'
import { machineInfo } from './machine.js'

type KvPeer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>
export type StorageKind = 'memory' | 'level'

const USAGE = `Usage: npm run bench:snapshots -- [options]

A burst of unbatched writes through 3 in-process peers (LocalNetwork, real timers), snapshots
off then on; JSON on stdout, progress on stderr.

  --slots N          slots per burst (default 100000; --quick 3000)
  --every N          snapshotEverySlots for the "on" runs (default 1000; --quick 500)
  --retention N      logRetentionSlots (default 1000; --quick 200)
  --window N         writes outstanding at once, the closed loop's depth (default 256)
  --keys N           distinct keys written (default 1000): the state machine's size
  --clients N        client sessions the writes are spread over (default 8); each remembers up
                     to 1024 outcomes, which every snapshot carries
  --state-kib N      opaque padding in every snapshot, KiB (default 0): a larger state to hash
  --storage LIST     memory and/or level (LevelDB in a temporary folder, removed afterwards);
                     default memory
  --repeats N        off/on pairs per storage (default 3; --quick 1)
  --sample-ms N      heap sampling interval during the burst (default 50)
  --settle-ms N      give up waiting for the snapshots to settle after this long (default 30000)
  --quick            small burst, one pair (smoke test)
  --markdown         also print the README table on stderr
  --help             this text

Run with NODE_OPTIONS=--expose-gc for heap figures after a full GC.`

export interface Options {
  readonly quick: boolean
  readonly slots: number
  readonly every: number
  readonly retention: number
  readonly window: number
  readonly keys: number
  readonly clients: number
  readonly stateKiB: number
  readonly storage: readonly StorageKind[]
  readonly repeats: number
  readonly sampleMs: number
  readonly settleMs: number
  readonly markdown: boolean
}

export interface RunResult {
  readonly storage: StorageKind
  readonly snapshots: boolean
  readonly everySlots: number
  readonly slots: number
  readonly commands: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly slotsPerSec: number
  readonly commandsPerSec: number
  /** Slots per second of process CPU time (all three peers and the client): steadier than slots/s on a shared machine. */
  readonly slotsPerCpuSec: number
  /** Snapshots each peer stored during the burst (increases of its snapshot index seen in the samples). */
  readonly snapshotsDuringBurst: readonly number[]
  /** Max over every Ready of every peer of applied − snapshot index, once applied ≥ 2 × every (0 when off). */
  readonly maxLag: number
  /** Max over the peers of applied − snapshot index when the burst ended, and once settled. */
  readonly lagAtBurstEnd: number
  readonly finalLag: number
  /** Max over every Ready of every peer of lastSlot − compactedThrough: log entries the core held. */
  readonly maxLogEntries: number
  readonly finalLogEntries: number
  /** From the last write's completion to every peer applied and within `every` of its snapshot (null when off or not settled). */
  readonly settleMs: number | null
  readonly settled: boolean
  readonly heap: {
    readonly gc: boolean
    readonly baselineBytes: number
    readonly peakBytes: number
    readonly endBytes: number
    /** endBytes − baselineBytes: what the three peers hold at the end of the burst. */
    readonly retainedBytes: number
  }
}

export interface BenchResult {
  readonly bench: 'snapshots'
  readonly date: string
  readonly node: string
  readonly platform: string
  readonly cpu: { readonly model: string, readonly count: number }
  readonly loadAverage: readonly number[]
  readonly options: Options
  readonly runs: readonly RunResult[]
  /** Per storage: medians of the runs with snapshots off and on. */
  readonly summary: ReadonlyArray<{
    readonly storage: StorageKind
    readonly slotsPerSecOff: number
    readonly slotsPerSecOn: number
    readonly slotsPerCpuSecOff: number
    readonly slotsPerCpuSecOn: number
    /** on / off − 1 (negative: snapshots cost throughput). */
    readonly throughputChange: number
    readonly on: RunResult
    readonly off: RunResult
  }>
}

export { HelpRequested, UsageError }

export function parseOptions (argv: readonly string[]): Options {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        slots: { type: 'string' },
        every: { type: 'string' },
        retention: { type: 'string' },
        window: { type: 'string', default: '256' },
        keys: { type: 'string', default: '1000' },
        clients: { type: 'string', default: '8' },
        'state-kib': { type: 'string', default: '0' },
        storage: { type: 'string', default: 'memory' },
        repeats: { type: 'string' },
        'sample-ms': { type: 'string', default: '50' },
        'settle-ms': { type: 'string', default: '30000' },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  if (values.help === true) throw new HelpRequested(USAGE)
  const quick = values.quick ?? false
  const int = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    const v = raw === undefined ? fallback : Number(raw)
    if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got ${raw ?? ''}`)
    return v
  }
  const storage = (values.storage ?? 'memory').split(',').map(s => s.trim())
  for (const s of storage) if (s !== 'memory' && s !== 'level') throw new UsageError(`--storage: expected memory and/or level, got ${s}`)
  return {
    quick,
    slots: int('slots', values.slots, quick ? 3000 : 100_000, 1),
    every: int('every', values.every, quick ? 500 : 1000, 1),
    retention: int('retention', values.retention, quick ? 200 : 1000, 0),
    window: int('window', values.window, 256, 1),
    keys: int('keys', values.keys, 1000, 1),
    clients: int('clients', values.clients, 8, 1),
    stateKiB: int('state-kib', values['state-kib'], 0, 0),
    storage: storage as StorageKind[],
    repeats: int('repeats', values.repeats, quick ? 1 : 3, 1),
    sampleMs: int('sample-ms', values['sample-ms'], 50, 1),
    settleMs: int('settle-ms', values['settle-ms'], 30_000, 1),
    markdown: values.markdown ?? false
  }
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc

function heapNow (collect: boolean): number {
  if (collect && gc !== undefined) { gc(); gc() }
  return process.memoryUsage().heapUsed
}

const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => { setTimeout(resolve, ms) }) }

async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`snapshots bench: timed out waiting for ${what}`)
    await sleep(1)
  }
}

/** One burst on a fresh cluster. */
export async function runBurst (o: Options, kind: StorageKind, snapshots: boolean, slots: number, log: (line: string) => void): Promise<RunResult> {
  const ids: NodeId[] = ['a', 'b', 'c']
  const configuration: Configuration = { epoch: 0, voters: ids, learners: [] }
  const network = new LocalNetwork<WireMessage>()
  const clocks: SystemClock[] = []
  const storages: Storage[] = []
  const peers: KvPeer[] = []
  const dir = kind === 'level' ? await mkdtemp(join(tmpdir(), 'vpeer-bench-snapshots-')) : undefined
  const padding = o.stateKiB > 0 ? paddingBytes(o.stateKiB * 1024) : undefined
  const every = snapshots ? o.every : 0
  try {
    const baselineBytes = heapNow(true)
    for (const id of ids) {
      const clock = new SystemClock()
      clocks.push(clock)
      const storage: Storage = dir !== undefined ? await LevelStorage.open(join(dir, id)) : new MemoryStorage()
      storages.push(storage)
      const peer: KvPeer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
        id,
        configuration,
        transport: network.endpoint(id),
        storage,
        clock,
        stateMachine: padding !== undefined ? new PaddedKvStateMachine(padding) : new KvStateMachine(),
        random: systemRandom(),
        paxos: { batchCommandsMax: 1 },
        snapshotEverySlots: every,
        logRetentionSlots: o.retention
      })
      peers.push(peer)
    }
    for (const p of peers) p.start()
    await waitFor(() => peers.some(p => p.status().role === 'leader'), 10_000, 'a leader')
    const leader = peers.find(p => p.status().role === 'leader') as KvPeer

    // Samples at every Ready of every peer (the 'applied' event).
    let maxLag = 0
    let maxLog = 0
    let burstOver = false
    const snapshotsDuring = peers.map(() => 0)
    const lastSnap = peers.map(() => 0)
    peers.forEach((peer, i) => {
      peer.addEventListener('applied', () => {
        const s = peer.status()
        if (every > 0 && s.appliedIndex >= 2 * every) maxLag = Math.max(maxLag, s.appliedIndex - s.snapshotIndex)
        maxLog = Math.max(maxLog, s.lastSlot - s.compactedThrough)
        if (!burstOver && s.snapshotIndex > (lastSnap[i] ?? 0)) {
          lastSnap[i] = s.snapshotIndex
          snapshotsDuring[i] = (snapshotsDuring[i] ?? 0) + 1
        }
      })
    })
    let peakBytes = process.memoryUsage().heapUsed
    const sampler = setInterval(() => { peakBytes = Math.max(peakBytes, process.memoryUsage().heapUsed) }, o.sampleMs)

    const startSlot = leader.status().commitIndex
    let sent = 0
    let done = 0
    let failed: unknown
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        while (sent < slots && sent - done < o.window) {
          const i = sent++
          // Explicit sessions (the runtime's own session would push back at half its window).
          // The session table keeps 1024 outcomes per client and rides in every snapshot, so
          // `--clients` sets the size of that part of the snapshot.
          const session = { client: `c${i % o.clients}`, seq: Math.floor(i / o.clients) + 1 }
          leader.submit({ f: 'write', key: `k${i % o.keys}`, value: i }, { session }).then(() => {
            done++
            if (done === slots) resolve()
            else pump()
          }, (error: unknown) => { failed ??= error; reject(error) })
        }
      }
      pump()
    })
    if (failed !== undefined) throw failed
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    burstOver = true
    const endSlot = leader.status().commitIndex
    const lagNow = (): number => Math.max(...peers.map(p => { const s = p.status(); return s.appliedIndex - s.snapshotIndex }))
    const lagAtBurstEnd = every > 0 ? lagNow() : 0

    // Settling: no further writes; every peer applies the last slot and, with snapshots on, its
    // snapshot gets within `every` of it.
    const t1 = performance.now()
    const settledNow = (): boolean => peers.every(p => {
      const s = p.status()
      return s.appliedIndex >= endSlot && (every === 0 || s.appliedIndex - s.snapshotIndex < every)
    })
    let settled = true
    try {
      await waitFor(settledNow, o.settleMs, 'the snapshots to settle')
    } catch {
      settled = false
    }
    const settleMs = every > 0 && settled ? performance.now() - t1 : null
    clearInterval(sampler)
    const finalLag = every > 0 ? lagNow() : 0
    const finalLogEntries = Math.max(...peers.map(p => { const s = p.status(); return s.lastSlot - s.compactedThrough }))
    const endBytes = heapNow(true)
    peakBytes = Math.max(peakBytes, endBytes)
    const result: RunResult = {
      storage: kind,
      snapshots,
      everySlots: every,
      slots: endSlot - startSlot,
      commands: slots,
      seconds: round(seconds, 3),
      cpuSeconds: round((cpu.user + cpu.system) / 1e6, 3),
      slotsPerSec: Math.round((endSlot - startSlot) / seconds),
      commandsPerSec: Math.round(slots / seconds),
      slotsPerCpuSec: Math.round((endSlot - startSlot) / ((cpu.user + cpu.system) / 1e6)),
      snapshotsDuringBurst: snapshotsDuring,
      maxLag,
      lagAtBurstEnd,
      finalLag,
      maxLogEntries: maxLog,
      finalLogEntries,
      settleMs: settleMs === null ? null : round(settleMs, 1),
      settled,
      heap: { gc: gc !== undefined, baselineBytes, peakBytes, endBytes, retainedBytes: endBytes - baselineBytes }
    }
    log(`${kind} snapshots ${snapshots ? `every ${every}` : 'off'}: ${result.slotsPerSec} slots/s (${result.slots} slots, ${result.seconds} s, ${result.slotsPerCpuSec} slots/CPU-s), ` +
      `${Math.min(...snapshotsDuring)}–${Math.max(...snapshotsDuring)} snapshots during the burst, max lag ${maxLag}, final lag ${finalLag}, ` +
      `max log ${maxLog}, heap peak ${mib(peakBytes)} MiB, retained ${mib(result.heap.retainedBytes)} MiB, settled in ${result.settleMs ?? '-'} ms`)
    return result
  } finally {
    for (const p of peers) await p.stop()
    for (const c of clocks) c.stop()
    for (const s of storages) await s.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}

function round (x: number, digits: number): number {
  return Number(x.toFixed(digits))
}

function mib (bytes: number): number {
  return round(bytes / (1024 * 1024), 1)
}

function median<T> (xs: readonly T[], key: (x: T) => number): T {
  const sorted = [...xs].sort((a, b) => key(a) - key(b))
  return sorted[Math.floor((sorted.length - 1) / 2)] as T
}

export async function main (argv: readonly string[], log: (line: string) => void = line => process.stderr.write(line + '\n')): Promise<BenchResult> {
  const o = parseOptions(argv)
  const runs: RunResult[] = []
  const summary: Array<BenchResult['summary'][number]> = []
  for (const kind of o.storage) {
    // Warms the JIT on a short burst (discarded), so the first measured run is not penalised.
    await runBurst(o, kind, true, Math.min(o.slots, 5000), () => {})
    const off: RunResult[] = []
    const on: RunResult[] = []
    for (let r = 0; r < o.repeats; r++) {
      off.push(await runBurst(o, kind, false, o.slots, log))
      on.push(await runBurst(o, kind, true, o.slots, log))
    }
    runs.push(...off, ...on)
    const offMedian = median(off, x => x.slotsPerSec)
    const onMedian = median(on, x => x.slotsPerSec)
    summary.push({
      storage: kind,
      slotsPerSecOff: offMedian.slotsPerSec,
      slotsPerSecOn: onMedian.slotsPerSec,
      slotsPerCpuSecOff: median(off, x => x.slotsPerCpuSec).slotsPerCpuSec,
      slotsPerCpuSecOn: median(on, x => x.slotsPerCpuSec).slotsPerCpuSec,
      throughputChange: round(onMedian.slotsPerSec / offMedian.slotsPerSec - 1, 3),
      on: onMedian,
      off: offMedian
    })
  }
  const result: BenchResult = {
    bench: 'snapshots',
    ...machineInfo(),
    loadAverage: loadavg().map(x => round(x, 2)),
    options: o,
    runs,
    summary
  }
  if (o.markdown) log(markdownTable(result))
  return result
}

/** The README table: one row per storage and setting, the median run by slots/s. */
export function markdownTable (r: BenchResult): string {
  const o = r.options
  const lines = [
    `Snapshots under a burst: ${o.slots.toLocaleString('en-US')} unbatched slots, 3 peers in one process (LocalNetwork, real timers), ` +
      `window ${o.window}, ${o.clients} clients, ${o.keys} keys${o.stateKiB > 0 ? ` + ${o.stateKiB} KiB state` : ''}, retention ${o.retention}; median of ${o.repeats} by slots/s; ` +
      `${r.cpu.model}, Node ${r.node}, load average ${r.loadAverage.join(' ')}, ${r.date.slice(0, 10)}; heap ${r.runs[0]?.heap.gc === true ? 'after a full GC' : 'without --expose-gc (includes garbage)'}`,
    '',
    '| storage | snapshots | slots/s | slots/CPU-s | snapshots during burst | max lag | final lag | max log entries | heap peak MiB | heap retained MiB | settle ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const s of r.summary) {
    for (const run of [s.off, s.on]) {
      lines.push(`| ${run.storage} | ${run.snapshots ? `every ${run.everySlots}` : 'off'} | ${run.slotsPerSec.toLocaleString('en-US')} | ${run.slotsPerCpuSec.toLocaleString('en-US')} | ` +
        `${run.snapshots ? `${Math.min(...run.snapshotsDuringBurst)}–${Math.max(...run.snapshotsDuringBurst)}` : '–'} | ` +
        `${run.snapshots ? run.maxLag.toLocaleString('en-US') : '–'} | ${run.snapshots ? run.finalLag.toLocaleString('en-US') : '–'} | ` +
        `${run.maxLogEntries.toLocaleString('en-US')} | ${mib(run.heap.peakBytes)} | ${mib(run.heap.retainedBytes)} | ${run.settleMs ?? '–'} |`)
    }
  }
  return lines.join('\n')
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  try {
    process.stdout.write(JSON.stringify(await main(process.argv.slice(2)), null, 2) + '\n')
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(error.message + '\n')
    } else if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`)
      process.exitCode = 2
    } else {
      throw error
    }
  }
}
