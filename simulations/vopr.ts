/**
 * `npm run sim -- --seeds 10000 --nodes 5 [--faults all|none|loss,crashes,…]`: many simulated
 * runs in parallel worker processes, with a summary and the failing seeds.
 * `npm run sim -- --seed N --trace`: replays one run with a readable trace.
 *
 * `--scenario rolling` runs the rolling-replacement scenario instead (every original member
 * crashed for good, one at a time, and replaced by a spare; src/sim/scenarios.ts) and adds
 * replacement-time statistics to the summary:
 *   npm run sim -- --scenario rolling --seeds 1000 [--nodes 3|5] [--replace-after-ticks 100]
 *   npm run sim -- --scenario rolling --seed N --trace
 * Each seed also draws (on a stream of its own) a harder schedule — none, crashFirstLearner,
 * crashLeaderMidReplacement (5 nodes only) or reviveReplaced — and a snapshot setting — off,
 * every 30 slots keeping 5, or every 200 keeping 50 — so the replay needs only the seed.
 *
 * Exit codes: 0 no violation, 1 violations found, 2 bad arguments.
 */
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { parseFaults, runSeed } from '../src/sim/vopr.js'
import type { RunOptions, RunResult, RunStats } from '../src/sim/vopr.js'
import { SIM_MUTATIONS } from '../src/sim/cluster.js'
import type { SimMutations } from '../src/sim/cluster.js'
import { Prng } from '../src/sim/prng.js'
import { runRollingReplacement } from '../src/sim/scenarios.js'
import type { ReplacementTiming } from '../src/sim/scenarios.js'
import type { HistoryEvent } from '../src/sim/lincheck/index.js'

/** What every worker report carries, whatever the scenario. */
interface BaseReport {
  readonly seed: number
  readonly ok: boolean
  readonly violations: RunResult['violations']
}

interface SeedReport extends BaseReport {
  readonly stats: RunStats
}

type Scenario = 'vopr' | 'rolling'
const SCENARIOS: readonly Scenario[] = ['vopr', 'rolling']

/** The rolling scenario's knobs for one seed (what the replay needs is the seed plus the flags). */
interface RollingParams {
  readonly nodes: number
  readonly replaceAfterTicks: number
  readonly lossRate: number
  readonly pipelineMax: number
  readonly variant: RollingVariant
  /** 0 = no snapshots (the log is never compacted). */
  readonly snapshotEverySlots: number
  readonly logRetentionSlots: number
}

/** The harder schedules of runRollingReplacement (src/sim/scenarios.ts), or none. */
type RollingVariant = 'none' | 'crashFirstLearner' | 'crashLeaderMidReplacement' | 'reviveReplaced'
const VARIANTS: readonly RollingVariant[] = ['none', 'crashFirstLearner', 'crashLeaderMidReplacement', 'reviveReplaced']
/**
 * Snapshot settings: off; frequent with a short retention (nearly every replacement learner
 * catches up by snapshot); rarer with a longer retention (a mix of log and snapshot catch-up).
 */
const SNAPSHOT_SETTINGS = [
  { snapshotEverySlots: 0, logRetentionSlots: 0 },
  { snapshotEverySlots: 30, logRetentionSlots: 5 },
  { snapshotEverySlots: 200, logRetentionSlots: 50 }
] as const

function snapshotLabel (p: Pick<RollingParams, 'snapshotEverySlots' | 'logRetentionSlots'>): string {
  return p.snapshotEverySlots === 0 ? 'off' : `${p.snapshotEverySlots}/${p.logRetentionSlots}`
}

interface RollingReport extends BaseReport {
  readonly params: RollingParams
  readonly timings: readonly ReplacementTiming[]
  readonly opsOk: number
  readonly slots: number
  /** Snapshots received from a peer and installed during the run. */
  readonly snapshotInstalls: number
}

/** The simulator's tick (SimCluster's default), to express replaceAfterTicks in ms. */
const TICK_MS = 10
const LOSS_RATES = [0, 0.02, 0.1] as const
const PIPELINE_MAX = [1, 4, 32] as const
/** Failures listed in full in the rolling summary; the rest are only in failingSeeds. */
const FAILURES_LISTED = 50

/** Every test-only mutation (PaxosMutations and SimMutations); test/sim/mutations.spec.ts proves each is caught. */
const MUTATIONS: readonly string[] = SIM_MUTATIONS

