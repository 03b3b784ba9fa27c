import { describe, it } from 'vitest'
import { sweep } from './sweep.js'

// Safety phase with every fault class (swarm intensities per seed), then a healed liveness phase.
describe('simulation: 3 nodes, mixed faults', () => {
  // Four blocks keep the default suite under its time budget; `npm run sim -- --nodes 3` runs
  // thousands.
  for (let block = 0; block < 4; block++) {
    const from = 1000 * 3 + block * 25 + 1
    it(`seeds ${from}–${from + 24} pass every checker`, async () => {
      await sweep(from, from + 24, { nodes: 3 })
    })
  }
})
