import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/vopr.js'
import type { RunOptions } from '../../src/sim/vopr.js'

// Seeds that once failed under nemesis faults, replayed exactly (a seed fixes the whole run).
// Each is explained by the fix it guards; the nemesis sweeps cover the general case.
const CASES: ReadonlyArray<{ readonly why: string, readonly options: RunOptions }> = [
  { why: 'stale read: a new leader served a read before learning the configuration its catch-up brought (nemesis seed 62, 3 nodes)', options: { seed: 62, nodes: 3, intensity: 'nemesis' } },
  { why: 'stale read with α = 1 (nemesis seed 101709)', options: { seed: 101709, intensity: 'nemesis' } },
  { why: 'stall: voters of a newer configuration that did not know it learned from nobody (nemesis seed 100861)', options: { seed: 100861, intensity: 'nemesis' } },
  { why: 'stall: only a removed member held slots a new leader\'s Phase 1 reported chosen (nemesis seed 300116)', options: { seed: 300116, intensity: 'nemesis' } }
]

describe('nemesis regressions', () => {
  for (const { why, options } of CASES) {
    it(why, async () => {
      const r = await runSeed(options)
      expect(r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`)).toEqual([])
      expect(r.stats.slots).toBeGreaterThan(100)
    })
  }
})
