/**
 * The reliability model shared by the analytic and the Monte-Carlo estimators.
 *
 * N members; every live member fails at rate λ (exponential, per-peer MTTF 1/λ); a failed
 * member is replaced after a repair time G; a replaced member is a fresh live member. The
 * virtual peer (VP) fails the first time ⌈N/2⌉ members are down at once, because Multi-Paxos
 * then has no majority of live acceptors.
 */
import { MttfError } from './errors.js'

/**
 * Distribution of the repair (replacement) time G, parameterised by R:
 * - `exp`: exponential with mean R;
 * - `fixed`: exactly R;
 * - `uniform`: uniform on (0, R), so its mean is R/2 (not R). This is deliberate: it is the
 *   definition in issue 4, and the docs say so wherever uniform numbers are shown.
 */
export type RepairDist = 'exp' | 'fixed' | 'uniform'

/**
 * `parallel`: every failed member is replaced independently (k down ⇒ k repairs in progress).
 * `serial`: one repairer, first come first served (k down ⇒ one repair in progress).
 */
export type RepairMode = 'parallel' | 'serial'

export const REPAIR_DISTS: readonly RepairDist[] = ['exp', 'fixed', 'uniform']
export const REPAIR_MODES: readonly RepairMode[] = ['parallel', 'serial']

export interface ModelParams {
  /** N, the number of members of the VP. */
  readonly members: number
  /** λ, the failure rate of one live member, per second. */
  readonly lambda: number
  /** R, the repair-time parameter in seconds (mean for exp/fixed, upper bound for uniform). */
  readonly repairS: number
  readonly dist: RepairDist
  readonly repairMode: RepairMode
}

/** K = ⌈N/2⌉: the number of simultaneously-down members at which the VP has no majority. */
export function failureThreshold (members: number): number {
  return Math.ceil(members / 2)
}

/** Mean of G for the given distribution: R for exp and fixed, R/2 for uniform(0, R). */
export function meanRepair (dist: RepairDist, repairS: number): number {
  return dist === 'uniform' ? repairS / 2 : repairS
}

export function validateParams (p: ModelParams): void {
  if (!Number.isInteger(p.members) || p.members < 1) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `members must be a positive integer, got ${p.members}`)
  }
  if (!(p.lambda > 0) || !Number.isFinite(p.lambda)) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `lambda must be a positive finite rate, got ${p.lambda}`)
  }
  if (!(p.repairS > 0) || !Number.isFinite(p.repairS)) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `repair time must be positive and finite, got ${p.repairS}`)
  }
  if (!REPAIR_DISTS.includes(p.dist)) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `unknown repair distribution ${String(p.dist)}`)
  }
  if (!REPAIR_MODES.includes(p.repairMode)) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `unknown repair mode ${String(p.repairMode)}`)
  }
}
