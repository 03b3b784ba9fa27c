import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CoreCluster } from '../../src/sim/core-cluster.js'
import type { Command, NodeId, Value } from '../../src/paxos/types.js'

// Phase 2 is pipelined (at most α = `alpha` slots in flight) and batched (one slot carries
// up to batchCommandsMax commands and batchBytesMax bytes, except that a single command always
// fits). Whatever the limits and the command sizes, every proposed command must be chosen
// exactly once, in the order it was proposed, and every replica must learn the same log.

type Step =
  | { readonly kind: 'propose', readonly sizes: readonly number[] }
  | { readonly kind: 'stabilize' }
  | { readonly kind: 'tick' }

interface Scenario {
  readonly seed: number
  readonly batchCommandsMax: number
  readonly batchBytesMax: number
  readonly alpha: number
  readonly steps: readonly Step[]
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  batchCommandsMax: fc.integer({ min: 1, max: 8 }),
  batchBytesMax: fc.integer({ min: 1, max: 48 }),
  alpha: fc.integer({ min: 1, max: 6 })
}).chain(limits => fc.record({
  seed: fc.constant(limits.seed),
  batchCommandsMax: fc.constant(limits.batchCommandsMax),
  batchBytesMax: fc.constant(limits.batchBytesMax),
  alpha: fc.constant(limits.alpha),
  steps: fc.array(fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('propose' as const), sizes: fc.array(fc.integer({ min: 0, max: limits.batchBytesMax }), { minLength: 1, maxLength: 25 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'stabilize' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'tick' as const }) }
  ), { minLength: 1, maxLength: 10 })
}))

function committedLog (c: CoreCluster, id: NodeId): Value[] {
  const out: Value[] = []
  for (let s = 1; ; s++) {
    const v = c.node(id).committedValue(s)
    if (v === undefined) return out
    out.push(v)
  }
}

const commandKey = (c: Command): string => `${c.client}/${c.seq}`

describe('pipelined, batched Phase 2 (property)', () => {
  it('respects the batch and pipeline limits and commits every command once, in order, everywhere', () => {
    // The limits must actually bind in some runs, or the property says nothing.
    let multiCommandBatches = 0
    let fullPipelines = 0
    let shortMultiBatches = 0
    fc.assert(fc.property(scenarioArb, scenario => {
      const ids = ['a', 'b', 'c']
      const handedOut = new Map<NodeId, Value[]>(ids.map(id => [id, []]))
      const c = new CoreCluster({
        ids,
        seed: scenario.seed,
        config: { batchCommandsMax: scenario.batchCommandsMax, batchBytesMax: scenario.batchBytesMax, alpha: scenario.alpha },
        onCommitted: (id, e) => { handedOut.get(id)?.push(e.value) }
      })
      const leader = c.electLeader()
      const proposed: Command[] = []
      scenario.steps.forEach((step, i) => {
        switch (step.kind) {
          case 'propose': {
            const commands = step.sizes.map((size, seq) => ({ client: `p${i}`, seq: seq + 1, data: new Uint8Array(size).fill(seq % 251) }))
            expect(leader.propose(commands).kind).toBe('accepted')
            proposed.push(...commands)
            expect(leader.status().inflightSlots).toBeLessThanOrEqual(scenario.alpha)
            if (leader.status().inflightSlots === scenario.alpha) fullPipelines++
            break
          }
          case 'stabilize': c.stabilize(); break
          case 'tick': c.tickAndStabilize(1); break
        }
        expect(leader.status().inflightSlots).toBeLessThanOrEqual(scenario.alpha)
      })
      c.stabilize()
      c.tickAndStabilize(10)
      expect(c.leader()).toBe(leader)

      const log = committedLog(c, leader.id)
      for (const value of log) {
        expect(value.commands.length).toBeLessThanOrEqual(scenario.batchCommandsMax)
        const bytes = value.commands.reduce((n, cmd) => n + cmd.data.byteLength, 0)
        if (value.commands.length > 1) {
          multiCommandBatches++
          expect(bytes).toBeLessThanOrEqual(scenario.batchBytesMax)
          if (value.commands.length < scenario.batchCommandsMax) shortMultiBatches++
        }
      }

      // Exactly once, and in proposal order (one stable leader queues FIFO, so the global
      // order is the proposal order; per-proposal order follows from it).
      const committedCommands = log.flatMap(v => v.commands)
      expect(committedCommands.map(commandKey)).toEqual(proposed.map(commandKey))
      expect(new Set(committedCommands.map(commandKey)).size).toBe(committedCommands.length)

      // Every replica has the same committed log, and handed it out once, in slot order.
      const ids0 = log.map(v => v.id)
      for (const id of ids) {
        expect(committedLog(c, id).map(v => v.id)).toEqual(ids0)
        expect(handedOut.get(id)?.map(v => v.id)).toEqual(ids0)
      }
    }), { numRuns: 30 })
    expect(multiCommandBatches).toBeGreaterThan(0)
    expect(shortMultiBatches).toBeGreaterThan(0)
    expect(fullPipelines).toBeGreaterThan(0)
  })
})
