/**
 * Issue 10, part 4: how much does choosing members by uptime lengthen the VP's MTTF against a
 * random choice, when peer lifetimes are Weibull with shape k < 1? Pure: the model grid (the
 * member-choice schedule of population.ts without any protocol), the per-point reports of the
 * real-code runs, the Markdown table and the chart's vega-lite spec. choice-cli.ts does the I/O.
 *
 * Both policies run on the same seeds, hence the same population and the same repair draws
 * (common random numbers), so the paired ratio uptime / random has a much tighter interval than
 * two independent means.
 */
import type { TopLevelSpec } from 'vega-lite'
import type { SpareChoice } from '../../src/vpeer/spare-choice.js'
import { exactMttf } from './analytic.js'
import { MttfError } from './errors.js'
import { meanRepair, type RepairDist } from './model.js'
import { ChoiceSchedule, scheduleLifetime } from './population.js'
import { ratioEstimate, type Estimate, type RealRunResult } from './real.js'

export const CHOICES: readonly SpareChoice[] = ['uptime', 'random']

export interface ChoicePointParams {
  readonly members: number
  /** R / peer MTTF. */
  readonly lambdaR: number
  /** Weibull shape k. */
  readonly shape: number
  /** Mean number of live candidate peers. */
  readonly poolSize: number
  readonly dist: RepairDist
}

/** Run i of a point uses this seed, in the model and in the real-code runs alike. */
export const runSeed = (seed: number, i: number): number => seed * 100000 + i

/** The exact CTMC (exponential lifetimes, fresh spares, parallel repair), units of R: the reference. */
export function expModelR (members: number, lambdaR: number, dist: RepairDist): number {
  return exactMttf({ members, lambda: lambdaR, repairS: meanRepair(dist, 1), repairMode: 'parallel' })
}

/** One lifetime of the model, units of R (R = 1). */
export interface ModelLifetime {
  readonly lifetime: number
  readonly censored: boolean
  /** Σ age and Σ remaining life of the members chosen, and how many. */
  readonly choices: { readonly count: number, readonly age: number, readonly remaining: number }
}

export function modelLifetime (p: ChoicePointParams, choice: SpareChoice, seed: number, cap: number): ModelLifetime {
  const schedule = new ChoiceSchedule({ seed, members: p.members, repairMs: 1, dist: p.dist, choice, shape: p.shape, peerMttfMs: 1 / p.lambdaR, poolSize: p.poolSize })
  const r = scheduleLifetime(schedule, p.members, cap)
  const c = schedule.choices
  return { lifetime: r.lifetimeMs, censored: r.censored, choices: { count: c.count, age: c.ageMs, remaining: c.remainingMs } }
}

export interface Interval { readonly mean: number, readonly lo: number, readonly hi: number }

const round = (x: number): number => Number(x.toPrecision(4))
const interval = (e: Estimate | undefined): Interval | null => e === undefined ? null : { mean: round(e.mean), lo: round(e.lo), hi: round(e.hi) }

/**
 * Mean lifetime under right-censoring at `cap`: Σ min(T, cap) / #failures with its delta-method
 * CI (the estimator of part 3; the sample mean when nothing is censored).
 */
export function censoredMean (lifetimes: readonly number[], censored: readonly boolean[], cap: number): Interval | null {
  return interval(ratioEstimate(lifetimes.map(t => Math.min(t, cap)), censored.map(c => c ? 0 : 1)))
}

/** Paired ratio Σ min(a, cap) / Σ min(b, cap) over the same seeds, delta-method CI. */
export function pairedRatio (a: readonly number[], b: readonly number[], cap: number): Interval | null {
  return interval(ratioEstimate(a.map(t => Math.min(t, cap)), b.map(t => Math.min(t, cap))))
}

export interface PolicyModel {
  /** VP MTTF / R, 95 % CI. */
  readonly mttfR: Interval | null
  readonly censored: number
  /** Mean age and mean remaining life of a chosen member, in units of the peer MTTF M. */
  readonly chosenAgeM: number
  readonly chosenRemainingM: number
}

