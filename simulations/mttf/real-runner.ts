/**
 * The real-code machinery shared by `real-cli.ts` (section 3's reference runs) and `cli.ts`
 * (`--real-runs`, chart 2 from the plain `npm run sim:mttf`): grid points → many `runRealVp`
 * lifetimes in worker processes (`real-worker.ts`) → one report per point, compared with the
 * model. Kept in one place so both commands measure and estimate exactly the same way.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import cliProgress from 'cli-progress'
import { exactMttf } from './analytic.js'
import { formatDuration } from './duration.js'
import { meanRepair, type RepairDist } from './model.js'
import { summarize, type PointSummary, type RealRunOptions, type RealRunResult } from './real.js'
import type { RealCodePoint } from './render.js'
import type { MttfRow } from './study.js'

/** How the lifetimes of every point are run (the flags of real-cli.ts; cli.ts uses the defaults). */
export interface RunnerConfig {
  readonly runs: number
  /** Run i of every point uses seed·100000 + i. */
  readonly seed: number
  /** R of the runs, virtual ms. */
  readonly repairMs: number
  /** Censor a run at horizonX × the exp-G model MTTF. */
  readonly horizonX: number
  /** Operational failure: no commit for stallR·R. */
  readonly stallR: number
  readonly detectTicks: number | undefined
  readonly workers: number
  readonly progress: boolean
}

/** real-cli.ts's defaults; cli.ts runs with these (only runs, seed and workers vary). */
export const RUNNER_DEFAULTS = { repairMs: 2000, horizonX: 8, stallR: 5 } as const

export interface RealPoint {
  readonly members: number
  readonly lambdaR: number
  readonly dist: RepairDist
  readonly horizonMs: number
  /** Passed through to every run of the point (part 4: the member-choice population, a lighter client load). */
  readonly options?: Pick<RealRunOptions, 'spareChoice' | 'clients' | 'thinkMsMax'>
}

export interface RealTask { readonly point: number, readonly run: number, readonly options: RealRunOptions }

export type WorkerReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'result', readonly point: number, readonly run: number, readonly result: RealRunResult }
  | { readonly kind: 'error', readonly point: number, readonly run: number, readonly message: string, readonly code: string | undefined }

/** Model MTTF in units of R for exponential G with the same mean as `dist` (the horizon's scale). */
export function expModelR (members: number, lambdaR: number, dist: RepairDist): number {
  return exactMttf({ members, lambda: lambdaR, repairS: meanRepair(dist, 1), repairMode: 'parallel' })
}

export function makePoint (cfg: Pick<RunnerConfig, 'horizonX' | 'repairMs'>, members: number, lambdaR: number, dist: RepairDist): RealPoint {
  return { members, lambdaR, dist, horizonMs: cfg.horizonX * expModelR(members, lambdaR, dist) * cfg.repairMs }
}

const WORKER = fileURLToPath(new URL('./real-worker.ts', import.meta.url))

/**
 * Every run of every point, spread over `cfg.workers` forked processes (one run at a time each,
 * longest expected first). Stops handing out work at the first failed run (a safety violation
 * or a broken harness invariant) and returns its description in `failure`.
 */
export async function runRealPoints (cfg: RunnerConfig, points: readonly RealPoint[]): Promise<{ results: RealRunResult[][], failure: string | undefined }> {
  const tasks: RealTask[] = []
  for (let p = 0; p < points.length; p++) {
    const pt = points[p] as RealPoint
    for (let i = 0; i < cfg.runs; i++) {
      tasks.push({
        point: p,
        run: i,
        options: {
          seed: cfg.seed * 100000 + i,
          members: pt.members,
          peerMttfMs: cfg.repairMs / pt.lambdaR,
          repairMs: cfg.repairMs,
          dist: pt.dist,
          horizonMs: pt.horizonMs,
          stallMs: cfg.stallR * cfg.repairMs,
          ...(cfg.detectTicks !== undefined ? { replaceAfterTicks: cfg.detectTicks } : {}),
          ...pt.options
        }
      })
    }
  }
  // Longest expected runs first, so the workers finish together.
  tasks.sort((a, b) => b.options.horizonMs - a.options.horizonMs || a.point - b.point || a.run - b.run)
  const results: RealRunResult[][] = points.map(() => [])
  if (tasks.length === 0) return { results, failure: undefined }
  const bar = cfg.progress
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'real-code [{bar}] {value}/{total} runs | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined
  bar?.start(tasks.length, 0)
  let nextTask = 0
  let failure: string | undefined
  const children: ChildProcess[] = []
  await Promise.all(Array.from({ length: Math.min(cfg.workers, tasks.length) }, async () => {
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(child)
    const handOut = (): void => {
      const t = failure === undefined ? tasks[nextTask++] : undefined
      child.send(t ?? 'done')
    }
    child.on('message', (m: WorkerReply) => {
      if (m.kind === 'result') {
        (results[m.point] as RealRunResult[]).push(m.result)
        bar?.increment()
      } else if (m.kind === 'error') {
        failure ??= `point ${m.point} run ${m.run}${m.code !== undefined ? ` (${m.code})` : ''}: ${m.message}`
      }
      handOut()
    })
    await new Promise<void>((resolve, reject) => {
      child.on('exit', code => { if (code === 0) resolve(); else reject(new Error(`worker exited with ${code}`)) })
      child.on('error', reject)
    })
  })).finally(() => {
    bar?.stop()
    for (const c of children) if (c.exitCode === null) c.kill()
  })
  for (const r of results) r.sort((a, b) => a.seed - b.seed)
  return { results, failure }
}

