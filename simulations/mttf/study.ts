/**
 * A study is a grid of model parameters; each grid point becomes one result row with the
 * analytic value (exponential G only) and a Monte-Carlo estimate. Pure: the CLI owns all I/O.
 */
import { exactMttf } from './analytic.js'
import { estimateMttf, type EstimatorKind, type EstimatorName } from './montecarlo.js'
import type { RepairDist, RepairMode } from './model.js'

export interface StudyGrid {
  readonly members: readonly number[]
  /** Per-peer MTTF values 1/λ, s. */
  readonly peerMttfS: readonly number[]
  readonly repairS: readonly number[]
  readonly dists: readonly RepairDist[]
  readonly repairModes: readonly RepairMode[]
}

export interface StudyOptions {
  readonly runs: number
  readonly seed: number
  readonly estimator?: EstimatorKind
  readonly failureBias?: number
}

/** One row of the results (the shape printed as JSON and written to mttf.json). */
export interface MttfRow {
  readonly members: number
  readonly peerMttfS: number
  /** λ = 1/peerMttfS, per second. */
  readonly lambda: number
  readonly repairS: number
  readonly dist: RepairDist
  readonly repairMode: RepairMode
  /** Exact CTMC value, only for exponential G (null otherwise). */
  readonly analyticS: number | null
  /** Monte-Carlo estimate; null if no failure was ever observed (estimate unbounded). */
  readonly mcS: number | null
  readonly ciLowS: number | null
  readonly ciHighS: number | null
  readonly estimator: EstimatorName
  readonly cycles: number
}

export function gridSize (g: StudyGrid): number {
  return g.members.length * g.peerMttfS.length * g.repairS.length * g.dists.length * g.repairModes.length
}

const finiteOrNull = (x: number): number | null => Number.isFinite(x) ? x : null

/**
 * Run every grid point. `onProgress(pointsDone + fraction, points)` reports fractional
 * progress so a progress bar can move inside a long point.
 */
export function runStudy (
  g: StudyGrid,
  o: StudyOptions,
  onProgress?: (done: number, total: number) => void
): MttfRow[] {
  const rows: MttfRow[] = []
  const total = gridSize(g)
  let index = 0
  for (const dist of g.dists) {
    for (const repairMode of g.repairModes) {
      for (const repairS of g.repairS) {
        for (const members of g.members) {
          for (const peerMttfS of g.peerMttfS) {
            const lambda = 1 / peerMttfS
            const params = { members, lambda, repairS, dist, repairMode }
            const base = index
            const mc = estimateMttf(params, {
              runs: o.runs,
              seed: o.seed,
              ...(o.estimator !== undefined ? { estimator: o.estimator } : {}),
              ...(o.failureBias !== undefined ? { failureBias: o.failureBias } : {}),
              ...(onProgress ? { onProgress: (d: number, t: number) => onProgress(base + d / t, total) } : {})
            })
            rows.push({
              members,
              peerMttfS,
              lambda,
              repairS,
              dist,
              repairMode,
              analyticS: dist === 'exp' ? exactMttf({ members, lambda, repairS, repairMode }) : null,
              mcS: finiteOrNull(mc.estimateS),
              ciLowS: finiteOrNull(mc.ciLowS),
              ciHighS: finiteOrNull(mc.ciHighS),
              estimator: mc.estimator,
              cycles: mc.cycles
            })
            index++
            onProgress?.(index, total)
          }
        }
      }
    }
  }
  return rows
}