export interface ModelRow extends ChoicePointParams {
  readonly runs: number
  readonly capR: number
  readonly expModelR: number
  readonly uptime: PolicyModel
  readonly random: PolicyModel
  /** Paired uptime / random over the same seeds. */
  readonly ratio: Interval | null
}

export interface ModelGrid {
  readonly members: readonly number[]
  readonly lambdaR: readonly number[]
  readonly shapes: readonly number[]
  readonly poolSize: number
  readonly dist: RepairDist
}

export interface ModelOptions {
  readonly runs: number
  readonly seed: number
  /** Censor a model lifetime at capX × the exponential CTMC's MTTF. */
  readonly capX: number
  readonly onPoint?: () => void
}

function policyModel (rs: readonly ModelLifetime[], cap: number, lambdaR: number): PolicyModel {
  const count = rs.reduce((a, r) => a + r.choices.count, 0)
  const M = 1 / lambdaR
  return {
    mttfR: censoredMean(rs.map(r => r.lifetime), rs.map(r => r.censored), cap),
    censored: rs.filter(r => r.censored).length,
    chosenAgeM: round(rs.reduce((a, r) => a + r.choices.age, 0) / count / M),
    chosenRemainingM: round(rs.reduce((a, r) => a + r.choices.remaining, 0) / count / M)
  }
}

/** The model at one point: `runs` seeds, both policies on each. */
export function modelPoint (p: ChoicePointParams, o: ModelOptions): ModelRow {
  if (!Number.isSafeInteger(o.runs) || o.runs < 2) throw new MttfError('ERR_MTTF_BAD_PARAMS', `runs must be an integer ≥ 2, got ${o.runs}`)
  if (!(o.capX > 1)) throw new MttfError('ERR_MTTF_BAD_PARAMS', `capX must be > 1, got ${o.capX}`)
  const exp = expModelR(p.members, p.lambdaR, p.dist)
  const cap = o.capX * exp
  const up: ModelLifetime[] = []
  const rnd: ModelLifetime[] = []
  for (let i = 0; i < o.runs; i++) {
    const seed = runSeed(o.seed, i)
    up.push(modelLifetime(p, 'uptime', seed, cap))
    rnd.push(modelLifetime(p, 'random', seed, cap))
  }
  return {
    ...p,
    runs: o.runs,
    capR: round(cap),
    expModelR: round(exp),
    uptime: policyModel(up, cap, p.lambdaR),
    random: policyModel(rnd, cap, p.lambdaR),
    ratio: pairedRatio(up.map(r => r.lifetime), rnd.map(r => r.lifetime), cap)
  }
}

