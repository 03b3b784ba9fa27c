import { describe, it } from 'vitest'
import { sweep } from './sweep.js'

// See vopr-nemesis-3-nodes.spec.ts for what these sweeps are (`npm run sim -- --intensity
// nemesis --nodes 5` for the long run).
describe('simulation: nemesis intensity, 5 and 7 nodes', () => {
  for (const [nodes, first, blocks] of [[5, 500_501, 3], [7, 500_901, 1]] as const) {
    for (let block = 0; block < blocks; block++) {
      const from = first + block * 25
      it(`${nodes} nodes, seeds ${from}–${from + 24} pass every checker`, async () => {
        await sweep(from, from + 24, { nodes, intensity: 'nemesis' })
      })
    }
  }
})
