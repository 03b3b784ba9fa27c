/**
 * Command-line flags of `sim:mttf` → a validated study configuration. Kept apart from cli.ts
 * (which runs on import) so the tests can exercise every flag error without spawning.
 */
import { parseArgs } from 'node:util'
import { parseDurationList } from './duration.js'
import { MttfError } from './errors.js'
import { REPAIR_DISTS, REPAIR_MODES, validateParams, type RepairDist, type RepairMode } from './model.js'
import type { EstimatorKind } from './montecarlo.js'
import type { StudyGrid, StudyOptions } from './study.js'

/**
 * Default lifetimes per real-code point: the default grid's 6 feasible points × 36 ≈ 180 CPU-s,
 * so the plain command takes about 1.5 min on a quiet 2-core machine (≈ 3 min for uniform G,
 * whose VPs live about twice as long); the same count per point as section 3's reference run.
 * See simulations/README.md, "How to run".
 */
export const DEFAULT_REAL_RUNS = 36

export const USAGE = `usage: npm run sim:mttf -- [options]
  --members LIST       VP sizes N (default 1,3,5,7,9)
  --peer-mttf LIST     per-peer MTTF 1/λ as durations (default 1m,5m,10m,30m,1h,6h,1d)
  --repair LIST        repair-time parameter R (default 60s)
  --dist LIST          exp | fixed | uniform   (uniform means U(0,R), mean R/2) (default exp)
  --repair-mode LIST   parallel | serial (default parallel)
  --runs N             cycles per estimator half / direct lifetimes (default 20000)
  --seed N             PRNG seed (default 1)
  --estimator KIND     regenerative | direct (default regenerative)
  --bias THETA         failure-biasing θ in (0,1) (default 0.7 for exp G, 0.6 otherwise)
  --real-runs N        real-code lifetimes per feasible point for model-vs-real.svg (default 36;
                       0 = off). Only N ∈ {3, 5} with λR = R/peer-MTTF ≥ 0.05 are run
  --real FILE          JSON array of real-code points, drawn in model-vs-real.svg too
  --out DIR            write mttf.json, mttf.md, mttf.svg [, model-vs-real.svg] into DIR
  --no-progress        never show the progress bar
  -h, --help
durations: 500ms, 60s, 5m, 1h, 6h, 1d, 2w, or a plain number of seconds`

function flagError (message: string): never {
  throw new MttfError('ERR_MTTF_BAD_FLAG', message)
}

function parseList<T extends string> (flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map(s => s.trim())
  for (const it of items) {
    if (!(allowed as readonly string[]).includes(it)) flagError(`--${flag}: ${JSON.stringify(it)} is not one of ${allowed.join(', ')}`)
  }
  return [...new Set(items)] as T[]
}

function parseIntFlag (flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text.trim())) flagError(`--${flag}: expected an integer, got ${JSON.stringify(text)}`)
  const v = Number(text)
  if (!Number.isSafeInteger(v) || v < min) flagError(`--${flag}: must be an integer ≥ ${min}, got ${text}`)
  return v
}

export interface CliConfig {
  readonly grid: StudyGrid
  readonly study: StudyOptions
  readonly out: string | undefined
  readonly real: string | undefined
  /** Real-code lifetimes per feasible (N, λR, G) point; 0 disables the real-code part. */
  readonly realRuns: number
  readonly progress: boolean
  readonly help: boolean
}

/** Flags → config. Pure apart from reading `env`; throws MttfError on any bad flag. */
export function parseCli (argv: readonly string[], env: NodeJS.ProcessEnv = {}, stderrIsTty = false): CliConfig {
  let values
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        members: { type: 'string', default: '1,3,5,7,9' },
        'peer-mttf': { type: 'string', default: '1m,5m,10m,30m,1h,6h,1d' },
        repair: { type: 'string', default: '60s' },
        dist: { type: 'string', default: 'exp' },
        'repair-mode': { type: 'string', default: 'parallel' },
        runs: { type: 'string', default: '20000' },
        seed: { type: 'string', default: '1' },
        estimator: { type: 'string', default: 'regenerative' },
        bias: { type: 'string' },
        real: { type: 'string' },
        'real-runs': { type: 'string', default: String(DEFAULT_REAL_RUNS) },
        out: { type: 'string' },
        'no-progress': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (e) {
    // parseArgs throws TypeError with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION; re-type it.
    flagError((e as Error).message)
  }
  const members = values.members.split(',').map(s => parseIntFlag('members', s, 1))
  const wrapDur = (flag: string, text: string): number[] => {
    try {
      const list = parseDurationList(text)
      for (const v of list) if (!(v > 0)) flagError(`--${flag}: durations must be positive, got ${JSON.stringify(text)}`)
      return list
    } catch (e) {
      if (e instanceof MttfError && e.code === 'ERR_MTTF_BAD_DURATION') flagError(`--${flag}: ${e.message}`)
      throw e
    }
  }
  const peerMttfS = wrapDur('peer-mttf', values['peer-mttf'])
  const repairS = wrapDur('repair', values.repair)
  const dists = parseList<RepairDist>('dist', values.dist, REPAIR_DISTS)
  const repairModes = parseList<RepairMode>('repair-mode', values['repair-mode'], REPAIR_MODES)
  const runs = parseIntFlag('runs', values.runs, 2)
  if (!/^-?\d+$/.test(values.seed.trim())) flagError(`--seed: expected an integer, got ${JSON.stringify(values.seed)}`)
  const seed = Number(values.seed)
  const realRuns = parseIntFlag('real-runs', values['real-runs'], 0)
  // Real-code run i uses seed·100000 + i, which must stay a non-negative safe integer.
  if (realRuns > 0 && !(seed >= 0 && seed <= 9e10)) flagError(`--seed: must be in [0, 9e10] when --real-runs > 0, got ${values.seed}`)
  const [estimator] = parseList<EstimatorKind>('estimator', values.estimator, ['regenerative', 'direct'])
  let failureBias: number | undefined
  if (values.bias !== undefined) {
    failureBias = Number(values.bias)
    if (!(failureBias > 0 && failureBias < 1)) flagError(`--bias: must be a number in (0, 1), got ${JSON.stringify(values.bias)}`)
  }
  const grid: StudyGrid = { members: [...new Set(members)], peerMttfS: [...new Set(peerMttfS)], repairS: [...new Set(repairS)], dists, repairModes }
  // Fail on impossible parameters before spending any CPU.
  for (const m of grid.members) for (const p of grid.peerMttfS) for (const r of grid.repairS) {
    for (const dist of dists) for (const repairMode of repairModes) validateParams({ members: m, lambda: 1 / p, repairS: r, dist, repairMode })
  }
  return {
    grid,
    study: { runs, seed, estimator: estimator ?? 'regenerative', ...(failureBias !== undefined ? { failureBias } : {}) },
    out: values.out,
    real: values.real,
    realRuns,
    progress: !values['no-progress'] && stderrIsTty && !env.CI,
    help: values.help
  }
}
