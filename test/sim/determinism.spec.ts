import { describe, it, expect } from 'vitest'
import { runSeed } from '../../src/sim/vopr.js'

describe('simulation determinism', () => {
  it('the same seed gives the same run, bit for bit', async () => {
    const traceA: string[] = []
    const traceB: string[] = []
    const a = await runSeed({ seed: 77, trace: l => traceA.push(l) })
    const b = await runSeed({ seed: 77, trace: l => traceB.push(l) })
    expect(JSON.stringify(b.history)).toBe(JSON.stringify(a.history))
    expect(b.stats).toEqual(a.stats)
    expect(traceB).toEqual(traceA)
    expect(traceA.length).toBeGreaterThan(10)
  })

  it('different seeds give different runs', async () => {
    const a = await runSeed({ seed: 78 })
    const b = await runSeed({ seed: 79 })
    expect(JSON.stringify(b.history)).not.toBe(JSON.stringify(a.history))
  })
})