export function runModelGrid (g: ModelGrid, o: ModelOptions): ModelRow[] {
  const rows: ModelRow[] = []
  for (const members of g.members) {
    for (const lambdaR of g.lambdaR) {
      for (const shape of g.shapes) {
        rows.push(modelPoint({ members, lambdaR, shape, poolSize: g.poolSize, dist: g.dist }, o))
        o.onPoint?.()
      }
    }
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// Real-code points.

export interface PolicyReal {
  /** Real code: structural lifetime / R, censoring estimator. */
  readonly realR: Interval | null
  /** The model on the same schedules / R. */
  readonly shadowR: Interval | null
  /** Paired real / model on the same schedules. */
  readonly realOverModel: Interval | null
  readonly censored: number
  readonly replacements: number
  /** Mean spare appears → it votes, ms (the protocol's delay the model does not have). */
  readonly afterSpareMs: number | null
  readonly safetyViolations: 0
}

export interface RealRow extends ChoicePointParams {
  readonly runs: number
  readonly horizonR: number
  readonly uptime: PolicyReal
  readonly random: PolicyReal
  /** Paired uptime / random on the same seeds: the real code, and the model on the same schedules. */
  readonly ratioReal: Interval | null
  readonly ratioModel: Interval | null
}

function policyReal (rs: readonly RealRunResult[], horizonMs: number, repairMs: number): PolicyReal {
  const life = rs.map(r => (r.lifetimeMs ?? horizonMs) / repairMs)
  const shadow = rs.map(r => r.modelLifetimeMs / repairMs)
  const H = horizonMs / repairMs
  const reps = rs.flatMap(r => r.replacements).map(x => x.afterSpareMs).filter((x): x is number => x !== undefined)
  return {
    realR: censoredMean(life, rs.map(r => r.censored), H),
    shadowR: censoredMean(shadow, rs.map(r => r.modelLifetimeMs >= horizonMs || r.modelCensored === true), H),
    realOverModel: pairedRatio(life, shadow, H),
    censored: rs.filter(r => r.censored).length,
    replacements: reps.length,
    afterSpareMs: reps.length === 0 ? null : round(reps.reduce((a, b) => a + b, 0) / reps.length),
    safetyViolations: 0
  }
}

/**
 * A point's report from the runs of both policies (same seeds, in the same order). Everything is
 * truncated at the horizon: a model lifetime beyond it counts as censored there too, so that real
 * and model are estimated alike.
 */
export function realPoint (p: ChoicePointParams, horizonMs: number, repairMs: number, uptime: readonly RealRunResult[], random: readonly RealRunResult[]): RealRow {
  const seeds = (rs: readonly RealRunResult[]): string => rs.map(r => r.seed).join(',')
  if (seeds(uptime) !== seeds(random)) throw new MttfError('ERR_MTTF_BAD_PARAMS', 'realPoint: the two policies must run on the same seeds, in the same order')
  const H = horizonMs / repairMs
  const life = (rs: readonly RealRunResult[]): number[] => rs.map(r => (r.lifetimeMs ?? horizonMs) / repairMs)
  const shadow = (rs: readonly RealRunResult[]): number[] => rs.map(r => r.modelLifetimeMs / repairMs)
  return {
    ...p,
    runs: uptime.length,
    horizonR: round(H),
    uptime: policyReal(uptime, horizonMs, repairMs),
    random: policyReal(random, horizonMs, repairMs),
    ratioReal: pairedRatio(life(uptime), life(random), H),
    ratioModel: pairedRatio(shadow(uptime), shadow(random), H)
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

const f = (x: number | null | undefined, digits = 3): string => x === null || x === undefined ? '—' : Number(x.toPrecision(digits)).toString()
const ci = (x: Interval | null, digits = 3): string => x === null ? '—' : `${f(x.mean, digits)} (${f(x.lo, digits)} – ${f(x.hi, digits)})`

export function modelTable (rows: readonly ModelRow[]): string {
  const head = '| N | peer MTTF / R (λR) | k | exp. CTMC / R | random / R (95 % CI) | uptime / R (95 % CI) | **uptime / random** (95 % CI, paired) | chosen member: age / M, remaining / M (random → uptime) | runs | censored (random, uptime) |'
  const sep = '|---:|---:|---:|---:|:--|:--|:--|:--|---:|---:|'
  const body = rows.map(r => `| ${r.members} | ${f(1 / r.lambdaR)} (${r.lambdaR}) | ${r.shape} | ${f(r.expModelR)} | ${ci(r.random.mttfR)} | ${ci(r.uptime.mttfR)} | **${ci(r.ratio)}** | ${f(r.random.chosenAgeM, 2)}, ${f(r.random.chosenRemainingM, 2)} → ${f(r.uptime.chosenAgeM, 2)}, ${f(r.uptime.chosenRemainingM, 2)} | ${r.runs} | ${r.random.censored}, ${r.uptime.censored} |`)
  return [head, sep, ...body].join('\n')
}

export function realTable (rows: readonly RealRow[]): string {
  const head = '| N | peer MTTF / R (λR) | k | random: real / R (95 % CI) | uptime: real / R (95 % CI) | **uptime / random, real code** (paired 95 % CI) | uptime / random, model on the same schedules | real / model (random, uptime) | spare → voter, ms | runs per policy | censored (random, uptime) |'
  const sep = '|---:|---:|---:|:--|:--|:--|:--|:--|---:|---:|---:|'
  const body = rows.map(r => `| ${r.members} | ${f(1 / r.lambdaR)} (${r.lambdaR}) | ${r.shape} | ${ci(r.random.realR)} | ${ci(r.uptime.realR)} | **${ci(r.ratioReal)}** | ${ci(r.ratioModel)} | ${f(r.random.realOverModel?.mean)}, ${f(r.uptime.realOverModel?.mean)} | ${f(r.uptime.afterSpareMs)} | ${r.runs} | ${r.random.censored}, ${r.uptime.censored} |`)
  return [head, sep, ...body].join('\n')
}

/**
 * The chart: paired ratio uptime / random (log y) against the peer MTTF in units of R (log x),
 * one line per shape k from the model, the real-code points as diamonds with their CI bars, one
 * panel per N. The dashed line at 1 is "no difference".
 */
export function choiceChartSpec (model: readonly ModelRow[], real: readonly RealRow[]): TopLevelSpec {
  const data = [
    ...model.filter(r => r.ratio !== null).map(r => ({ N: `N = ${r.members}`, k: `k = ${r.shape}`, x: 1 / r.lambdaR, ratio: r.ratio?.mean, lo: r.ratio?.lo, hi: r.ratio?.hi, source: 'model' })),
    ...real.filter(r => r.ratioReal !== null).map(r => ({ N: `N = ${r.members}`, k: `k = ${r.shape}`, x: 1 / r.lambdaR, ratio: r.ratioReal?.mean, lo: r.ratioReal?.lo, hi: r.ratioReal?.hi, source: 'real code' }))
  ]
  const xs = data.map(d => d.x)
  const ys = data.flatMap(d => [d.lo ?? 1, d.hi ?? 1, 1]).filter(y => y > 0)
  const x = { field: 'x', type: 'quantitative', scale: { type: 'log', domain: [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3] }, title: 'peer MTTF / R (mean peer lifetime over repair time)' } as const
  const y = { field: 'ratio', type: 'quantitative', scale: { type: 'log', nice: false, domain: [Math.min(...ys) / 1.1, Math.max(...ys) * 1.1] }, title: 'VP MTTF, uptime choice / random choice' } as const
  const color = { field: 'k', type: 'nominal', title: 'Weibull shape' } as const
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Choosing members by uptime: VP MTTF gain over a random choice', subtitle: 'lines: model (no protocol), dots with 95 % CI; diamonds: real Paxos code under the simulator, paired CI' },
    data: { values: data },
    facet: { column: { field: 'N', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 260,
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { y: { datum: 1 } } },
        { transform: [{ filter: "datum.source === 'model'" }], mark: { type: 'line', point: true }, encoding: { x, y, color } },
        { transform: [{ filter: "datum.source === 'model'" }], mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
        { transform: [{ filter: "datum.source === 'real code'" }], mark: { type: 'point', shape: 'diamond', size: 110, filled: true, opacity: 0.85 }, encoding: { x, y, color } },
        { transform: [{ filter: "datum.source === 'real code'" }], mark: { type: 'rule', strokeWidth: 3, opacity: 0.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } }
      ]
    },
    resolve: { scale: { y: 'shared' } }
  } as TopLevelSpec
}

/** What sim:mttf:choice prints and writes to choice.json. */
export interface ChoiceOutput {
  readonly parameters: Record<string, unknown>
  readonly notes: readonly string[]
  readonly model: readonly ModelRow[]
  readonly real: readonly RealRow[]
}

export function choiceMarkdown (out: ChoiceOutput): string {
  return [
    '# Choosing members by uptime: VP MTTF, uptime vs random choice',
    '',
    `Generated by \`${String(out.parameters.command)}\`; see simulations/README.md, section 5.`,
    '',
    ...out.notes.map(n => `- ${n}`),
    '',
    '## Model (no protocol)',
    '',
    modelTable(out.model),
    '',
    ...(out.real.length > 0 ? ['## Real code under the simulator', '', realTable(out.real), ''] : [])
  ].join('\n')
}
