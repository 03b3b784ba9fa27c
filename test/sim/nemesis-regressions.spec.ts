import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/vopr.js'
import type { RunOptions } from '../../src/sim/vopr.js'

// Seeds that once failed under nemesis faults, replayed exactly (a seed fixes the whole run).
// Each is explained by the fix it guards; the nemesis sweeps cover the general case. Retry
// jitter came later and changes every schedule, so these run without it: the very schedules
// that failed. (They run with it too: the seeds must pass either way.)
const FAILED: ReadonlyArray<{ readonly why: string, readonly options: RunOptions }> = [
  { why: 'stale read: a new leader served a read before learning the configuration its catch-up brought (nemesis seed 62, 3 nodes)', options: { seed: 62, nodes: 3, intensity: 'nemesis' } },
  { why: 'stale read with α = 1 (nemesis seed 101709)', options: { seed: 101709, intensity: 'nemesis' } },
  { why: 'stall: voters of a newer configuration that did not know it learned from nobody (nemesis seed 100861)', options: { seed: 100861, intensity: 'nemesis' } },
  { why: 'stall: only a removed member held slots a new leader\'s Phase 1 reported chosen (nemesis seed 300116)', options: { seed: 300116, intensity: 'nemesis' } }
]
const CASES = FAILED.flatMap(c => [
  { why: `${c.why}, the original schedule`, options: { ...c.options, retryJitter: false } },
  { why: `${c.why}, with retry jitter`, options: c.options }
])

describe('nemesis regressions', () => {
  for (const { why, options } of CASES) {
    it(why, async () => {
      const r = await runSeed(options)
      expect(r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`)).toEqual([])
      expect(r.stats.slots).toBeGreaterThan(100)
    })
  }
})
