/**
 * Throughput of the pure Multi-Paxos core, driven in-process by CoreCluster: no network, no
 * faults, and persist batches go to an in-memory image (no fsync). It measures the protocol
 * logic and the driver, not the disk (bench/storage.ts measures that) nor a transport.
 *
 *   npm run bench:core                       a table on stdout, progress on stderr
 *   npm run bench:core -- --json             the full result as JSON instead (every run, the config)
 *   npm run bench:core -- --quick            a few thousand commands per case (smoke test)
 *   npm run bench:core -- --nodes 3 --seconds 5 --markdown
 *   npm run bench:core -- --help
 *
 * For each cluster size two cases run: "batched" (default batching, 64-byte commands, reported
 * as committed commands/s) and "unbatched" (batchCommandsMax 1, so commands/s = slots/s). A
 * closed loop keeps the leader's proposal queue fed and counts a command only once every
 * replica has applied it, in order (checked command by command).
 */
import { totalmem } from 'node:os'
import { HelpRequested, UsageError, parseCli } from './cli-errors.js'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { CommittedSlot } from '../src/paxos/node.js'
import type { PaxosConfig } from '../src/paxos/config.js'
import type { Command, NodeId } from '../src/paxos/types.js'
import { CoreCluster } from '../src/sim/core-cluster.js'
import { machineInfo } from './machine.js'

export type Mode = 'batched' | 'unbatched'

export interface RunResult {
  readonly commands: number
  readonly slots: number
  readonly seconds: number
  /**
   * Process CPU time (user + system, all threads, so GC helpers count) during the run. On a
   * shared machine wall-clock rates drop when other work competes for the cores; per-CPU-second
   * rates show what the code costs.
   */
  readonly cpuSeconds: number
  readonly commandsPerSec: number
  readonly slotsPerSec: number
  readonly commandsPerCpuSec: number
  readonly slotsPerCpuSec: number
  readonly avgCommandsPerSlot: number
  readonly messagesPerSlot: number
  readonly ticks: number
  /** Commands each replica applied (all equal to `commands`, in proposal order, or the run throws). */
  readonly replicaAppliedCommands: readonly number[]
}

export interface Stat { readonly median: number, readonly min: number, readonly max: number }

export interface CaseResult {
  readonly nodes: number
  readonly mode: Mode
  /** The leader's resolved PaxosConfig (numeric bounds only). */
  readonly config: Record<string, number>
  readonly commandsPerRun: number
  readonly warmup: RunResult
  readonly runs: readonly RunResult[]
  readonly commandsPerSec: Stat
  readonly slotsPerSec: Stat
  readonly commandsPerCpuSec: Stat
  readonly slotsPerCpuSec: Stat
  readonly avgCommandsPerSlot: Stat
  readonly messagesPerSlot: Stat
}

export interface BenchResult {
  readonly bench: 'core'
  readonly date: string
  readonly node: string
  readonly platform: string
  readonly cpu: { readonly model: string, readonly count: number }
  readonly memoryBytes: number
  readonly storage: 'in-memory, no fsync'
  readonly driver: string
  readonly options: {
    readonly quick: boolean
    readonly nodes: readonly number[]
    readonly secondsPerRun: number
    readonly repeats: number
    readonly commandBytes: number
    readonly proposeChunk: number
    readonly tickMs: number
    readonly messageBudget: number
  }
  readonly targets: { readonly batchedCommandsPerSec3: number, readonly unbatchedSlotsPerSec3: number }
  readonly cases: readonly CaseResult[]
  /** Median of the 3-node cases against the targets; absent when 3 nodes were not run. */
  readonly targetsMet: { readonly batched3: boolean, readonly unbatched3: boolean } | undefined
}

const COMMAND_BYTES = 64
/** Commands handed to `propose` at once, as a client-facing runtime would after a read burst. */
const PROPOSE_CHUNK = 4096
const TARGET_BATCHED_3 = 500_000
const TARGET_UNBATCHED_3 = 50_000
/** A run that makes no progress for this many consecutive ticks is stuck (a bug, not slowness). */
const STALL_TICKS = 200

