import { Scripted } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/** Each replica applies slots 1, 2, 3, … once each: forty writes, one at a time, on three voters. */
export function applyOnce (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c'], seed: 1, mutations })
  s.node('a').campaign()
  s.c.stabilize()
  for (let i = 0; i < 40; i++) {
    s.node('a').propose([s.cmd(`w${i}`)])
    s.c.stabilize()
    s.c.tickAndStabilize(1)
  }
  s.checkpoint('every replica applied the forty writes', ['a', 'b', 'c'].every(id => s.applied(id).size === 40))
  return s.outcome()
}
