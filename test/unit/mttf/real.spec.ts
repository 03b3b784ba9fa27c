import { describe, it, expect } from 'vitest'
import { exactMttf } from '../../../simulations/mttf/analytic.js'
import {
  FailureSchedule, modelLifetimeMs, ratioEstimate, RealRunError, runRealVp, summarize,
  type RealRunOptions, type RealRunResult
} from '../../../simulations/mttf/real.js'

// Short runs: R = 1 s of virtual time, an operational bound of 2·R, clients writing throughout.
const R = 1000
const base = (over: Partial<RealRunOptions> & Pick<RealRunOptions, 'seed' | 'members'>): RealRunOptions =>
  ({ peerMttfMs: R / 0.5, repairMs: R, dist: 'exp', horizonMs: 30 * R, stallMs: 2 * R, warmupMs: 500, ...over })

const majorityOf = (n: number): number => Math.floor(n / 2) + 1

/** The structural rule, checked against the run's own crash log and final configuration. */
function expectDiesExactlyAtMajorityLoss (r: RealRunResult): void {
  expect(r.censored).toBe(false)
  const last = r.crashes[r.crashes.length - 1]
  expect(last).toBeDefined()
  // The VP fails at a crash instant: the crash that took the newest configuration below a majority.
  expect(r.lifetimeMs).toBe(last?.atMs)
  expect(r.finalLiveVoters).toBeLessThan(majorityOf(r.finalVoters.length))
  const lastWasVoter = last !== undefined && r.finalVoters.includes(last.id) && last.role === 'voter'
  expect(lastWasVoter).toBe(true)
  expect(r.finalLiveVoters + 1).toBeGreaterThanOrEqual(majorityOf(r.finalVoters.length))
  // Same schedule: the real VP can die before the model, never after.
  expect(r.lifetimeMs).toBeLessThanOrEqual(r.modelLifetimeMs)
  // (b) agrees with (a): the last commit is at most a few polls before the structural death.
  expect(r.disagreements).toEqual([])
  expect(r.operationalMs).toBeDefined()
  expect(r.operationalMs as number).toBeLessThanOrEqual((r.lifetimeMs as number) + 100)
}

describe('runRealVp: the real code under the simulator', () => {
  it('is deterministic per seed and ends exactly when a majority of the newest configuration is down (N = 3)', async () => {
    const a = await runRealVp(base({ seed: 11, members: 3 }))
    const b = await runRealVp(base({ seed: 11, members: 3 }))
    expect(b.lifetimeMs).toBe(a.lifetimeMs)
    expect(b.crashes).toEqual(a.crashes)
    expect(b.commits).toBe(a.commits)
    expectDiesExactlyAtMajorityLoss(a)
    expect(a.commits).toBeGreaterThan(0)
  })

  it('replaces dead members with spares that appear G later, and dies on majority loss (N = 5)', async () => {
    const r = await runRealVp(base({ seed: 3, members: 5, peerMttfMs: R / 0.3 }))
    expectDiesExactlyAtMajorityLoss(r)
    expect(r.replacements.length).toBeGreaterThan(0)
    for (const rep of r.replacements) {
      // A replacement voter is a spare that appeared after the failure it replaces.
      expect(rep.afterSpareMs).toBeGreaterThan(0)
      expect(rep.repairMs).toBeGreaterThan(0)
    }
    // Suspicion comes after the crash and within a bound. It can come sooner than one timeout
    // after the crash: the member's last message may predate its crash (lost acknowledgements).
    expect(r.detectionMs.length).toBeGreaterThan(0)
    expect(r.detectionMs.every(ms => ms > 0 && ms <= r.replaceAfterTicks * 10 + 1000)).toBe(true)
  })

  it('N = 1 dies at the first failure, exactly when the model does', async () => {
    const r = await runRealVp(base({ seed: 5, members: 1 }))
    expect(r.crashes).toHaveLength(1)
    expect(r.lifetimeMs).toBe(r.crashes[0]?.atMs)
    expect(r.lifetimeMs).toBe(r.modelLifetimeMs)
    expect(r.replacements).toHaveLength(0)
  })

  it('a very small λR and a short horizon give a censored run', async () => {
    const r = await runRealVp(base({ seed: 2, members: 3, peerMttfMs: R / 0.001, horizonMs: 3 * R }))
    expect(r.censored).toBe(true)
    expect(r.lifetimeMs).toBeUndefined()
    expect(r.operationalMs).toBeUndefined()
    expect(r.disagreements).toEqual([])
    expect(r.commits).toBeGreaterThan(0)
  })

  it('rejects bad options with a typed error', async () => {
    await expect(runRealVp(base({ seed: 1, members: 0 }))).rejects.toBeInstanceOf(RealRunError)
    await expect(runRealVp(base({ seed: 1, members: 3, horizonMs: -1 }))).rejects.toMatchObject({ code: 'ERR_REAL_BAD_OPTIONS' })
  })
})

