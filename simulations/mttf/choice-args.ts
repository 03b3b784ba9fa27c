/**
 * Flags of `sim:mttf:choice` → a validated configuration. Apart from choice-cli.ts (which runs
 * on import) so that the tests can exercise every flag error without spawning.
 */
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { parseDuration } from './duration.js'
import { MttfError } from './errors.js'
import { REPAIR_DISTS, type RepairDist } from './model.js'
import type { RunnerConfig } from './real-runner.js'

export const CHOICE_USAGE = `usage: npm run sim:mttf:choice -- [options]
  --members LIST          VP sizes N (default 3,5)
  --shapes LIST           Weibull shapes k of peer lifetimes (default 0.5,0.7,1; 1 = exponential, the control)
  --lambda-r LIST         λR = R / peer MTTF for the real-code runs (default 1,0.5)
  --model-lambda-r LIST   more λR for the model only (default 0.2,0.1; the real λR are always modelled too)
  --pool N                mean number of live candidate peers (default 20, a DHT lookup's k)
  --dist D                repair time G: exp | fixed | uniform (default exp)
  --runs N                real-code lifetimes per point and policy (default 30; 0 = model only)
  --model-runs N          model lifetimes per point and policy (default 4000)
  --seed N                run i of every point uses seed·100000 + i, for both policies (default 1)
  --repair DUR            R in virtual time for the real-code runs (default 2s)
  --horizon-x X           censor a real-code run at X × the model MTTF of the longer-lived policy (default 6)
  --cap-x X               censor a model lifetime at X × the exponential CTMC's MTTF (default 2000)
  --stall-r X             operational failure: no commit for X·R (default 2)
  --clients N             simulated clients writing throughout (default 1)
  --think-ms MS           client think time, uniform in [0, MS] (default 200)
  --workers N             worker processes (default: CPU count)
  --out DIR               write choice.json, choice.md, choice.svg into DIR
  --no-progress           never show the progress bar
  -h, --help`

export interface ChoiceConfig extends RunnerConfig {
  readonly members: number[]
  readonly shapes: number[]
  readonly lambdaR: number[]
  readonly modelLambdaR: number[]
  readonly poolSize: number
  readonly dist: RepairDist
  readonly modelRuns: number
  readonly capX: number
  readonly clients: number
  readonly thinkMs: number
  readonly out: string | undefined
}

function flagError (message: string): never {
  throw new MttfError('ERR_MTTF_BAD_FLAG', message)
}

function numbers (flag: string, text: string, ok: (x: number) => boolean): number[] {
  const xs = text.split(',').map(s => Number(s.trim()))
  for (const x of xs) if (!Number.isFinite(x) || !ok(x)) flagError(`--${flag}: bad value in ${JSON.stringify(text)}`)
  return [...new Set(xs)]
}

/** Flags → config; throws MttfError('ERR_MTTF_BAD_FLAG'). Pure apart from `env` and the CPU count. */
export function parseChoiceCli (argv: readonly string[], env: NodeJS.ProcessEnv = {}, stderrIsTty = false): ChoiceConfig | 'help' {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        members: { type: 'string' },
        shapes: { type: 'string' },
        'lambda-r': { type: 'string' },
        'model-lambda-r': { type: 'string' },
        pool: { type: 'string' },
        dist: { type: 'string' },
        runs: { type: 'string' },
        'model-runs': { type: 'string' },
        seed: { type: 'string' },
        repair: { type: 'string' },
        'horizon-x': { type: 'string' },
        'cap-x': { type: 'string' },
        'stall-r': { type: 'string' },
        clients: { type: 'string' },
        'think-ms': { type: 'string' },
        workers: { type: 'string' },
        out: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (e) {
    flagError((e as Error).message)
  }
  if (values.help === true) return 'help'
  const int = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) flagError(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`)
    return n
  }
  const above = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!(n > min) || !Number.isFinite(n)) flagError(`--${flag} must be a number > ${min}, got ${JSON.stringify(v)}`)
    return n
  }
  const dist = (values.dist ?? 'exp').trim()
  if (!(REPAIR_DISTS as readonly string[]).includes(dist)) flagError(`--dist: ${dist} is not one of ${REPAIR_DISTS.join(', ')}`)
  const seed = int('seed', values.seed, 1, 0)
  if (seed > 9e10) flagError('--seed must be ≤ 9e10 (run seeds are seed·100000 + i)')
  let repairS = 2
  if (values.repair !== undefined) {
    try { repairS = parseDuration(values.repair) } catch (e) { flagError(`--repair: ${(e as Error).message}`) }
  }
  const runs = int('runs', values.runs, 30, 0)
  const modelRuns = int('model-runs', values['model-runs'], 4000, 2)
  if (runs > 99999 || modelRuns > 99999) flagError('--runs and --model-runs must be ≤ 99999 (run seeds are seed·100000 + i)')
  return {
    members: numbers('members', values.members ?? '3,5', x => Number.isInteger(x) && x >= 1 && x <= 9),
    shapes: numbers('shapes', values.shapes ?? '0.5,0.7,1', x => x >= 0.2 && x <= 5),
    lambdaR: numbers('lambda-r', values['lambda-r'] ?? '1,0.5', x => x > 0 && x <= 10),
    modelLambdaR: numbers('model-lambda-r', values['model-lambda-r'] ?? '0.2,0.1', x => x > 0 && x <= 10),
    poolSize: int('pool', values.pool, 20, 1),
    dist: dist as RepairDist,
    runs,
    modelRuns,
    seed,
    repairMs: repairS * 1000,
    horizonX: above('horizon-x', values['horizon-x'], 6, 1),
    capX: above('cap-x', values['cap-x'], 2000, 1),
    stallR: above('stall-r', values['stall-r'], 2, 0),
    clients: int('clients', values.clients, 1, 1),
    thinkMs: int('think-ms', values['think-ms'], 200, 1),
    detectTicks: undefined,
    workers: Math.max(1, int('workers', values.workers, cpus().length, 1)),
    out: values.out,
    progress: values['no-progress'] !== true && stderrIsTty && env.CI === undefined
  }
}