export const r3 = (x: number | undefined): number | null => x === undefined ? null : Number(x.toPrecision(4))

export interface Interval { readonly mean: number | null, readonly lo: number | null, readonly hi: number | null }

export interface PointReport extends RealCodePoint {
  readonly lambdaR: number
  readonly horizonR: number
  /** Exact model (CTMC, exponential G) or the Monte-Carlo model (other G), units of R. */
  readonly modelR: number | null
  readonly modelCiR: readonly [number, number] | null
  /** Model lifetime on the same schedules (the common-random-numbers shadow), units of R. */
  readonly shadowR: Interval
  readonly realR: Interval
  readonly operationalR: Interval
  /** Paired ratio real / model on the same schedules. */
  readonly pairedRatio: Interval
  /** Exact model with G' = G + the measured mean delay from a spare's arrival to its vote, units of R. */
  readonly modelWithDelayR: number | null
  readonly summary: PointSummary
}

/**
 * One point's runs → its report. Times ending in S are scaled from the runs' R to `scaleToS`
 * (the model depends on λR only); `modelRow` is the Monte-Carlo model for non-exponential G
 * (parallel repair, same N, λR and G), unused for exponential G, whose model is exact.
 */
export function reportPoint (cfg: Pick<RunnerConfig, 'repairMs'>, pt: RealPoint, rs: readonly RealRunResult[], scaleToS: number, modelRow: MttfRow | undefined): PointReport {
  const R = scaleToS
  const scale = scaleToS / (cfg.repairMs / 1000)
  const sum = summarize(rs, pt.horizonMs)
  const est = (e: { mean: number, lo: number, hi: number } | undefined, unit: number): Interval =>
    ({ mean: r3(e === undefined ? undefined : e.mean / unit), lo: r3(e === undefined ? undefined : e.lo / unit), hi: r3(e === undefined ? undefined : e.hi / unit) })
  const mc = modelRow?.mcS ?? null
  const modelR = pt.dist === 'exp' ? exactMttf({ members: pt.members, lambda: pt.lambdaR, repairS: 1, repairMode: 'parallel' }) : mc === null ? undefined : mc / R
  const delay = sum.afterSpareMs
  const withDelay = delay === undefined ? undefined : exactMttf({ members: pt.members, lambda: pt.lambdaR, repairS: meanRepair(pt.dist, 1) + delay / cfg.repairMs, repairMode: 'parallel' })
  const real = sum.real
  return {
    members: pt.members,
    peerMttfS: R / pt.lambdaR,
    repairS: R,
    dist: pt.dist,
    repairMode: 'parallel',
    measuredS: real === undefined ? 0 : real.mean / 1000 * scale,
    ciLowS: real === undefined ? 0 : real.lo / 1000 * scale,
    ciHighS: real === undefined ? 0 : real.hi / 1000 * scale,
    runs: rs.length,
    lambdaR: pt.lambdaR,
    horizonR: r3(pt.horizonMs / cfg.repairMs) ?? 0,
    modelR: r3(modelR),
    modelCiR: modelRow !== undefined && modelRow.ciLowS !== null && modelRow.ciHighS !== null ? [r3(modelRow.ciLowS / R) ?? 0, r3(modelRow.ciHighS / R) ?? 0] : null,
    shadowR: est(sum.model, cfg.repairMs),
    realR: est(sum.real, cfg.repairMs),
    operationalR: est(sum.operational, cfg.repairMs),
    pairedRatio: est(sum.ratio, 1),
    modelWithDelayR: r3(withDelay),
    summary: { ...sum, detectionMs: r3(sum.detectionMs) ?? undefined, leaderDetectionMs: r3(sum.leaderDetectionMs) ?? undefined, afterSpareMs: r3(sum.afterSpareMs) ?? undefined, toLearnerMs: r3(sum.toLearnerMs) ?? undefined, repairMs: r3(sum.repairMs) ?? undefined }
  }
}

