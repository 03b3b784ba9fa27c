import { expect } from 'vitest'
import { runSeed } from '../../src/sim/vopr.js'
import type { RunOptions } from '../../src/sim/vopr.js'

/** Runs seeds [from, to] and fails with every failing seed and its replay command. */
export async function sweep (from: number, to: number, options: Omit<RunOptions, 'seed'>): Promise<void> {
  const failures: string[] = []
  let slots = 0
  for (let seed = from; seed <= to; seed++) {
    const r = await runSeed({ ...options, seed })
    slots += r.stats.slots
    if (!r.ok) {
      failures.push(`seed ${seed}: ${r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0]}`).join(' | ')}\n  reproduce with: npm run sim -- --seed ${seed} --trace${options.nodes !== undefined ? ` --nodes ${options.nodes}` : ''}${options.intensity !== undefined ? ` --intensity ${options.intensity}` : ''}`)
    }
  }
  expect(failures).toEqual([])
  // The runs must have done real work, or passing them proves nothing.
  expect(slots).toBeGreaterThan((to - from + 1) * 50)
}
