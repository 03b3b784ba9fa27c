/**
 * Exact and approximate VP MTTF when the repair time G is exponential (mean R, rate μ = 1/R).
 *
 * With exponential failures and exponential repairs the number of down members k is a
 * birth–death continuous-time Markov chain on {0, …, K}, K = ⌈N/2⌉, absorbing at K:
 *   k → k+1 at rate a_k = (N − k)·λ   (one of the N − k live members fails),
 *   k → k−1 at rate b_k = k·μ         (parallel: every down member is being replaced), or
 *                   b_k = μ  (k ≥ 1)  (serial: one repairer).
 * The VP MTTF is the mean first-passage time from 0 to K.
 *
 * Everything here is pure (no I/O) so the CLI, the charts and the tests can share it.
 */
import { MttfError } from './errors.js'
import { failureThreshold, type RepairMode } from './model.js'

export interface ExpModel {
  readonly members: number
  /** Per-member failure rate λ, 1/s. */
  readonly lambda: number
  /** Mean repair time R, s (μ = 1/R). */
  readonly repairS: number
  readonly repairMode: RepairMode
}

function check (m: ExpModel): void {
  if (!Number.isInteger(m.members) || m.members < 1) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `members must be a positive integer, got ${m.members}`)
  }
  if (!(m.lambda > 0 && Number.isFinite(m.lambda))) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `lambda must be positive and finite, got ${m.lambda}`)
  }
  if (!(m.repairS > 0 && Number.isFinite(m.repairS))) {
    throw new MttfError('ERR_MTTF_BAD_PARAMS', `repairS must be positive and finite, got ${m.repairS}`)
  }
}

/** Up-rate a_k: one of the N − k live members fails. */
export function failureRate (members: number, lambda: number, k: number): number {
  return (members - k) * lambda
}

/** Down-rate b_k (k ≥ 1): k·μ with parallel repair, μ with a single repairer. */
export function repairRate (mode: RepairMode, mu: number, k: number): number {
  return mode === 'parallel' ? k * mu : mu
}

/**
 * T_k = E[time to go from k down to k+1 down], k = 0 … K−1.
 *
 * From k the chain leaves after an Exp(a_k + b_k) holding time, going up with probability
 * a_k/(a_k+b_k) and otherwise down to k−1, from where it must climb back to k (T_{k−1}) and
 * then on to k+1 (T_k again):
 *   T_k = 1/(a_k+b_k) + b_k/(a_k+b_k) · (T_{k−1} + T_k)   ⇒   T_k = (1 + b_k·T_{k−1}) / a_k,
 * with T_0 = 1/a_0 = 1/(Nλ).
 *
 * Why this form and not a linear solve: every quantity is a sum/product of positive numbers,
 * so there is no cancellation; each step adds at most ~3 ulps of relative error. With
 * MTTF ≈ 1e15 s (λR ≈ 1e-5 …) the result is still correct to ~1e-15 relative (the tests check
 * it against exact rational arithmetic). A first-passage linear solve of the generator would
 * instead subtract nearly equal numbers of size μ when λ ≪ μ.
 */
export function passageTimes (m: ExpModel): number[] {
  check(m)
  const K = failureThreshold(m.members)
  const mu = 1 / m.repairS
  const T: number[] = []
  let prev = 0
  for (let k = 0; k < K; k++) {
    const a = failureRate(m.members, m.lambda, k)
    const b = k === 0 ? 0 : repairRate(m.repairMode, mu, k)
    const t = (1 + b * prev) / a
    T.push(t)
    prev = t
  }
  return T
}

/** Exact VP MTTF for exponential G: Σ_{k=0}^{K−1} T_k. */
export function exactMttf (m: ExpModel): number {
  let sum = 0
  for (const t of passageTimes(m)) sum += t
  if (!Number.isFinite(sum)) {
    // Only reachable for absurd inputs (λR ≲ 1e-60 with N = 9); say so instead of printing ∞.
    throw new MttfError('ERR_MTTF_BAD_PARAMS', 'MTTF overflows a double for these parameters')
  }
  return sum
}

/** N = 1: the VP is its only member, MTTF = 1/λ (repairs never matter: K = 1). */
export function closedFormN1 (lambda: number): number {
  return 1 / lambda
}

/**
 * N = 3 (K = 2), either repair mode: MTTF = (5λ + μ) / (6λ²).
 * T_0 = 1/(3λ), T_1 = (1 + μ/(3λ)) / (2λ) = (3λ + μ)/(6λ²); the sum is (5λ + μ)/(6λ²).
 * Serial and parallel coincide because before absorption at most one member is ever down,
 * so there is never a second repair to run in parallel (true for any G, for N ≤ 4).
 */
export function closedFormN3 (lambda: number, repairS: number): number {
  const mu = 1 / repairS
  return (5 * lambda + mu) / (6 * lambda * lambda)
}

/**
 * N = 5 (K = 3).
 *   parallel: (47λ² + 13λμ + 2μ²) / (60λ³)
 *   serial:   (47λ² +  8λμ +  μ²) / (60λ³)
 * From T_0 = 1/(5λ), T_1 = (5λ+μ)/(20λ²), T_2 = (1 + b_2·T_1)/(3λ) with b_2 = 2μ or μ.
 */
export function closedFormN5 (lambda: number, repairS: number, mode: RepairMode): number {
  const mu = 1 / repairS
  const l2 = lambda * lambda
  return mode === 'parallel'
    ? (47 * l2 + 13 * lambda * mu + 2 * mu * mu) / (60 * l2 * lambda)
    : (47 * l2 + 8 * lambda * mu + mu * mu) / (60 * l2 * lambda)
}

/**
 * Small-λR approximation (dominant term). Unrolling the recursion,
 *   T_{K−1} = Σ_{j=0}^{K−1} (Π_{i=j+1}^{K−1} b_i) / (Π_{i=j}^{K−1} a_i),
 * and as λ/μ → 0 the j = 0 term, of order μ^{K−1}/λ^K, dominates every other term of every T_k
 * by at least a factor μ/λ. Hence
 *   MTTF ≈ (1/(Nλ)) · Π_{k=1}^{K−1} b_k / ((N−k)λ)
 *   parallel: = (K−1)! (N−K)! / N! · μ^{K−1} / λ^K
 *   serial:   =        (N−K)! / N! · μ^{K−1} / λ^K
 * with relative error O(λR) (exact/approx = 1 + O(λ/μ)).
 */
export function approxMttf (m: ExpModel): number {
  check(m)
  const K = failureThreshold(m.members)
  const mu = 1 / m.repairS
  let v = 1 / (m.members * m.lambda)
  for (let k = 1; k < K; k++) {
    v *= repairRate(m.repairMode, mu, k) / failureRate(m.members, m.lambda, k)
  }
  return v
}