export const USAGE = `Usage: npm run bench:core -- [options]

Throughput of the Multi-Paxos core in one process (CoreCluster: no network, no faults, persists
to memory without fsync). For each cluster size, a batched and an unbatched case: a warm-up run,
then timed runs. Progress on stderr; the result on stdout, as a table unless --json or --markdown.

  --nodes LIST          cluster sizes (default 3,5)
  --modes LIST          batched and/or unbatched (default both)
  --seconds N           length of each timed run, sized from the warm-up rate (default 2)
  --repeats N           timed runs per case; the table shows their median (default 3)
  --tick-ms N           wall-clock ms per core tick (default 10)
  --message-budget N    messages delivered between two checks of the loop (default 64)
  --quick               a few thousand commands per case, no timing (smoke test)
  --json                the full result as JSON: every run, the resolved config, the machine
  --markdown            the README table (Markdown) instead of the plain table
  --help                this text`

/** How the result is printed on stdout. */
export type OutputFormat = 'table' | 'json' | 'markdown'

export interface Options {
  readonly quick: boolean
  readonly nodes: number[]
  readonly modes: Mode[]
  readonly seconds: number
  readonly repeats: number
  readonly tickMs: number
  readonly messageBudget: number
  readonly format: OutputFormat
}

export { HelpRequested, UsageError }

