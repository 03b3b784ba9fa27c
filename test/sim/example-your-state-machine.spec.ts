import { describe, it, expect } from 'vitest'
import { Counters, runExample } from '../../examples/sim-your-state-machine.js'

const SEEDS = [1, 2, 3, 4, 5]

describe('examples/sim-your-state-machine.ts', () => {
  it('finds the planted restore bug within a few seeds and prints how to replay it', async () => {
    const lines: string[] = []
    const { failed } = await runExample({ seeds: SEEDS, fixed: false, trace: false }, line => { lines.push(line) })
    expect(failed).toBeDefined()
    if (failed === undefined) return
    const kinds = new Set(failed.violations.map(v => v.kind))
    // The restored replica's state differs from the others, and clients saw versions go back.
    expect(kinds.has('replica-equality') || kinds.has('linearizability')).toBe(true)
    const text = lines.join('\n')
    expect(text).toContain(`seed ${failed.seed}: FAILED`)
    expect(lines.at(-1)).toBe(`replay with a readable trace: npm run example:sim -- --seed ${failed.seed} --trace`)
  })

  it('with restore fixed, the same seeds pass', async () => {
    const lines: string[] = []
    const { failed, passed } = await runExample({ seeds: SEEDS, fixed: true, trace: false }, line => { lines.push(line) })
    expect(failed?.violations).toBeUndefined()
    expect(passed).toBe(SEEDS.length)
    expect(lines.at(-1)).toBe(`${SEEDS.length} seed(s) passed (restore fixed)`)
  })

  it('the replay trace shows the restore from disk and the client operations', async () => {
    const lines: string[] = []
    const { failed } = await runExample({ seeds: [1], fixed: false, trace: true }, line => { lines.push(line) })
    expect(failed?.seed).toBe(1)
    expect(lines.some(l => /^T=\d+\.\d{3} n\d restored its state machine from the snapshot at \d+ on its disk$/.test(l))).toBe(true)
    expect(lines.some(l => /^T=\d+\.\d{3} c\d submit \{"add":\d+,"key":"(apples|pears)"\} → \{"value":\d+,"version":\d+\}$/.test(l))).toBe(true)
  })

  it('the bug is in restore alone: a restored fixed replica equals the original, a buggy one loses the versions', () => {
    const original = new Counters(false)
    original.apply({ key: 'apples', add: 3 })
    original.apply({ key: 'apples', add: 4 })
    const fixed = new Counters(false)
    fixed.restore(original.snapshot())
    expect(fixed.query({ key: 'apples' })).toEqual({ value: 7, version: 2 })
    const buggy = new Counters(true)
    buggy.restore(original.snapshot())
    expect(buggy.query({ key: 'apples' })).toEqual({ value: 7, version: 0 })
  })
})
