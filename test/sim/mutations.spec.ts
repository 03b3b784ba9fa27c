import { describe, it, expect } from 'vitest'
import { runSeed } from '../../src/sim/vopr.ts'
import type { RunOptions, RunResult } from '../../src/sim/vopr.ts'
import type { SimMutations } from '../../src/sim/cluster.ts'
import type { ViolationKind } from '../../src/sim/checkers.ts'

/**
 * A checker that never fails proves nothing: each deliberately broken variant must be caught
 * within a bounded number of seeds. `bound` is the seed budget; the seeds are fixed, so the
 * verdict is deterministic.
 */
async function firstCaught (mutations: SimMutations, bound: number, options: Omit<RunOptions, 'seed' | 'mutations'> = {}): Promise<RunResult | undefined> {
  for (let seed = 1; seed <= bound; seed++) {
    const r = await runSeed({ ...options, seed, mutations })
    if (!r.ok) return r
  }
  return undefined
}

function kinds (r: RunResult | undefined): ViolationKind[] {
  return r?.violations.map(v => v.kind) ?? []
}

describe('the checkers catch broken variants', () => {
  it('a learner that applies a slot twice: integrity', async () => {
    const r = await firstCaught({ applyTwice: true }, 5)
    expect(kinds(r)).toContain('integrity')
  })

  it('a leader that skips Phase 1: agreement, linearizability or an invariant', async () => {
    const r = await firstCaught({ skipPhase1: true }, 10)
    expect(r).toBeDefined()
    expect(kinds(r).some(k => k === 'agreement' || k === 'linearizability' || k === 'replica-equality' || k === 'crash')).toBe(true)
  })

  it('reads served by a deposed leader without confirming leadership: linearizability', async () => {
    const r = await firstCaught({ unsafeLocalReads: true }, 30, { intensity: 'nemesis', nodes: 3 })
    expect(kinds(r)).toContain('linearizability')
  })

  it('an acceptor that forgets its votes on restart: two values chosen for a slot (nemesis faults, 3 nodes)', async () => {
    const r = await firstCaught({ forgetVotesOnRestart: true }, 40, { intensity: 'nemesis', nodes: 3 })
    // Either the agreement checker sees two values applied for one slot, or a leader's pair
    // assertion sees a fetched chosen value contradict its own proposal first.
    const twoValues = (r?.violations ?? []).some(v => v.kind === 'agreement' || v.kind === 'replica-equality' ||
      (v.kind === 'crash' && /contradicts|disagrees/.test(v.message)))
    expect(twoValues).toBe(true)
  })

  it('a configuration that takes effect at s + 1 while later slots are in flight (α rule broken): agreement', async () => {
    const r = await firstCaught({ reconfigureAtNextSlot: true }, 20, { intensity: 'nemesis', nodes: 3 })
    expect(kinds(r)).toContain('agreement')
  })
})
