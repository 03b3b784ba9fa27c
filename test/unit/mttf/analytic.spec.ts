import { describe, it, expect } from 'vitest'
import {
  approxMttf, closedFormN1, closedFormN3, closedFormN5, exactMttf, failureRate, repairRate
} from '../../../simulations/mttf/analytic.js'
import { failureThreshold, type RepairMode } from '../../../simulations/mttf/model.js'

const MODES: RepairMode[] = ['parallel', 'serial']
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b)

/**
 * Independent reference: mean absorption time from the transient generator by Gaussian
 * elimination with partial pivoting, solving  −Q_TT · t = 1  for t (t_0 is the MTTF).
 */
function linearSolveMttf (members: number, lambda: number, repairS: number, mode: RepairMode): number {
  const K = failureThreshold(members)
  const mu = 1 / repairS
  const A: number[][] = Array.from({ length: K }, () => new Array<number>(K + 1).fill(0))
  for (let k = 0; k < K; k++) {
    const row = A[k] as number[]
    const up = failureRate(members, lambda, k)
    const down = k === 0 ? 0 : repairRate(mode, mu, k)
    row[k] = up + down
    if (k + 1 < K) row[k + 1] = -up
    if (k > 0) row[k - 1] = -down
    row[K] = 1
  }
  for (let c = 0; c < K; c++) {
    let piv = c
    for (let r = c + 1; r < K; r++) if (Math.abs((A[r] as number[])[c] as number) > Math.abs((A[piv] as number[])[c] as number)) piv = r
    ;[A[c], A[piv]] = [A[piv] as number[], A[c] as number[]]
    const pr = A[c] as number[]
    for (let r = c + 1; r < K; r++) {
      const row = A[r] as number[]
      const f = (row[c] as number) / (pr[c] as number)
      for (let j = c; j <= K; j++) row[j] = (row[j] as number) - f * (pr[j] as number)
    }
  }
  const t = new Array<number>(K).fill(0)
  for (let r = K - 1; r >= 0; r--) {
    const row = A[r] as number[]
    let s = row[K] as number
    for (let j = r + 1; j < K; j++) s -= (row[j] as number) * (t[j] as number)
    t[r] = s / (row[r] as number)
  }
  return t[0] as number
}

/** Exact rational MTTF with BigInt, for λ = 1/P and R integers (precision check). */
function rationalMttf (members: number, P: bigint, R: bigint, mode: RepairMode): number {
  const K = failureThreshold(members)
  // T_k = (1 + b_k T_{k-1}) / a_k with a_k = (N-k)/P, b_k = k/R or 1/R.
  let tn = 0n; let td = 1n // T_{k-1}
  let sn = 0n; let sd = 1n // running sum
  for (let k = 0; k < K; k++) {
    const bNum = k === 0 ? 0n : (mode === 'parallel' ? BigInt(k) : 1n)
    // 1 + (bNum/R)(tn/td) = (R·td + bNum·tn) / (R·td); divide by (N-k)/P
    const num = (R * td + bNum * tn) * P
    const den = R * td * BigInt(members - k)
    tn = num; td = den
    sn = sn * den + num * sd; sd = sd * den
  }
  const scale = 10n ** 40n
  return Number((sn * scale) / sd) / 1e40
}