const HELP = `usage: npm run sim -- [options]

Deterministic simulation runs of real VirtualPeers.

  --seeds N, --first S     run seeds S … S+N−1 (default 100 seeds from 1) in worker processes
  --seed N --trace         replay one seed with a readable trace (--history FILE writes its client history)
  --nodes N                cluster size (any count ≥ 1; odd ones make sense); default: each seed draws 3 or 5
  --alpha N                α, the pipeline depth and reconfiguration window; default: each seed draws 1, 4 or 32
  --faults LIST            all (default), none, or loss,duplication,reordering,crashes,partitions,oneWay,clockSkew,membership
                           (add persistCrash for crashes right after a durable persist, before the send)
  --intensity I            swarm (default: intensities drawn per seed) or nemesis (a crash every ~80 ms, 20 % loss)
  --mutation NAME          run a deliberately broken protocol (one of: ${MUTATIONS.join(', ')})
  --no-retry-jitter        retries without jitter: replays seeds published before retry jitter existed
  --scenario rolling       rolling replacement instead (--nodes, --replace-after-ticks N, --alpha)
  --workers W              parallel worker processes (default: one per CPU)
  --json                   the summary as JSON only

Exit codes: 0 no violation, 1 violations found (each failing seed is printed with its replay
command), 2 bad arguments. In the summary, clientOps.failed are operations known not to have
taken effect (a cas whose expected value did not match, a read that got no answer, a write no
replica was reachable for); clientOps.unknown are writes that reached a replica but whose outcome
the client never learned (applied or not: the linearizability checker allows both).
`

function usage (message: string): never {
  process.stderr.write(`${message}\nusage: npm run sim -- [--scenario vopr|rolling] [--seeds N] [--first S] [--seed N --trace] [--nodes N (any count ≥ 1; odd counts make sense: 3, 5, 7, …)] [--alpha N] [--faults all|none|loss,duplication,reordering,crashes,partitions,oneWay,clockSkew,membership,persistCrash (e.g. all,persistCrash)] [--intensity swarm|nemesis] [--workers W] [--json] [--history FILE] [--mutation ${MUTATIONS.join('|')}] [--no-retry-jitter] [--replace-after-ticks N (rolling)]\n`)
  process.exit(2)
}

interface Args {
  readonly scenario: Scenario
  readonly options: Omit<RunOptions, 'seed'>
  /** Rolling scenario: a fixed cluster size (else the seed picks) and the replacement timeout. */
  readonly rolling: { readonly nodes?: number, readonly alpha?: number, readonly replaceAfterTicks: number }
  readonly seeds: number[]
  readonly trace: boolean
  readonly workers: number
  readonly json: boolean
  readonly history?: string
  readonly worker: boolean
  /** `--scenario …` when not the default; kept apart so a replay command names it first. */
  readonly scenarioArgv: string[]
  readonly argv: string[]
}

