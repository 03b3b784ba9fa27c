import { describe, it, expect } from 'vitest'
import { exactMttf } from '../../../simulations/mttf/analytic.js'
import { estimateMttf, Z95, type McResult } from '../../../simulations/mttf/montecarlo.js'
import type { ModelParams, RepairDist, RepairMode } from '../../../simulations/mttf/model.js'
import { Rng } from '../../../simulations/mttf/prng.js'

const R = 60
const params = (members: number, peerS: number, dist: RepairDist = 'exp', repairMode: RepairMode = 'parallel', repairS = R): ModelParams =>
  ({ members, lambda: 1 / peerS, repairS, dist, repairMode })
const halfWidth = (r: McResult): number => (r.ciHighS - r.ciLowS) / 2
/** Bonferroni: a family of m checks at overall 95 % uses z = Φ⁻¹(1 − 0.025/m). */
const zFor = (m: number): number => m <= 1 ? Z95 : m <= 12 ? 2.865 : 3.2

describe('PRNG', () => {
  it('same seed and stream ⇒ identical stream; different seed or stream ⇒ different', () => {
    const a = new Rng(42, 's'); const b = new Rng(42, 's'); const c = new Rng(43, 's'); const d = new Rng(42, 't')
    const xs = Array.from({ length: 100 }, () => a.next())
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs)
    expect(Array.from({ length: 100 }, () => d.next())).not.toEqual(xs)
    for (const x of xs) { expect(x).toBeGreaterThanOrEqual(0); expect(x).toBeLessThan(1) }
  })

  it('doubles look uniform (mean, variance) and exponentials have the right mean', () => {
    const rng = new Rng(7)
    let s = 0; let s2 = 0; let e = 0
    const n = 200_000
    for (let i = 0; i < n; i++) { const u = rng.next(); s += u; s2 += u * u; e += rng.exp(2) }
    expect(Math.abs(s / n - 0.5)).toBeLessThan(0.003)
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(0.003)
    expect(Math.abs(e / n - 0.5)).toBeLessThan(0.005)
  })
})

describe('Monte Carlo vs analytic (exponential G)', () => {
  // N ∈ {3, 5}, λR from 1 down to 1e-4; the last peer MTTF gives VP MTTFs ≥ 1e9 s (rare event).
  const grid: Array<[number, number, RepairMode]> = []
  for (const N of [3, 5]) for (const peer of [60, 600, 3600, 604800]) for (const mode of ['parallel', 'serial'] as const) grid.push([N, peer, mode])
  const z = zFor(grid.length)

  it('exact value lies within the (Bonferroni-widened) CI and the CI is tight', () => {
    for (const [N, peer, mode] of grid) {
      const p = params(N, peer, 'exp', mode)
      const exact = exactMttf({ members: N, lambda: p.lambda, repairS: R, repairMode: mode })
      const r = estimateMttf(p, { runs: 200_000, seed: 11 })
      const tol = halfWidth(r) / Z95 * z
      expect(Math.abs(r.estimateS - exact), `N=${N} peer=${peer} ${mode}: ${r.estimateS} vs ${exact} ± ${tol}`).toBeLessThanOrEqual(tol)
      expect(halfWidth(r) / r.estimateS).toBeLessThan(0.03)
      if (peer === 604800) {
        expect(exact).toBeGreaterThanOrEqual(1e9)
        expect(r.estimator).toBe('regenerative+is')
      }
    }
  })

  it('95 % CIs cover the exact value about 95 % of the time (plain and IS regimes)', () => {
    for (const [N, peer] of [[3, 600], [5, 86400]] as const) {
      const exact = exactMttf({ members: N, lambda: 1 / peer, repairS: R, repairMode: 'parallel' })
      let covered = 0
      const seeds = 200
      for (let s = 0; s < seeds; s++) {
        const r = estimateMttf(params(N, peer), { runs: 2000, seed: 1000 + s })
        if (r.ciLowS <= exact && exact <= r.ciHighS) covered++
      }
      // Binomial(200, 0.95) has sd ≈ 3.1; 0.88 is > 4 sd below the nominal rate.
      expect(covered / seeds, `N=${N} peer=${peer}`).toBeGreaterThan(0.88)
    }
  })

  it('direct simulation agrees with the analytic value where the VP fails quickly', () => {
    for (const [N, peer] of [[3, 120], [5, 60], [5, 300]] as const) {
      const p = params(N, peer)
      const exact = exactMttf({ members: N, lambda: p.lambda, repairS: R, repairMode: 'parallel' })
      const d = estimateMttf(p, { runs: 20_000, seed: 5, estimator: 'direct' })
      expect(d.estimator).toBe('direct')
      expect(Math.abs(d.estimateS - exact)).toBeLessThanOrEqual(halfWidth(d) / Z95 * zFor(3))
    }
  })

  it('N = 1 is exact with zero-width interval', () => {
    const r = estimateMttf(params(1, 3600), { runs: 100, seed: 1 })
    expect(r.estimateS).toBeCloseTo(3600, 9)
    expect(r.ciLowS).toBe(r.ciHighS)
  })
})