describe('analytic VP MTTF (exponential G)', () => {
  it('N = 1 (and N = 2) equals the per-peer MTTF whatever R', () => {
    for (const peer of [60, 3600, 86400]) {
      for (const mode of MODES) {
        expect(rel(exactMttf({ members: 1, lambda: 1 / peer, repairS: 60, repairMode: mode }), peer)).toBeLessThan(1e-15)
        expect(closedFormN1(1 / peer)).toBeCloseTo(peer, 9)
        // N = 2: K = 1, the first failure already loses the majority; MTTF = 1/(2λ).
        expect(rel(exactMttf({ members: 2, lambda: 1 / peer, repairS: 60, repairMode: mode }), peer / 2)).toBeLessThan(1e-15)
      }
    }
  })

  it('N = 3 and N = 5 closed forms match the recursion', () => {
    for (const peer of [60, 600, 3600, 86400, 604800]) {
      for (const R of [1, 60, 600]) {
        const lambda = 1 / peer
        for (const mode of MODES) {
          expect(rel(exactMttf({ members: 3, lambda, repairS: R, repairMode: mode }), closedFormN3(lambda, R))).toBeLessThan(1e-13)
          expect(rel(exactMttf({ members: 5, lambda, repairS: R, repairMode: mode }), closedFormN5(lambda, R, mode))).toBeLessThan(1e-13)
        }
      }
    }
  })

  it('recursion matches a direct linear solve of the CTMC to 1e-9 relative', () => {
    for (let N = 1; N <= 7; N++) {
      for (const lambdaR of [3, 1, 0.1, 1e-2]) {
        for (const mode of MODES) {
          const R = 60
          const lambda = lambdaR / R
          const a = exactMttf({ members: N, lambda, repairS: R, repairMode: mode })
          const b = linearSolveMttf(N, lambda, R, mode)
          expect(rel(a, b), `N=${N} λR=${lambdaR} ${mode}`).toBeLessThan(1e-9)
        }
      }
    }
  })

  it('keeps full precision at MTTF ~ 1e15 s and beyond (vs exact rational arithmetic)', () => {
    const cases: Array<[number, bigint, bigint, RepairMode]> = [
      [9, 86400n, 60n, 'parallel'], // ≈ 5.9e14 s
      [9, 86400n, 60n, 'serial'],
      [7, 604800n, 60n, 'parallel'], // ≈ 1e17 s
      [9, 604800n, 1n, 'parallel'], // ≈ 1e26 s
      [5, 3600n, 60n, 'serial']
    ]
    for (const [N, P, R, mode] of cases) {
      const exact = rationalMttf(N, P, R, mode)
      const got = exactMttf({ members: N, lambda: 1 / Number(P), repairS: Number(R), repairMode: mode })
      expect(rel(got, exact), `N=${N} P=${P} R=${R} ${mode}`).toBeLessThan(1e-14)
    }
    expect(rationalMttf(9, 86400n, 60n, 'parallel')).toBeGreaterThan(1e14)
  })

  it('small-λR approximation converges to the exact value (error O(λR))', () => {
    for (const N of [3, 5, 7, 9]) {
      for (const mode of MODES) {
        let prevErr = Infinity
        for (const lambdaR of [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]) {
          const m = { members: N, lambda: lambdaR / 60, repairS: 60, repairMode: mode }
          const err = rel(approxMttf(m), exactMttf(m))
          // Relative error is first order in λR with a modest constant (≤ N²).
          expect(err, `N=${N} ${mode} λR=${lambdaR}`).toBeLessThan(N * N * lambdaR)
          expect(err).toBeLessThan(prevErr)
          prevErr = err
        }
        expect(prevErr).toBeLessThan(1e-3)
      }
    }
  })

  it('serial repair never beats parallel repair; they coincide for N ≤ 4', () => {
    for (let N = 1; N <= 9; N++) {
      for (const peer of [60, 600, 3600, 86400]) {
        const base = { members: N, lambda: 1 / peer, repairS: 60 }
        const s = exactMttf({ ...base, repairMode: 'serial' })
        const p = exactMttf({ ...base, repairMode: 'parallel' })
        expect(s).toBeLessThanOrEqual(p * (1 + 1e-15))
        if (N <= 4) expect(rel(s, p)).toBeLessThan(1e-15)
        else expect(s).toBeLessThan(p)
      }
    }
  })

  it('rejects bad parameters with a typed error', () => {
    expect(() => exactMttf({ members: 0, lambda: 1, repairS: 1, repairMode: 'parallel' })).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_PARAMS' }))
    expect(() => exactMttf({ members: 3, lambda: -1, repairS: 1, repairMode: 'parallel' })).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_PARAMS' }))
  })
})