function parse (): Args {
  let values
  try {
    values = parseArgs({
      options: {
        seeds: { type: 'string' },
        first: { type: 'string' },
        seed: { type: 'string' },
        nodes: { type: 'string' },
        faults: { type: 'string' },
        intensity: { type: 'string' },
        mutation: { type: 'string' },
        trace: { type: 'boolean' },
        workers: { type: 'string' },
        json: { type: 'boolean' },
        history: { type: 'string' },
        worker: { type: 'boolean' },
        scenario: { type: 'string' },
        'replace-after-ticks': { type: 'string' },
        alpha: { type: 'string' },
        'no-retry-jitter': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true
    }).values
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error))
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer ≥ ${min}`)
    return n
  }
  if (values.help === true) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const scenario = values.scenario ?? 'vopr'
  if (!(SCENARIOS as readonly string[]).includes(scenario)) usage(`unknown --scenario ${scenario} (expected ${SCENARIOS.join(' or ')})`)
  const rolling = scenario === 'rolling'
  // Flags of the other scenario would be silently ignored; refusing them avoids runs that do
  // not test what the user thinks they test.
  if (rolling) {
    for (const flag of ['faults', 'intensity', 'mutation'] as const) if (values[flag] !== undefined) usage(`--${flag} applies to --scenario vopr only`)
  } else if (values['replace-after-ticks'] !== undefined) {
    usage('--replace-after-ticks applies to --scenario rolling only')
  }
  // Fewer than 3 voters cannot lose one and keep a majority, so rolling needs at least 3.
  const nodes = int('nodes', values.nodes, rolling ? 3 : 1)
  const alpha = int('alpha', values.alpha, 1)
  const replaceAfterTicks = int('replace-after-ticks', values['replace-after-ticks'], 1) ?? 100
  let faults
  try { faults = parseFaults(values.faults ?? 'all') } catch (error) { usage((error as Error).message) }
  const intensity = values.intensity ?? 'swarm'
  if (intensity !== 'swarm' && intensity !== 'nemesis') usage('--intensity must be swarm or nemesis')
  let mutations: SimMutations | undefined
  if (values.mutation !== undefined) {
    if (!MUTATIONS.includes(values.mutation)) usage(`unknown --mutation ${values.mutation}`)
    mutations = { [values.mutation]: true }
  }
  const single = int('seed', values.seed, 0)
  const first = int('first', values.first, 0) ?? 1
  const count = int('seeds', values.seeds, 1) ?? 100
  const seeds = single !== undefined ? [single] : Array.from({ length: count }, (_, i) => first + i)
  const options: Omit<RunOptions, 'seed'> = {
    faults,
    intensity,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(alpha !== undefined ? { alpha } : {}),
    ...(mutations !== undefined ? { mutations } : {}),
    ...(values['no-retry-jitter'] === true ? { retryJitter: false } : {})
  }
  // Arguments a worker or a replay needs to reproduce the same runs.
  const argv: string[] = []
  if (values.nodes !== undefined) argv.push('--nodes', values.nodes)
  if (values.alpha !== undefined) argv.push('--alpha', values.alpha)
  if (values.faults !== undefined) argv.push('--faults', values.faults)
  if (values.intensity !== undefined) argv.push('--intensity', values.intensity)
  if (values.mutation !== undefined) argv.push('--mutation', values.mutation)
  if (values['no-retry-jitter'] === true) argv.push('--no-retry-jitter')
  if (values['replace-after-ticks'] !== undefined) argv.push('--replace-after-ticks', values['replace-after-ticks'])
  return {
    scenario: scenario as Scenario,
    rolling: { replaceAfterTicks, ...(nodes !== undefined ? { nodes } : {}), ...(alpha !== undefined ? { alpha } : {}) },
    scenarioArgv: values.scenario !== undefined ? ['--scenario', values.scenario] : [],
    options,
    seeds,
    trace: values.trace === true,
    workers: Math.max(1, int('workers', values.workers, 1) ?? cpus().length),
    json: values.json === true,
    ...(values.history !== undefined ? { history: values.history } : {}),
    worker: values.worker === true,
    argv
  }
}

function countBy<T> (items: readonly T[], label: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) { const k = label(item); out[k] = (out[k] ?? 0) + 1 }
  return out
}

function replayCommand (seed: number, argv: readonly string[], scenarioArgv: readonly string[] = []): string {
  return `npm run sim -- ${[...scenarioArgv, '--seed', String(seed), '--trace', ...argv].join(' ')}`.trim()
}

/**
 * The seed's draw of the rolling knobs. Every draw happens whatever the flags, so fixing
 * --nodes does not change a seed's loss rate or pipeline depth.
 */
function rollingParams (seed: number, fixed: Args['rolling']): RollingParams {
  const prng = new Prng(seed).fork('rolling')
  const drawnNodes = prng.chance(0.5) ? 3 : 5
  const nodes = fixed.nodes ?? drawnNodes
  const lossRate = prng.pick(LOSS_RATES)
  const drawnAlpha = prng.pick(PIPELINE_MAX)
  // A stream of its own, so the draws above (and so every earlier seed's run) stay as they were.
  const hard = new Prng(seed).fork('rolling-hard')
  const drawnVariant = hard.pick(VARIANTS)
  const snapshots = hard.pick(SNAPSHOT_SETTINGS)
  return {
    nodes,
    replaceAfterTicks: fixed.replaceAfterTicks,
    lossRate,
    pipelineMax: fixed.alpha ?? drawnAlpha,
    // Crashing the leader as well as the victim leaves a majority alive only with ≥ 5 voters.
    variant: drawnVariant === 'crashLeaderMidReplacement' && nodes < 5 ? 'none' : drawnVariant,
    snapshotEverySlots: snapshots.snapshotEverySlots,
    logRetentionSlots: snapshots.logRetentionSlots
  }
}

async function runRolling (seed: number, fixed: Args['rolling'], trace?: (line: string) => void): Promise<RollingReport & { history: readonly HistoryEvent[] }> {
  const params = rollingParams(seed, fixed)
  try {
    const r = await runRollingReplacement({
      seed,
      nodes: params.nodes,
      replaceAfterTicks: params.replaceAfterTicks,
      lossRate: params.lossRate,
      pipelineMax: params.pipelineMax,
      ...(params.variant !== 'none' ? { [params.variant]: true } : {}),
      snapshotEverySlots: params.snapshotEverySlots,
      ...(params.snapshotEverySlots > 0 ? { logRetentionSlots: params.logRetentionSlots } : {}),
      ...(trace !== undefined ? { trace } : {})
    })
    return { seed, ok: r.ok, violations: r.violations, params, timings: r.timings, opsOk: r.opsOk, slots: r.slots, snapshotInstalls: r.snapshotInstalls, history: r.history }
  } catch (error) {
    // As runSeed does for vopr: an exception is a finding with a seed, not a dead worker.
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    return { seed, ok: false, violations: [{ kind: 'crash', message, time: 0 }], params, timings: [], opsOk: 0, slots: 0, snapshotInstalls: 0, history: [] }
  }
}

async function runOneRolling (seed: number, args: Args): Promise<number> {
  const r = await runRolling(seed, args.rolling, line => { process.stdout.write(line + '\n') })
  if (args.history !== undefined) writeFileSync(args.history, r.history.map(e => JSON.stringify(e)).join('\n') + '\n')
  process.stdout.write(`\nseed ${seed}: ${JSON.stringify({ ...r.params, opsOk: r.opsOk, slots: r.slots, snapshotInstalls: r.snapshotInstalls })}\n`)
  for (const t of r.timings) {
    process.stdout.write(`  ${t.crashed}${t.wasLeader ? ' (leader)' : ''} → ${t.replacement ?? 'not replaced'}${t.ms !== undefined ? ` in ${Math.round(t.ms)} ms` : ''}\n`)
  }
  if (r.ok) {
    process.stdout.write('no violations\n')
    return 0
  }
  for (const v of r.violations) process.stdout.write(`VIOLATION ${v.kind} at T=${(v.time / 1000).toFixed(3)}: ${v.message}\n`)
  process.stdout.write(`reproduce with: ${replayCommand(seed, args.argv, args.scenarioArgv)}\n`)
  return 1
}

async function runOne (seed: number, options: Omit<RunOptions, 'seed'>, argv: readonly string[], history?: string): Promise<number> {
  const result = await runSeed({ ...options, seed, trace: line => { process.stdout.write(line + '\n') } })
  if (history !== undefined) writeFileSync(history, result.history.map(e => JSON.stringify(e)).join('\n') + '\n')
  process.stdout.write(`\nseed ${seed}: ${JSON.stringify(result.stats)}\n`)
  if (result.ok) {
    process.stdout.write('no violations\n')
    return 0
  }
  for (const v of result.violations) process.stdout.write(`VIOLATION ${v.kind} at T=${(v.time / 1000).toFixed(3)}: ${v.message}\n`)
  process.stdout.write(`reproduce with: ${replayCommand(seed, argv)}\n`)
  return 1
}

/** Worker side: runs the seeds it is given and reports each over IPC. */
async function workerMain (seeds: readonly number[], args: Args): Promise<void> {
  for (const seed of seeds) {
    let report: SeedReport | RollingReport
    if (args.scenario === 'rolling') {
      // The history stays in the worker: the summary does not need it and it can be large.
      const { history: _history, ...rest } = await runRolling(seed, args.rolling)
      report = rest
    } else {
      const r = await runSeed({ ...args.options, seed })
      report = { seed, ok: r.ok, stats: r.stats, violations: r.violations }
    }
    await new Promise<void>((resolve, reject) => { process.send?.(report, (err: Error | null) => { if (err !== null) reject(err); else resolve() }) })
  }
}

/**
 * Forks the workers, hands each its share of the seeds, prints failing seeds as they arrive.
 * `argv` already starts with `--scenario …` when one was given, so workers run the same scenario.
 */
async function runWorkers<R extends BaseReport> (seeds: readonly number[], workers: number, argv: readonly string[], replayArgv: readonly string[], scenarioArgv: readonly string[], json: boolean): Promise<R[]> {
  const n = Math.min(workers, seeds.length)
  const reports: R[] = []
  const showBar = process.stderr.isTTY && process.env.CI === undefined && !json
  const bar = showBar ? new cliProgress.SingleBar({ format: 'sim [{bar}] {value}/{total} seeds | {failed} failing | {eta_formatted} left', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined
  bar?.start(seeds.length, 0, { failed: 0 })
  let failed = 0
  const self = fileURLToPath(import.meta.url)
  await Promise.all(Array.from({ length: n }, async (_, w) => {
    const mine = seeds.filter((_, i) => i % n === w)
    const child = fork(self, ['--worker', '--seeds', String(mine.length), ...argv, '--first', '0'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    child.send(mine)
    child.on('message', (m: R) => {
      reports.push(m)
      if (!m.ok) {
        failed++
        bar?.increment(1, { failed })
        const line = `FAIL seed ${m.seed}: ${m.violations.map(v => `${v.kind}: ${v.message.split('\n')[0]}`).join(' | ')}\n  reproduce with: ${replayCommand(m.seed, replayArgv, scenarioArgv)}\n`
        if (bar !== undefined) bar.stop()
        process.stderr.write(line)
        if (bar !== undefined) bar.start(seeds.length, reports.length, { failed })
      } else {
        bar?.increment(1, { failed })
      }
    })
    await new Promise<void>((resolve, reject) => {
      child.on('exit', code => { if (code === 0) resolve(); else reject(new Error(`worker ${w} exited with ${code}`)) })
      child.on('error', reject)
    })
  }))
  bar?.stop()
  return reports
}

async function coordinator (seeds: readonly number[], workers: number, argv: readonly string[], scenarioArgv: readonly string[], json: boolean): Promise<number> {
  const started = Date.now()
  const reports = await runWorkers<SeedReport>(seeds, workers, [...scenarioArgv, ...argv], argv, scenarioArgv, json)
  const failed = reports.filter(r => !r.ok).length
  const sum = (f: (s: RunStats) => number): number => reports.reduce((a, r) => a + f(r.stats), 0)
  const byKind: Record<string, number> = {}
  for (const r of reports) for (const v of r.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1
  const summary = {
    seeds: reports.length,
    passed: reports.filter(r => r.ok).length,
    failed,
    failingSeeds: reports.filter(r => !r.ok).map(r => r.seed).sort((a, b) => a - b),
    violations: byKind,
    // Runs by cluster size (the seed draws 3 or 5 unless --nodes fixes it).
    nodes: countBy(reports, r => String(r.stats.nodes)),
    slotsChosen: sum(s => s.slots),
    commandsCommitted: sum(s => s.commandsChosen),
    clientOps: { ok: sum(s => s.opsOk), failed: sum(s => s.opsFailed), unknown: sum(s => s.opsUnknown) },
    faults: { crashes: sum(s => s.crashes), partitions: sum(s => s.partitions), messagesDropped: sum(s => s.messagesDropped), messagesSent: sum(s => s.messagesSent) },
    lincheck: { linearizable: reports.filter(r => r.stats.lincheck === 'linearizable').length, undecided: reports.filter(r => r.stats.lincheck === 'undecided').length },
    virtualSeconds: Math.round(sum(s => s.virtualMs) / 1000),
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    command: `npm run sim -- --seeds ${seeds.length} --first ${seeds[0] ?? 1} ${argv.join(' ')}`.trim()
  }
  process.stdout.write(JSON.stringify(summary, null, json ? 0 : 2) + '\n')
  return failed === 0 ? 0 : 1
}

interface TimeStats {
  readonly count: number
  readonly mean: number | null
  readonly p50: number | null
  readonly p95: number | null
  readonly max: number | null
}

/** Mean and nearest-rank percentiles, ms rounded to 1; null fields for an empty sample. */
function timeStats (xs: readonly number[]): TimeStats {
  if (xs.length === 0) return { count: 0, mean: null, p50: null, p95: null, max: null }
  const s = [...xs].sort((a, b) => a - b)
  const rank = (q: number): number => s[Math.max(0, Math.ceil(q * s.length) - 1)] ?? NaN
  const r1 = (x: number): number => Math.round(x * 10) / 10
  return { count: s.length, mean: r1(s.reduce((a, x) => a + x, 0) / s.length), p50: r1(rank(0.5)), p95: r1(rank(0.95)), max: r1(s[s.length - 1] ?? NaN) }
}

async function rollingCoordinator (args: Args): Promise<number> {
  const started = Date.now()
  const { seeds } = args
  const reports = await runWorkers<RollingReport>(seeds, args.workers, [...args.scenarioArgv, ...args.argv], args.argv, args.scenarioArgv, args.json)
  reports.sort((a, b) => a.seed - b.seed)
  const failing = reports.filter(r => !r.ok)
  const byKind: Record<string, number> = {}
  for (const r of reports) for (const v of r.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1
  const timings = reports.flatMap(r => r.timings)
  const done = timings.filter((t): t is ReplacementTiming & { ms: number } => t.ms !== undefined)
  const count = <K extends 'nodes' | 'lossRate' | 'pipelineMax' | 'variant'>(key: K): Record<string, number> => countBy(reports, r => String(r.params[key]))
  /** Seeds, failures and snapshot installs per value of one drawn knob. */
  const breakdown = (label: (r: RollingReport) => string): Record<string, { seeds: number, failed: number, snapshotInstalls: number }> => {
    const out: Record<string, { seeds: number, failed: number, snapshotInstalls: number }> = {}
    for (const r of reports) {
      const b = out[label(r)] ?? { seeds: 0, failed: 0, snapshotInstalls: 0 }
      out[label(r)] = { seeds: b.seeds + 1, failed: b.failed + (r.ok ? 0 : 1), snapshotInstalls: b.snapshotInstalls + r.snapshotInstalls }
    }
    return out
  }
  const summary = {
    scenario: 'rolling',
    seeds: reports.length,
    passed: reports.length - failing.length,
    failed: failing.length,
    failingSeeds: failing.map(r => r.seed),
    failures: failing.slice(0, FAILURES_LISTED).map(r => ({
      seed: r.seed,
      params: r.params,
      violations: r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`),
      replay: replayCommand(r.seed, args.argv, args.scenarioArgv)
    })),
    violations: byKind,
    params: {
      replaceAfterTicks: args.rolling.replaceAfterTicks,
      replaceAfterMs: args.rolling.replaceAfterTicks * TICK_MS,
      nodes: count('nodes'),
      lossRate: count('lossRate'),
      pipelineMax: count('pipelineMax'),
      variant: count('variant'),
      snapshots: countBy(reports, r => snapshotLabel(r.params))
    },
    byVariant: breakdown(r => r.params.variant),
    bySnapshots: breakdown(r => snapshotLabel(r.params)),
    // Installs of a snapshot received from a peer (a replacement learner, or a member that fell
    // behind the compaction point), and how many runs had at least one.
    snapshotInstalls: { total: reports.reduce((a, r) => a + r.snapshotInstalls, 0), runsWithInstalls: reports.filter(r => r.snapshotInstalls > 0).length },
    replacements: { attempted: timings.length, completed: done.length, notReplaced: timings.length - done.length },
    // Virtual ms from a member's permanent crash to the configuration in which its replacement
    // votes; sampled every 50 ms by the scenario, so that is the resolution.
    replacementMs: {
      all: timeStats(done.map(t => t.ms)),
      leader: timeStats(done.filter(t => t.wasLeader).map(t => t.ms)),
      nonLeader: timeStats(done.filter(t => !t.wasLeader).map(t => t.ms))
    },
    clientOpsOk: reports.reduce((a, r) => a + r.opsOk, 0),
    slotsChosen: reports.reduce((a, r) => a + r.slots, 0),
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    command: `npm run sim -- ${[...args.scenarioArgv, '--seeds', String(seeds.length), '--first', String(seeds[0] ?? 1), ...args.argv].join(' ')}`
  }
  process.stdout.write(JSON.stringify(summary, null, args.json ? 0 : 2) + '\n')
  return failing.length === 0 ? 0 : 1
}

// `npm run sim -- --seed 3 --trace | head` closes the pipe early: the reader is done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

async function main (): Promise<void> {
  const args = parse()
  if (args.worker) {
    const seeds = await new Promise<number[]>(resolve => { process.once('message', m => { resolve(m as number[]) }) })
    await workerMain(seeds, args)
    process.disconnect?.()
    return
  }
  if (args.scenario === 'rolling') {
    process.exitCode = args.trace || args.seeds.length === 1 ? await runOneRolling(args.seeds[0] ?? 1, args) : await rollingCoordinator(args)
    return
  }
  if (args.trace || args.seeds.length === 1) {
    process.exitCode = await runOne(args.seeds[0] ?? 1, args.options, args.argv, args.history)
    return
  }
  process.exitCode = await coordinator(args.seeds, args.workers, args.argv, args.scenarioArgv, args.json)
}

await main()
