import { describe, it, expect } from 'vitest'
import { runRollingReplacement } from '../../src/sim/scenarios.js'
import type { RollingReplacementOptions } from '../../src/sim/scenarios.js'

/** Runs seeds [from, to]; fails listing every failing seed and how to replay it. */
async function sweep (from: number, to: number, options: Omit<RollingReplacementOptions, 'seed'>): Promise<void> {
  const failures: string[] = []
  let replaced = 0
  for (let seed = from; seed <= to; seed++) {
    const r = await runRollingReplacement({ ...options, seed })
    replaced += r.timings.filter(t => t.replacement !== undefined).length
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.map(v => `${v.kind}: ${v.message.split('\n')[0]}`).join(' | ')}`)
  }
  expect(failures).toEqual([])
  // Every original member was replaced in every run, or passing would prove nothing.
  expect(replaced).toBeGreaterThanOrEqual((to - from + 1) * options.nodes)
}

describe('rolling replacement: every original member dies for good, one at a time', () => {
  for (const nodes of [3, 5]) {
    // 10 seeds each (15 to 40 for the harder schedules below) keep the default suite under its
    // time budget; `npm run sim -- --scenario rolling --seeds 2000` is the long run, and draws
    // these schedules too.
    for (const [from, lossRate] of [[1, 0], [26, 0.05]] as const) {
      it(`${nodes} nodes, seeds ${from}–${from + 9}, loss ${lossRate}`, async () => {
        await sweep(from, from + 9, { nodes, replaceAfterTicks: 100, lossRate })
      })
    }
  }
})

describe('rolling replacement under harder schedules', () => {
  it('a spare crashes while catching up as a learner: it is dropped and another spare is used (3 and 5 nodes)', async () => {
    await sweep(101, 115, { nodes: 3, replaceAfterTicks: 100, crashFirstLearner: true })
    await sweep(126, 140, { nodes: 5, replaceAfterTicks: 100, crashFirstLearner: true })
  })

  it('the leader crashes in the middle of a replacement: the next leader finishes it (5 nodes)', async () => {
    await sweep(201, 225, { nodes: 5, replaceAfterTicks: 100, crashLeaderMidReplacement: true })
  })

  it('replaced members come back with their old disks and stale configuration, and never disrupt (3 and 5 nodes)', async () => {
    await sweep(301, 315, { nodes: 3, replaceAfterTicks: 100, reviveReplaced: true })
    await sweep(326, 340, { nodes: 5, replaceAfterTicks: 100, reviveReplaced: true })
  })
})