describe('Monte Carlo, non-exponential G', () => {
  it('regenerative (with IS) agrees with direct simulation for fixed and uniform G', () => {
    const cases: Array<[number, number, RepairDist, RepairMode]> = [
      [3, 120, 'fixed', 'parallel'], [5, 120, 'fixed', 'parallel'], [5, 120, 'fixed', 'serial'],
      [3, 120, 'uniform', 'parallel'], [5, 60, 'uniform', 'parallel'], [5, 120, 'uniform', 'serial']
    ]
    const z = zFor(cases.length)
    for (const [N, peer, dist, mode] of cases) {
      const p = params(N, peer, dist, mode)
      const reg = estimateMttf(p, { runs: 100_000, seed: 3 })
      const dir = estimateMttf(p, { runs: 20_000, seed: 3, estimator: 'direct' })
      const se = Math.hypot(halfWidth(reg), halfWidth(dir)) / Z95
      expect(Math.abs(reg.estimateS - dir.estimateS), `N=${N} ${dist} ${mode}`).toBeLessThanOrEqual(z * se)
    }
  })

  it('fixed G → exponential G as λR → 0 (parallel repair: insensitive to the shape of G)', () => {
    for (const N of [3, 5]) {
      const peer = 604800 // λR ≈ 1e-4
      const exactExp = exactMttf({ members: N, lambda: 1 / peer, repairS: R, repairMode: 'parallel' })
      const fixed = estimateMttf(params(N, peer, 'fixed'), { runs: 200_000, seed: 9 })
      // Tolerance: 4 % (the MC half-width is ≈ 1–2 %; the O(λR) model difference is ≈ 1e-4).
      expect(Math.abs(fixed.estimateS / exactExp - 1), `N=${N}`).toBeLessThan(0.04)
    }
    // …but not at large λR, where the shape of G matters (fixed G fails sooner here).
    const big = estimateMttf(params(5, 60, 'fixed'), { runs: 100_000, seed: 9 })
    const bigExact = exactMttf({ members: 5, lambda: 1 / 60, repairS: R, repairMode: 'parallel' })
    expect(big.estimateS / bigExact).toBeLessThan(0.9)
  })

  it('uniform(0, R) behaves like exponential G with mean R/2 as λR → 0 (parallel repair)', () => {
    for (const N of [3, 5]) {
      const peer = 604800
      const expHalf = exactMttf({ members: N, lambda: 1 / peer, repairS: R / 2, repairMode: 'parallel' })
      const expFull = exactMttf({ members: N, lambda: 1 / peer, repairS: R, repairMode: 'parallel' })
      const uni = estimateMttf(params(N, peer, 'uniform'), { runs: 200_000, seed: 9 })
      expect(Math.abs(uni.estimateS / expHalf - 1), `N=${N}`).toBeLessThan(0.04)
      expect(uni.estimateS).toBeGreaterThan(expFull * 1.5) // shorter mean repair ⇒ longer life
    }
  })

  it('serial repair ≤ parallel repair for every G (within the CIs)', () => {
    for (const dist of ['exp', 'fixed', 'uniform'] as const) {
      for (const [N, peer] of [[5, 600], [7, 3600], [9, 3600]] as const) {
        const s = estimateMttf(params(N, peer, dist, 'serial'), { runs: 50_000, seed: 4 })
        const p = estimateMttf(params(N, peer, dist, 'parallel'), { runs: 50_000, seed: 4 })
        expect(s.ciLowS, `${dist} N=${N} peer=${peer}`).toBeLessThanOrEqual(p.ciHighS)
      }
      // With 9 members the difference is large enough to be resolved for every G.
      const s9 = estimateMttf(params(9, 3600, dist, 'serial'), { runs: 50_000, seed: 4 })
      const p9 = estimateMttf(params(9, 3600, dist, 'parallel'), { runs: 50_000, seed: 4 })
      expect(s9.ciHighS, dist).toBeLessThan(p9.ciLowS)
    }
  })
})

describe('reproducibility', () => {
  it('same seed ⇒ bit-identical results; different seed ⇒ different numbers', () => {
    for (const dist of ['exp', 'fixed', 'uniform'] as const) {
      for (const estimator of ['regenerative', 'direct'] as const) {
        const p = params(5, estimator === 'direct' ? 120 : 3600, dist, 'serial')
        const a = estimateMttf(p, { runs: 3000, seed: 123, estimator })
        const b = estimateMttf(p, { runs: 3000, seed: 123, estimator })
        const c = estimateMttf(p, { runs: 3000, seed: 124, estimator })
        expect(b).toEqual(a)
        expect(Object.is(a.estimateS, b.estimateS)).toBe(true)
        expect(c.estimateS).not.toBe(a.estimateS)
      }
    }
  })

  it('rejects bad budgets and bias with typed errors', () => {
    expect(() => estimateMttf(params(3, 60), { runs: 1, seed: 1 })).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_PARAMS' }))
    expect(() => estimateMttf(params(3, 60), { runs: 10, seed: 1, failureBias: 1 })).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_PARAMS' }))
    expect(() => estimateMttf({ ...params(3, 60), repairS: 0 }, { runs: 10, seed: 1 })).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_PARAMS' }))
  })
})
