import { describe, it, expect } from 'vitest'
import { defineApp } from '../../src/sim/app.js'
import { kvApp } from '../../src/sim/kv.js'
import { runSeed } from '../../src/sim/vopr.js'
import type { StateMachine } from '../../src/contracts/index.js'

/** A set of small integers: `add` and `remove` answer whether they changed it. */
type SetCommand = { readonly op: 'add' | 'remove', readonly x: number }
class IntSet implements StateMachine<SetCommand, boolean, { readonly x: number }, boolean> {
  private items = new Set<number>()
  apply (c: SetCommand): boolean {
    const had = this.items.has(c.x)
    if (c.op === 'add') this.items.add(c.x)
    else this.items.delete(c.x)
    return c.op === 'add' ? !had : had
  }

  query (q: { readonly x: number }): boolean { return this.items.has(q.x) }
  snapshot (): Uint8Array { return new TextEncoder().encode(JSON.stringify([...this.items].sort((a, b) => a - b))) }
  restore (bytes: Uint8Array): void { this.items = new Set(JSON.parse(new TextDecoder().decode(bytes)) as number[]) }
}

const setApp = defineApp({
  stateMachine: () => new IntSet(),
  workload: prng => {
    const x = prng.int(0, 4)
    const r = prng.float()
    return r < 0.3 ? { read: { x } } : { submit: { op: r < 0.7 ? 'add' : 'remove', x } }
  },
  // One boolean per element, each checked on its own.
  model: {
    name: 'int-set',
    init: () => false,
    step: (present, op) => {
      if ('read' in op) return [present, present]
      return op.submit.op === 'add' ? [true, !present] : [false, present]
    },
    partition: op => ('read' in op ? op.read.x : op.submit.x)
  }
})

/** One global counter, checked as a single history (no partition). */
class Counter implements StateMachine<{ readonly add: number }, number, 'total', number> {
  private total = 0
  apply (c: { readonly add: number }): number { return (this.total += c.add) }
  query (): number { return this.total }
  snapshot (): Uint8Array { return new TextEncoder().encode(String(this.total)) }
  restore (bytes: Uint8Array): void { this.total = Number(new TextDecoder().decode(bytes)) }
}

const counterApp = (model: 'right' | 'off-by-one') => defineApp({
  stateMachine: () => new Counter(),
  workload: prng => (prng.chance(0.3) ? { read: 'total' as const } : { submit: { add: prng.int(1, 100) } }),
  model: {
    name: 'counter',
    init: () => 0,
    // The wrong model believes an add answers the total from before it.
    step: (total, op) => ('read' in op ? [total, total] : [total + op.submit.add, model === 'right' ? total + op.submit.add : total])
  }
})

const FAST = { safetyMs: 4000, livenessMs: 4000, snapshotEverySlots: 20, logRetentionSlots: 5 }

describe('runSeed with an application\'s own state machine and model', () => {
  it('a set (partitioned by element) passes seeds under every fault', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const r = await runSeed({ seed, app: setApp, ...FAST })
      expect(r.violations, `seed ${seed}`).toEqual([])
      expect(r.stats.lincheck).toBe('linearizable')
      expect(r.stats.opsOk).toBeGreaterThan(100)
      expect(r.stats.crashes).toBeGreaterThan(0)
    }
  })

  it('a counter (one unpartitioned history) passes seeds, snapshots included', async () => {
    let installs = 0
    for (const seed of [5, 6, 7, 8]) {
      // One unpartitioned history: the search grows fast with its length, hence a larger budget.
      const r = await runSeed({ seed, app: counterApp('right'), ...FAST, lincheckSteps: 5_000_000 })
      expect(r.violations, `seed ${seed}`).toEqual([])
      expect(r.stats.lincheck).toBe('linearizable')
      installs += r.stats.snapshotInstalls
    }
    expect(installs).toBeGreaterThan(0)
  })

  it('the KV store passes as one application among others (generic model checker)', async () => {
    for (const seed of [9, 10]) {
      const r = await runSeed({ seed, app: kvApp, ...FAST })
      expect(r.violations, `seed ${seed}`).toEqual([])
      expect(r.stats.lincheck).toBe('linearizable')
    }
  })

  it('a model that does not match the state machine is a linearizability violation with a readable message', async () => {
    const r = await runSeed({ seed: 5, app: counterApp('off-by-one'), ...FAST })
    expect(r.ok).toBe(false)
    // The replicas agree with each other: only the model disagrees.
    expect(r.violations.map(v => v.kind)).toEqual(['linearizability'])
    const message = r.violations[0]?.message ?? ''
    expect(message).toMatch(/^not linearizable:\n {2}model "counter": process \d+ submit \{"add":\d+\} → \d+ \[T=\d+\.\d{3} → T=\d+\.\d{3}\] is not possible in any order of the \d+ operations invoked before it returned/)
  })

  it('the same seed replays the same run, trace included (client operations and restores traced)', async () => {
    const runs = await Promise.all([0, 1].map(async () => {
      const trace: string[] = []
      const r = await runSeed({ seed: 21, app: setApp, ...FAST, trace: line => { trace.push(line) } })
      return { r, trace }
    }))
    const [a, b] = runs as [typeof runs[0], typeof runs[0]]
    expect(b.trace).toEqual(a.trace)
    expect(JSON.stringify(b.r.history)).toBe(JSON.stringify(a.r.history))
    expect(a.trace.some(l => /^T=\d+\.\d{3} c\d submit \{"op":"(add|remove)","x":\d\} → (true|false)$/.test(l))).toBe(true)
    expect(a.trace.some(l => /^T=\d+\.\d{3} c\d read \{"x":\d\} → (true|false)$/.test(l))).toBe(true)
    expect(a.trace.some(l => /^T=\d+\.\d{3} n\d restored its state machine from the snapshot at \d+ on its disk$/.test(l))).toBe(true)
    const other = await runSeed({ seed: 22, app: setApp, ...FAST })
    expect(JSON.stringify(other.history)).not.toBe(JSON.stringify(a.r.history))
  })
})
