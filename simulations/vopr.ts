/**
 * `npm run sim -- --seeds 10000 --nodes 5 [--faults all|none|loss,crashes,…]`: many simulated
 * runs in parallel worker processes, with a summary and the failing seeds.
 * `npm run sim -- --seed N --trace`: replays one run with a readable trace.
 *
 * Exit codes: 0 no violation, 1 violations found, 2 bad arguments.
 */
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { parseFaults, runSeed } from '../src/sim/vopr.ts'
import type { RunOptions, RunResult, RunStats } from '../src/sim/vopr.ts'
import type { SimMutations } from '../src/sim/cluster.ts'

interface SeedReport {
  readonly seed: number
  readonly ok: boolean
  readonly stats: RunStats
  readonly violations: RunResult['violations']
}

const MUTATIONS = ['skipPhase1', 'unsafeLocalReads', 'applyTwice', 'forgetPromiseOnRestart', 'forgetVotesOnRestart', 'reconfigureAtNextSlot'] as const

function usage (message: string): never {
  process.stderr.write(`${message}\nusage: npm run sim -- [--seeds N] [--first S] [--seed N --trace] [--nodes 3|5] [--faults all|none|loss,duplication,reordering,crashes,partitions,oneWay,clockSkew] [--intensity swarm|nemesis] [--workers W] [--json] [--history FILE] [--mutation ${MUTATIONS.join('|')}]\n`)
  process.exit(2)
}

function parse (): { options: Omit<RunOptions, 'seed'>, seeds: number[], trace: boolean, workers: number, json: boolean, history?: string, worker: boolean, argv: string[] } {
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
        worker: { type: 'boolean' }
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
  const nodes = int('nodes', values.nodes, 1)
  let faults
  try { faults = parseFaults(values.faults ?? 'all') } catch (error) { usage((error as Error).message) }
  const intensity = values.intensity ?? 'swarm'
  if (intensity !== 'swarm' && intensity !== 'nemesis') usage('--intensity must be swarm or nemesis')
  let mutations: SimMutations | undefined
  if (values.mutation !== undefined) {
    if (!(MUTATIONS as readonly string[]).includes(values.mutation)) usage(`unknown --mutation ${values.mutation}`)
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
    ...(mutations !== undefined ? { mutations } : {})
  }
  // Arguments a worker or a replay needs to reproduce the same runs.
  const argv: string[] = []
  if (values.nodes !== undefined) argv.push('--nodes', values.nodes)
  if (values.faults !== undefined) argv.push('--faults', values.faults)
  if (values.intensity !== undefined) argv.push('--intensity', values.intensity)
  if (values.mutation !== undefined) argv.push('--mutation', values.mutation)
  return {
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

function replayCommand (seed: number, argv: readonly string[]): string {
  return `npm run sim -- --seed ${seed} --trace ${argv.join(' ')}`.trim()
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
async function workerMain (seeds: readonly number[], options: Omit<RunOptions, 'seed'>): Promise<void> {
  for (const seed of seeds) {
    const r = await runSeed({ ...options, seed })
    const report: SeedReport = { seed, ok: r.ok, stats: r.stats, violations: r.violations }
    await new Promise<void>((resolve, reject) => { process.send?.(report, (err: Error | null) => { if (err !== null) reject(err); else resolve() }) })
  }
}

async function coordinator (seeds: readonly number[], workers: number, argv: readonly string[], json: boolean): Promise<number> {
  const started = Date.now()
  const n = Math.min(workers, seeds.length)
  const reports: SeedReport[] = []
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
    child.on('message', (m: SeedReport) => {
      reports.push(m)
      if (!m.ok) {
        failed++
        bar?.increment(1, { failed })
        const line = `FAIL seed ${m.seed}: ${m.violations.map(v => `${v.kind}: ${v.message.split('\n')[0]}`).join(' | ')}\n  reproduce with: ${replayCommand(m.seed, argv)}\n`
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
  const sum = (f: (s: RunStats) => number): number => reports.reduce((a, r) => a + f(r.stats), 0)
  const byKind: Record<string, number> = {}
  for (const r of reports) for (const v of r.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1
  const summary = {
    seeds: reports.length,
    passed: reports.filter(r => r.ok).length,
    failed,
    failingSeeds: reports.filter(r => !r.ok).map(r => r.seed).sort((a, b) => a - b),
    violations: byKind,
    nodes: { 3: reports.filter(r => r.stats.nodes === 3).length, 5: reports.filter(r => r.stats.nodes === 5).length, other: reports.filter(r => r.stats.nodes !== 3 && r.stats.nodes !== 5).length },
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

async function main (): Promise<void> {
  const args = parse()
  if (args.worker) {
    const seeds = await new Promise<number[]>(resolve => { process.once('message', m => { resolve(m as number[]) }) })
    await workerMain(seeds, args.options)
    process.disconnect?.()
    return
  }
  if (args.trace || args.seeds.length === 1) {
    process.exitCode = await runOne(args.seeds[0] ?? 1, args.options, args.argv, args.history)
    return
  }
  process.exitCode = await coordinator(args.seeds, args.workers, args.argv, args.json)
}

await main()
