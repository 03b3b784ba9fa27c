import { describe, it } from 'vitest'
import { sweep } from './sweep.js'

// Nemesis intensity (a crash every ~80 ms with short downtimes, 20 % loss, partitions, one-way
// blocks, racing membership changes), then a healed liveness phase. These seeds found stale
// reads by a leader that had not yet learned the newest configuration, and groups that stalled
// because a lagging voter could learn from nobody; the long runs (README) cover many more. Four blocks keep the default suite under its time budget.
describe('simulation: nemesis intensity, 3 nodes', () => {
  for (const [nodes, first, blocks] of [[3, 500_001, 4]] as const) {
    for (let block = 0; block < blocks; block++) {
      const from = first + block * 25
      it(`${nodes} nodes, seeds ${from}–${from + 24} pass every checker`, async () => {
        await sweep(from, from + 24, { nodes, intensity: 'nemesis' })
      })
    }
  }
})