export const fmt = (x: number | null | undefined, digits = 3): string => x === null || x === undefined ? '—' : Number(x.toPrecision(digits)).toString()

/** The short real-vs-model table `mttf.md` gets (real.md has the long one with the delays). */
export function realVsModelTable (reports: readonly PointReport[]): string {
  const head = '| N | peer MTTF (λR) | G | model MTTF / R | real code / R (95 % CI) | real / model | paired real / model on the same schedules (95 % CI) | runs | censored |'
  const sep = '|---:|---:|:--|---:|:--|---:|:--|---:|---:|'
  const body = reports.map(p => {
    const ratio = p.modelR !== null && p.realR.mean !== null ? p.realR.mean / p.modelR : null
    return `| ${p.members} | ${formatDuration(p.peerMttfS)} (${p.lambdaR}) | ${p.dist} | ${fmt(p.modelR)} | ${fmt(p.realR.mean)} (${fmt(p.realR.lo)} – ${fmt(p.realR.hi)}) | ${fmt(ratio, 2)} | ${fmt(p.pairedRatio.mean, 3)} (${fmt(p.pairedRatio.lo, 3)} – ${fmt(p.pairedRatio.hi, 3)}) | ${p.runs} | ${p.summary.censored} |`
  })
  return [head, sep, ...body].join('\n')
}

/** N the plain `sim:mttf` runs on the real code: N = 1 dies at the first failure (the model is exact there), N ≥ 7 lives too long to simulate in minutes. */
export const REAL_MEMBERS: readonly number[] = [3, 5]
/** Smallest λR `sim:mttf` runs on the real code: below it a lifetime is hundreds of R (minutes of CPU per run at N = 5). */
export const MIN_LAMBDA_R = 0.05

export interface RealSkip {
  readonly members: number
  /** Absent when the whole N is skipped. */
  readonly peerMttfS?: number
  readonly repairS?: number
  readonly lambdaR?: number
  readonly reason: string
}

export interface GridRealPlan {
  /** Distinct (N, λR, G) points to run: grid points with the same λR share their runs. */
  readonly points: RealPoint[]
  /** Every feasible grid point (N, peer MTTF, R, G) and the index of the run point it maps to. */
  readonly targets: ReadonlyArray<{ readonly point: number, readonly realPoint: RealPoint, readonly members: number, readonly peerMttfS: number, readonly repairS: number, readonly dist: RepairDist }>
  readonly skipped: RealSkip[]
}

interface PlanGrid {
  readonly members: readonly number[]
  readonly peerMttfS: readonly number[]
  readonly repairS: readonly number[]
  readonly dists: readonly RepairDist[]
}

/** Which grid points `sim:mttf --real-runs` runs on the real code, and which it skips (and why). */
export function planGridRealPoints (grid: PlanGrid, cfg: Pick<RunnerConfig, 'horizonX' | 'repairMs'>): GridRealPlan {
  const points: RealPoint[] = []
  const targets: Array<GridRealPlan['targets'][number]> = []
  const skipped: RealSkip[] = []
  const index = new Map<string, number>()
  for (const members of grid.members) {
    if (!REAL_MEMBERS.includes(members)) {
      skipped.push({ members, reason: members === 1 ? 'N = 1 dies at the first failure, which the model gets exactly' : members > 5 ? 'N ≥ 7 lives too long to simulate in minutes' : `only N ∈ {${REAL_MEMBERS.join(', ')}} are run` })
      continue
    }
    for (const repairS of grid.repairS) {
      for (const peerMttfS of grid.peerMttfS) {
        // Rounded so that e.g. 60 s / 5 min and 2 s / 10 s share one point (0.2).
        const lambdaR = Number((repairS / peerMttfS).toPrecision(12))
        if (lambdaR < MIN_LAMBDA_R) {
          skipped.push({ members, peerMttfS, repairS, lambdaR, reason: `λR < ${MIN_LAMBDA_R}: lives too long to simulate in minutes` })
          continue
        }
        for (const dist of grid.dists) {
          const key = `${members}|${lambdaR}|${dist}`
          let point = index.get(key)
          if (point === undefined) {
            point = points.length
            points.push(makePoint(cfg, members, lambdaR, dist))
            index.set(key, point)
          }
          targets.push({ point, realPoint: points[point] as RealPoint, members, peerMttfS, repairS, dist })
        }
      }
    }
  }
  return { points, targets, skipped }
}
