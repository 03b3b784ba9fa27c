import { describe, expect, it } from 'vitest'
import { runWireFuzz } from '../../src/sim/wire-fuzz.js'
import type { WireFuzzResult } from '../../src/sim/wire-fuzz.js'

// Issue 7 §2: random and mutated messages, from members and strangers, into a running cluster
// while clients submit. The long run is `npm run fuzz -- --messages 1000000`; this is the short
// one, on fixed seeds (a failure replays with `npm run fuzz -- --seed N --messages 12000`).

function report (r: WireFuzzResult): string {
  return `seed ${r.seed}: ${r.violations.map(v => `[${v.kind}] ${v.message}`).join('\n')}`
}

describe('wire fuzz (short run)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 12,000 malformed, stranger, member and replayed messages; the cluster keeps committing, agrees, never halts or throws`, async () => {
      const r = await runWireFuzz({ seed, messages: 12_000 })
      expect(r.violations, report(r)).toEqual([])
      expect(Object.values(r.sent).reduce((a, b) => a + b, 0)).toBe(12_000)
      for (const c of ['malformed', 'stranger', 'member', 'replay'] as const) expect(r.sent[c]).toBeGreaterThan(2000)
      // Exactly the malformed ones were dropped at the boundary (checked message by message inside).
      expect(Object.values(r.dropped).reduce((a, b) => a + b, 0)).toBe(r.sent.malformed)
      expect(r.commits).toBeGreaterThan(100)
      expect(r.opsOk).toBeGreaterThan(100)
    })
  }

  it('seed 1: 4,000 well-formed lies from members halt no replica and throw nothing out of a handler', async () => {
    const r = await runWireFuzz({ seed: 1, messages: 4000, classes: ['byzantine'] })
    expect(r.violations, report(r)).toEqual([])
    expect(r.sent.byzantine).toBe(4000)
  })
})
