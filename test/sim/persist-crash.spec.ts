import { describe, it, expect } from 'vitest'
import { parseFaults, runSeed } from '../../src/sim/vopr.js'

describe('fault persistCrash: a crash right after a persist is durable, before the send', () => {
  it('is opt-in (not part of all) and parsed next to all', () => {
    expect(parseFaults('all').persistCrash).toBeUndefined()
    expect(parseFaults('all,persistCrash')).toMatchObject({ persistCrash: true, crashes: true, membership: true })
    expect(parseFaults('crashes,persistCrash')).toMatchObject({ persistCrash: true, crashes: true, loss: false })
  })

  it('strikes during a nemesis run, and the unmutated protocol passes every checker', async () => {
    let struck = 0
    const r = await runSeed({
      seed: 1, nodes: 3, intensity: 'nemesis', faults: parseFaults('all,persistCrash'),
      trace: line => { if (line.includes('crashes right after a persist')) struck++ }
    })
    expect(r.violations).toEqual([])
    expect(struck).toBeGreaterThan(3)
  })
})
