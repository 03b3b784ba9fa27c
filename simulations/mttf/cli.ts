/**
 * `npm run sim:mttf -- --members 1,3,5,7,9 --peer-mttf 1m,5m,10m,30m,1h,6h,1d --repair 60s \
 *    --dist exp --repair-mode parallel --runs 20000 --seed 1 --out results/`
 *
 * Prints one JSON object (parameters + rows, and with --real-runs > 0 the real-code points) on
 * stdout; with --out also writes mttf.json, mttf.md and the SVG charts there. Bad flags: message
 * on stderr, exit status 2; a real-code run that hit a safety violation: exit status 1.
 */
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import cliProgress from 'cli-progress'
import { parseCli, USAGE, type CliConfig } from './args.js'
import { formatDuration } from './duration.js'
import { MttfError } from './errors.js'
import {
  MIN_LAMBDA_R, planGridRealPoints, realVsModelTable, reportPoint, RUNNER_DEFAULTS, runRealPoints,
  type PointReport, type RealSkip, type RunnerConfig
} from './real-runner.js'
import { parseRealPoints, writeOutputs, type RealCodePoint } from './render.js'
import { gridSize, runStudy, type MttfRow } from './study.js'

interface RealPart {
  readonly reports: PointReport[]
  readonly skipped: RealSkip[]
  /** Model rows chart 2 needs for non-exponential G that the grid does not have (serial-only grids). */
  readonly extraModelRows: MttfRow[]
  readonly parameters: Record<string, unknown>
}

/**
 * `--real-runs`: the grid's feasible points on the real code (real-runner.ts, the machinery of
 * real-cli.ts with its defaults: R = 2 s of virtual time, results scaled to the grid's R).
 * Returns a failure message instead if a run hit a safety violation.
 */
async function runRealPart (cfg: CliConfig, rows: readonly MttfRow[]): Promise<RealPart | string> {
  const runner: RunnerConfig = {
    runs: cfg.realRuns,
    seed: cfg.study.seed,
    ...RUNNER_DEFAULTS,
    detectTicks: undefined,
    workers: cpus().length,
    progress: cfg.progress
  }
  const plan = planGridRealPoints(cfg.grid, runner)
  // One line per skipped N, one per R for the λR skips (the same for every N run), not one per point.
  for (const s of plan.skipped) if (s.lambdaR === undefined) process.stderr.write(`sim:mttf: real code: skipped N = ${s.members} (${s.reason})\n`)
  const byR = new Map<number, Map<number, number>>()
  for (const s of plan.skipped) {
    if (s.lambdaR === undefined || s.repairS === undefined || s.peerMttfS === undefined) continue
    const m = byR.get(s.repairS) ?? new Map<number, number>()
    m.set(s.peerMttfS, s.lambdaR)
    byR.set(s.repairS, m)
  }
  for (const [repairS, m] of byR) {
    const peers = [...m.keys()].sort((a, b) => a - b)
    process.stderr.write(`sim:mttf: real code: skipped λR < ${MIN_LAMBDA_R} (lives too long to simulate in minutes): R = ${formatDuration(repairS)}, peer MTTF ${peers.map(formatDuration).join(', ')} (λR = ${peers.map(p => Number((m.get(p) ?? 0).toPrecision(3))).join(', ')})\n`)
  }
  const t0 = performance.now()
  const { results, failure } = await runRealPoints(runner, plan.points)
  const wallS = (performance.now() - t0) / 1000
  if (failure !== undefined) return failure
  // Chart 2's model for non-exponential G is Monte Carlo with parallel repair (the replacement
  // policy behaves like parallel repair; README section 3). Per-point sub-streams make a row
  // computed here bit-identical to the grid's own, so reuse those and compute only what is missing.
  const extraModelRows: MttfRow[] = []
  const reports = plan.targets.map(t => {
    let row: MttfRow | undefined
    if (t.dist !== 'exp') {
      const same = (r: MttfRow): boolean => r.members === t.members && r.peerMttfS === t.peerMttfS && r.repairS === t.repairS && r.dist === t.dist && r.repairMode === 'parallel'
      row = rows.find(same) ?? extraModelRows.find(same)
      if (row === undefined) {
        row = runStudy({ members: [t.members], peerMttfS: [t.peerMttfS], repairS: [t.repairS], dists: [t.dist], repairModes: ['parallel'] }, cfg.study)[0]
        if (row !== undefined) extraModelRows.push(row)
      }
    }
    return { ...reportPoint(runner, t.realPoint, results[t.point] ?? [], t.repairS, row), peerMttfS: t.peerMttfS }
  })
  const virtualS = results.flat().reduce((a, r) => a + r.virtualMs, 0) / 1000
  if (plan.points.length === 0) process.stderr.write('sim:mttf: real code: no feasible point in this grid\n')
  else process.stderr.write(`sim:mttf: real code: ${results.flat().length} lifetimes (${plan.points.length} points × ${cfg.realRuns}), ${Math.round(virtualS)} virtual s, in ${wallS.toFixed(1)} s wall with ${runner.workers} workers\n`)
  return {
    reports,
    skipped: plan.skipped,
    extraModelRows,
    parameters: {
      runs: cfg.realRuns,
      seedOfRunI: `${cfg.study.seed}·100000 + i`,
      members: [...new Set(plan.points.map(p => p.members))],
      lambdaR: [...new Set(plan.points.map(p => p.lambdaR))],
      minLambdaR: MIN_LAMBDA_R,
      virtualRepairS: runner.repairMs / 1000,
      horizonX: runner.horizonX,
      stallR: runner.stallR,
      replaceAfterTicks: results.flat()[0]?.replaceAfterTicks ?? null,
      tickMs: 10,
      workers: runner.workers,
      wallSeconds: Math.round(wallS * 10) / 10,
      virtualSeconds: Math.round(virtualS)
    }
  }
}