export function parseOptions (argv: readonly string[]): Options {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        nodes: { type: 'string', default: '3,5' },
        modes: { type: 'string', default: 'batched,unbatched' },
        seconds: { type: 'string' },
        repeats: { type: 'string' },
        'tick-ms': { type: 'string', default: '10' },
        'message-budget': { type: 'string', default: '64' },
        json: { type: 'boolean', default: false },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  if (values.help === true) throw new HelpRequested(USAGE)
  const nodes = (values.nodes ?? '3,5').split(',').map(s => Number(s.trim()))
  for (const n of nodes) if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--nodes: bad cluster size in ${values.nodes ?? ''}`)
  const num = (name: string, raw: string | undefined, fallback: number): number => {
    const v = raw === undefined ? fallback : Number(raw)
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`--${name}: expected a non-negative number, got ${raw ?? ''}`)
    return v
  }
  const modes = (values.modes ?? '').split(',').map(s => s.trim())
  const isMode = (m: string): m is Mode => m === 'batched' || m === 'unbatched'
  const badMode = modes.find(m => !isMode(m))
  if (badMode !== undefined) throw new UsageError(`--modes: expected batched and/or unbatched, got ${badMode}`)
  if (values.json === true && values.markdown === true) throw new UsageError('--json and --markdown: choose one output format')
  const quick = values.quick ?? false
  return {
    quick,
    nodes,
    modes: modes.filter(isMode),
    seconds: num('seconds', values.seconds, quick ? 0 : 2),
    repeats: Math.max(1, Math.floor(num('repeats', values.repeats, 3))),
    tickMs: num('tick-ms', values['tick-ms'], 10),
    messageBudget: Math.max(1, Math.floor(num('message-budget', values['message-budget'], 64))),
    format: values.json === true ? 'json' : values.markdown === true ? 'markdown' : 'table'
  }
}

function configFor (mode: Mode): Partial<PaxosConfig> {
  // Defaults everywhere else (alpha 32, batchCommandsMax 4096, …): the numbers describe the
  // shipped configuration, and the resolved values are recorded in the JSON.
  return mode === 'batched' ? {} : { batchCommandsMax: 1 }
}

function numericConfig (config: PaxosConfig): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(config)) if (typeof v === 'number') out[k] = v
  return out
}

/** One replica's state machine: it only checks that commands arrive once each, in order. */
interface Replica { nextSeq: number, nextSlot: number, slots: number }

/**
 * Runs one fresh cluster until `commands` commands are applied on every replica. Election and
 * settling happen before the clock starts; the final drain (followers learning the last commit
 * index) is inside it, since a command counts only once applied everywhere.
 */
export function runOnce (nodes: number, mode: Mode, commands: number, tickMs: number, messageBudget: number): { run: RunResult, config: PaxosConfig } {
  const ids: NodeId[] = Array.from({ length: nodes }, (_, i) => `n${i + 1}`)
  const replicas = new Map<NodeId, Replica>(ids.map(id => [id, { nextSeq: 0, nextSlot: 0, slots: 0 }]))
  const onCommitted = (id: NodeId, c: CommittedSlot): void => {
    const r = replicas.get(id)
    if (r === undefined) throw new Error(`commit on unknown replica ${id}`)
    if (r.nextSlot !== 0 && c.slot !== r.nextSlot) throw new Error(`${id}: slot ${c.slot} handed out, expected ${r.nextSlot}`)
    r.nextSlot = c.slot + 1
    r.slots++
    for (const cmd of c.value.commands) {
      if (cmd.seq !== r.nextSeq) throw new Error(`${id}: applied command ${cmd.seq}, expected ${r.nextSeq}`)
      r.nextSeq++
    }
  }
  const cluster = new CoreCluster({ ids, seed: 1, config: configFor(mode), onCommitted })
  const leader = cluster.electLeader()
  cluster.tickAndStabilize(2)
  for (const r of replicas.values()) r.slots = 0
  const messagesBefore = cluster.messagesDelivered
  // Commands are opaque to the core; one shared 64-byte payload keeps the allocator out of the
  // measurement while each command is still a distinct object with its own session number.
  const payload = new Uint8Array(COMMAND_BYTES).map((_, i) => (i * 31) & 0xff)
  const replicaList = [...replicas.values()]
  const minApplied = (): number => {
    let m = Infinity
    for (const r of replicaList) if (r.nextSeq < m) m = r.nextSeq
    return m
  }

  // Outstanding = proposed but not yet applied on the leader: queued plus in flight. The loop
  // keeps it at a full α window plus a queue deep enough to refill the window between two
  // checks (at most half of proposalQueueMax, so "busy" only happens while the window is not yet
  // full), reading only our own counters: leader.status() allocates, and polling it every
  // iteration showed up in the profile.
  const leaderReplica = replicas.get(leader.id)
  if (leaderReplica === undefined) throw new Error(`leader ${leader.id} is not a replica`)
  const window = leader.config.alpha * leader.config.batchCommandsMax
  const queueTarget = Math.max(PROPOSE_CHUNK, Math.min(window, Math.floor(leader.config.proposalQueueMax / 2)))
  const highWater = window + queueTarget
  let proposed = 0
  let ticks = 0
  let stalledTicks = 0
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  let lastTick = start
  for (let applied = minApplied(); applied < commands; applied = minApplied()) {
    while (proposed < commands && proposed - leaderReplica.nextSeq < highWater) {
      const n = Math.min(PROPOSE_CHUNK, commands - proposed)
      const chunk: Command[] = new Array<Command>(n)
      for (let i = 0; i < n; i++) chunk[i] = { client: 'bench', seq: proposed + i, data: payload }
      const res = leader.propose(chunk)
      // Back-pressure is the leader's to apply: a full queue just means "later".
      if (res.kind === 'busy') break
      if (res.kind !== 'accepted') throw new Error(`leader ${leader.id} refused a proposal: ${res.kind}`)
      proposed += n
    }
    const delivered = cluster.stabilize(messageBudget)
    // Ticks follow wall time, as a runtime's 10 ms timer would (heartbeats, retransmission);
    // at most one per iteration, so a GC pause cannot fire a burst of election timeouts.
    const now = performance.now()
    const progressed = delivered > 0 || minApplied() > applied
    if (tickMs > 0 && now - lastTick >= tickMs) {
      lastTick = now
      cluster.tick()
      ticks++
    } else if (!progressed) {
      // Quiescent with work left (e.g. a follower waits for a heartbeat): time must pass.
      cluster.tick()
      ticks++
    }
    stalledTicks = progressed ? 0 : stalledTicks + 1
    if (stalledTicks > STALL_TICKS) throw new Error(`no progress for ${STALL_TICKS} ticks at ${applied}/${commands} applied`)
  }
  const seconds = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpuStart)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  if (cluster.leader() !== leader) throw new Error('leadership changed during a fault-free run')
  const slots = leaderReplica.slots
  const replicaAppliedCommands = replicaList.map(r => r.nextSeq)
  for (const [id, r] of replicas) {
    if (r.nextSeq !== commands) throw new Error(`${id} applied ${r.nextSeq} commands, expected ${commands}`)
  }
  const messages = cluster.messagesDelivered - messagesBefore
  return {
    config: leader.config,
    run: {
      commands,
      slots,
      seconds: round(seconds, 4),
      cpuSeconds: round(cpuSeconds, 4),
      commandsPerSec: round(commands / seconds, 0),
      slotsPerSec: round(slots / seconds, 0),
      commandsPerCpuSec: round(commands / cpuSeconds, 0),
      slotsPerCpuSec: round(slots / cpuSeconds, 0),
      avgCommandsPerSlot: round(commands / Math.max(1, slots), 2),
      messagesPerSlot: round(messages / Math.max(1, slots), 3),
      ticks,
      replicaAppliedCommands
    }
  }
}

function round (x: number, digits: number): number {
  return Number(x.toFixed(digits))
}

function stat (xs: readonly number[]): Stat {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  const median = s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2
  return { median, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN }
}

/** Sizes a run so it lasts about `seconds` at the warm-up rate, in whole propose chunks. */
function commandsFor (ratePerSec: number, seconds: number, floor: number): number {
  return Math.max(floor, Math.ceil(ratePerSec * seconds / PROPOSE_CHUNK) * PROPOSE_CHUNK)
}

function runCase (nodes: number, mode: Mode, o: Options, log: (line: string) => void): CaseResult {
  // Quick mode only proves the pipeline works: a handful of slots per case.
  const warmCommands = o.quick ? (mode === 'batched' ? 3 * PROPOSE_CHUNK : 2000) : (mode === 'batched' ? 400_000 : 30_000)
  // The first run warms the JIT (the core and the driver are monomorphic after a few thousand
  // slots) and gives the rate used to size the timed runs.
  const warm = runOnce(nodes, mode, warmCommands, o.tickMs, o.messageBudget)
  log(`${nodes} nodes ${mode}: warm-up ${warm.run.commandsPerSec} commands/s, ${warm.run.slotsPerSec} slots/s`)
  const commands = o.quick ? warmCommands : commandsFor(warm.run.commandsPerSec, o.seconds, PROPOSE_CHUNK)
  const runs: RunResult[] = []
  for (let i = 0; i < o.repeats; i++) {
    const { run } = runOnce(nodes, mode, commands, o.tickMs, o.messageBudget)
    runs.push(run)
    log(`${nodes} nodes ${mode}: run ${i + 1}/${o.repeats}: ${run.commandsPerSec} commands/s, ${run.slotsPerSec} slots/s, ` +
      `${run.avgCommandsPerSlot} commands/slot, ${run.messagesPerSlot} messages/slot, ${run.seconds} s (${run.cpuSeconds} s CPU)`)
  }
  return {
    nodes,
    mode,
    config: numericConfig(warm.config),
    commandsPerRun: commands,
    warmup: warm.run,
    runs,
    commandsPerSec: stat(runs.map(r => r.commandsPerSec)),
    slotsPerSec: stat(runs.map(r => r.slotsPerSec)),
    commandsPerCpuSec: stat(runs.map(r => r.commandsPerCpuSec)),
    slotsPerCpuSec: stat(runs.map(r => r.slotsPerCpuSec)),
    avgCommandsPerSlot: stat(runs.map(r => r.avgCommandsPerSlot)),
    messagesPerSlot: stat(runs.map(r => r.messagesPerSlot))
  }
}

/** Runs the cases `argv` asks for; `log` receives progress lines. Throws UsageError, HelpRequested. */
export function main (argv: readonly string[], log: (line: string) => void = line => process.stderr.write(line + '\n')): BenchResult {
  return run(parseOptions(argv), log)
}

export function run (o: Options, log: (line: string) => void): BenchResult {
  const cases: CaseResult[] = []
  for (const n of o.nodes) {
    for (const mode of o.modes) cases.push(runCase(n, mode, o, log))
  }
  const b3 = cases.find(c => c.nodes === 3 && c.mode === 'batched')
  const u3 = cases.find(c => c.nodes === 3 && c.mode === 'unbatched')
  const result: BenchResult = {
    bench: 'core',
    ...machineInfo(),
    memoryBytes: totalmem(),
    storage: 'in-memory, no fsync',
    driver: 'CoreCluster: synchronous, in-process, FIFO delivery, no faults',
    options: {
      quick: o.quick,
      nodes: o.nodes,
      secondsPerRun: o.seconds,
      repeats: o.repeats,
      commandBytes: COMMAND_BYTES,
      proposeChunk: PROPOSE_CHUNK,
      tickMs: o.tickMs,
      messageBudget: o.messageBudget
    },
    targets: { batchedCommandsPerSec3: TARGET_BATCHED_3, unbatchedSlotsPerSec3: TARGET_UNBATCHED_3 },
    cases,
    targetsMet: b3 !== undefined && u3 !== undefined
      ? { batched3: b3.commandsPerSec.median >= TARGET_BATCHED_3, unbatched3: u3.slotsPerSec.median >= TARGET_UNBATCHED_3 }
      : undefined
  }
  return result
}

/** What the CLI prints on stdout for `format`. */
export function formatResult (r: BenchResult, format: OutputFormat): string {
  switch (format) {
    case 'json': return JSON.stringify(r, null, 2)
    case 'markdown': return markdownTable(r)
    case 'table': return textTable(r)
  }
}

const count = (x: number): string => Math.round(x).toLocaleString('en-US')
const spread = (s: Stat): string => `${count(s.median)} (${count(s.min)}–${count(s.max)})`
const batching = (c: CaseResult): string => c.mode === 'batched' ? `on (≤ ${c.config['batchCommandsMax'] ?? '?'})` : 'off'

/**
 * The terminal table: medians of the timed runs with their min–max, aligned columns, then the
 * 3-node targets. The JSON (--json) has every run and the resolved configuration.
 */
export function textTable (r: BenchResult): string {
  const header = ['nodes', 'batching', 'commands/s (min–max)', 'slots/s', 'commands/CPU-s', 'commands/slot', 'messages/slot']
  const rows = r.cases.map(c => [
    String(c.nodes), batching(c), spread(c.commandsPerSec), count(c.slotsPerSec.median),
    count(c.commandsPerCpuSec.median), String(c.avgCommandsPerSlot.median), String(c.messagesPerSlot.median)
  ])
  // Numbers right-aligned, words left-aligned.
  const left = new Set([1])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => left.has(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)).join('  ').trimEnd()
  const runs = r.options.quick ? 'quick (smoke test, not a measurement)' : `median of ${r.options.repeats} runs of about ${r.options.secondsPerRun} s`
  const lines = [
    `Core throughput: ${r.driver}; ${r.storage}`,
    `${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.platform}, ${r.date}`,
    `${runs}, ${r.options.commandBytes}-byte commands`,
    '',
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...rows.map(line)
  ]
  const met = (ok: boolean): string => ok ? 'met' : 'NOT met'
  if (r.options.quick) {
    lines.push('', 'targets: not judged (--quick)')
  } else if (r.targetsMet !== undefined) {
    lines.push('', `targets (3 nodes): batched ≥ ${count(r.targets.batchedCommandsPerSec3)} commands/s ${met(r.targetsMet.batched3)}; ` +
      `unbatched ≥ ${count(r.targets.unbatchedSlotsPerSec3)} slots/s ${met(r.targetsMet.unbatched3)}`)
  }
  return lines.join('\n')
}

/** The README table: medians, (min–max) of the repeats; CPU-s is process CPU time (see RunResult). */
export function markdownTable (r: BenchResult): string {
  const lines = [
    `Core throughput, ${r.cpu.model}, Node ${r.node}, ${r.storage}, ${r.date.slice(0, 10)}`,
    '',
    '| nodes | batching | commands/s | slots/s | commands/CPU-s | commands/slot | messages/slot |',
    '|---:|---|---:|---:|---:|---:|---:|'
  ]
  for (const c of r.cases) {
    lines.push(`| ${c.nodes} | ${batching(c)} | ${spread(c.commandsPerSec)} | ${spread(c.slotsPerSec)} | ` +
      `${count(c.commandsPerCpuSec.median)} | ` +
      `${c.avgCommandsPerSlot.median} | ${c.messagesPerSlot.median} |`)
  }
  return lines.join('\n')
}

/** The CLI: returns the exit code (0 done, 2 bad flags); a failure of the bench itself throws. */
export function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): number {
  const parsed = parseCli(() => parseOptions(argv), USAGE, out, err)
  if ('exit' in parsed) return parsed.exit
  const o = parsed.options
  const result = run(o, line => { err(line + '\n') })
  out(formatResult(result, o.format) + '\n')
  return 0
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  process.exitCode = cli(process.argv.slice(2), text => process.stdout.write(text), text => process.stderr.write(text))
}