describe('failure schedule and estimators (pure)', () => {
  const p = { seed: 7, members: 5, peerMttfMs: 5000, repairMs: 1000, dist: 'exp' as const }

  it('the schedule is deterministic, time-ordered, and gives one spare per failure', () => {
    const a = new FailureSchedule(p)
    const b = new FailureSchedule(p)
    let last = 0
    let crashes = 0
    let spares = 0
    for (let i = 0; i < 200; i++) {
      const e = a.next()
      expect(b.next()).toEqual(e)
      expect(e.atMs).toBeGreaterThanOrEqual(last)
      last = e.atMs
      if (e.kind === 'crash') crashes++
      else spares++
      expect(spares).toBeLessThanOrEqual(crashes)
    }
    // Failure draws do not depend on G: the first crash is the same for every repair distribution.
    expect(new FailureSchedule({ ...p, dist: 'fixed' }).peek()).toEqual(new FailureSchedule(p).peek())
  })

  it('spares appear G after the failure that caused them: exactly R (fixed), within (0, R) (uniform)', () => {
    for (const dist of ['fixed', 'uniform'] as const) {
      const sch = new FailureSchedule({ ...p, dist })
      const crashTimes: number[] = []
      for (let i = 0; i < 300; i++) {
        const e = sch.next()
        if (e.kind === 'crash') { crashTimes.push(e.atMs); continue }
        // The k-th failure creates spare node N + k.
        const g = e.atMs - (crashTimes[e.node - p.members] as number)
        if (dist === 'fixed') expect(g).toBeCloseTo(p.repairMs, 9)
        else { expect(g).toBeGreaterThanOrEqual(0); expect(g).toBeLessThan(p.repairMs) }
      }
    }
  })

  it('the model lifetime on the schedules matches the exact CTMC (N = 3, 5; λR = 0.5, 0.2)', () => {
    for (const members of [3, 5]) {
      for (const lambdaR of [0.5, 0.2]) {
        const runs = 4000
        const xs = Array.from({ length: runs }, (_, i) => modelLifetimeMs({ seed: i, members, peerMttfMs: 1000 / lambdaR, repairMs: 1000, dist: 'exp' }) / 1000)
        const est = ratioEstimate(xs, xs.map(() => 1))
        if (est === undefined) throw new Error('no estimate')
        const exact = exactMttf({ members, lambda: lambdaR, repairS: 1, repairMode: 'parallel' })
        // A 99.9 % interval (4 points): widen the 95 % half-width by 3.29/1.96.
        const half = (est.hi - est.mean) * 3.29 / 1.96
        expect(Math.abs(est.mean - exact)).toBeLessThan(half)
      }
    }
  })

  it('ratioEstimate: the sample mean when nothing is censored, total time on test over failures otherwise', () => {
    expect(ratioEstimate([1, 2, 3], [1, 1, 1])?.mean).toBe(2)
    expect(ratioEstimate([1, 2, 3], [1, 1, 0])?.mean).toBe(3)
    expect(ratioEstimate([1, 2], [0, 0])).toBeUndefined()
    const e = ratioEstimate([1, 2, 3, 4], [1, 1, 1, 1])
    expect(e?.lo).toBeLessThan(2.5)
    expect(e?.hi).toBeGreaterThan(2.5)
  })

  it('summarize counts censored runs at the horizon', () => {
    const run = (lifetimeMs: number | undefined, modelMs: number): RealRunResult => ({
      seed: 0, members: 3, lifetimeMs, censored: lifetimeMs === undefined, modelLifetimeMs: modelMs, operationalMs: lifetimeMs,
      disagreements: [], crashes: [], leaderFailures: 0, replacements: [], detectionMs: [], leaderDetectionMs: [], sparesAdded: 0, idleLiveAtDeath: 0,
      commits: 0, commandsChosen: 0, slots: 0, replaceAfterTicks: 5, stallMs: 1, finalVoters: [], finalLiveVoters: 0, virtualMs: 0
    })
    const s = summarize([run(100, 100), run(50, 300), run(undefined, 500)], 400)
    expect(s.censored).toBe(1)
    expect(s.real?.mean).toBe((100 + 50 + 400) / 2)
    expect(s.model?.mean).toBe(300)
    expect(s.ratio?.mean).toBeCloseTo(550 / 800, 12)
    expect(s.earlier).toBe(1)
  })
})