async function main (): Promise<number> {
  let cfg: CliConfig
  try {
    cfg = parseCli(process.argv.slice(2), process.env, process.stderr.isTTY === true)
  } catch (e) {
    if (e instanceof MttfError) {
      process.stderr.write(`sim:mttf: ${e.message}\n${USAGE}\n`)
      return 2
    }
    throw e
  }
  if (cfg.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  let real: RealCodePoint[] | undefined
  if (cfg.real !== undefined) {
    try {
      real = parseRealPoints(JSON.parse(await readFile(cfg.real, 'utf8')))
    } catch (e) {
      process.stderr.write(`sim:mttf: --real ${cfg.real}: ${(e as Error).message}\n`)
      return 2
    }
  }

  const points = gridSize(cfg.grid)
  const bar = cfg.progress
    ? new cliProgress.SingleBar({
      stream: process.stderr,
      format: 'sim:mttf [{bar}] {percentage}% | {value}/{total} grid points | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true
    }, cliProgress.Presets.shades_classic)
    : undefined
  bar?.start(points, 0)
  const t0 = performance.now()
  const rows = runStudy(cfg.grid, cfg.study, bar ? (done) => bar.update(Math.round(done * 100) / 100) : undefined)
  bar?.stop()
  const elapsedS = (performance.now() - t0) / 1000
  process.stderr.write(`sim:mttf: ${points} grid points in ${elapsedS.toFixed(1)} s\n`)

  let realPart: RealPart | undefined
  if (cfg.realRuns > 0) {
    const r = await runRealPart(cfg, rows)
    if (typeof r === 'string') {
      process.stderr.write(`sim:mttf: real code: FAILED ${r}\n`)
      return 1
    }
    realPart = r
  }

  const output = {
    parameters: {
      members: cfg.grid.members,
      peerMttfS: cfg.grid.peerMttfS,
      repairS: cfg.grid.repairS,
      dists: cfg.grid.dists,
      repairModes: cfg.grid.repairModes,
      runs: cfg.study.runs,
      seed: cfg.study.seed,
      estimator: cfg.study.estimator,
      failureBias: cfg.study.failureBias ?? null
    },
    notes: [
      'Times are in seconds; lambda is per second. VP fails when ceil(N/2) members are down at once.',
      'dist "uniform" is U(0, R), whose mean is R/2 (not R).',
      'analyticS: exact CTMC mean first-passage time, exponential G only (null otherwise).',
      'estimator "regenerative+is": MTTF = E[cycle] / P(cycle fails), P by importance sampling; "regenerative": same with plain sampling; "direct": mean of simulated lifetimes. CIs are 95 %.'
    ],
    rows,
    // Only with --real-runs > 0, so that --real-runs 0 writes exactly what it did before the flag.
    ...(realPart !== undefined
      ? {
          real: realPart.reports,
          realCode: {
            parameters: realPart.parameters,
            skipped: realPart.skipped,
            notes: [
              `Real Paxos code under the deterministic simulator (simulations/README.md, section 3), ${cfg.realRuns} lifetimes per (N, λR, G). Runs use R = ${RUNNER_DEFAULTS.repairMs / 1000} s of virtual time and per-peer MTTF R/λR; peerMttfS, repairS, measuredS, ciLowS/ciHighS are scaled to the grid's R (the model depends on λR only); fields ending in R are in units of R. Protocol timers are not scaled.`,
              `Only N ∈ {3, 5} and λR ≥ ${MIN_LAMBDA_R} are run (see skipped): N = 1 dies at the first failure, which the model gets exactly; larger N and smaller λR live too long to simulate in minutes.`,
              'measuredS / realR: structural lifetime, Σ min(T, H) / #failures, 95 % CI (delta method); modelR: exact CTMC (exp G) or the parallel-repair Monte-Carlo row (other G); pairedRatio: real / model on the same failure schedules. With few runs the unpaired CI is wide (≈ ±1.96/√runs relative).'
            ]
          }
        }
      : {})
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
  if (cfg.out !== undefined) {
    const chartPoints = [...(realPart?.reports ?? []), ...(real ?? [])]
    const report = await writeOutputs(output, cfg.out, {
      points: chartPoints,
      modelRows: [...rows, ...(realPart?.extraModelRows ?? [])],
      ...(realPart !== undefined && realPart.reports.length > 0
        ? { markdown: ['## Real code vs model', '', `Real Paxos code under the simulator, ${cfg.realRuns} lifetimes per point (\`--real-runs\`; simulations/README.md, section 3). Times in units of R; parallel-repair model.`, '', realVsModelTable(realPart.reports)].join('\n') }
        : {})
    })
    for (const f of report.written) process.stderr.write(`sim:mttf: wrote ${f}\n`)
    for (const s of report.skipped) process.stderr.write(`sim:mttf: skipped ${s}\n`)
  }
  return 0
}

main().then(code => { process.exitCode = code }, (e: unknown) => {
  process.stderr.write(`sim:mttf: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exitCode = e instanceof MttfError ? 2 : 1
})
