import { describe, it, expect } from 'vitest'
import { SIM_MUTATIONS } from '../../src/sim/cluster.js'
import type { SimMutations } from '../../src/sim/cluster.js'
import type { ViolationKind } from '../../src/sim/checkers.js'
import { runSeed } from '../../src/sim/vopr.js'
import { coreMutations } from './scenarios/harness.js'
import type { ScenarioOutcome } from './scenarios/harness.js'
import { alphaWindow } from './scenarios/alpha-window.js'
import { applyOnce } from './scenarios/apply-once.js'
import { competingVotes } from './scenarios/competing-votes.js'
import { deposedLeaderRead } from './scenarios/deposed-leader-read.js'
import { lateAcceptForChosenSlot } from './scenarios/late-accept-chosen-slot.js'
import { phase1NewConfiguration } from './scenarios/phase1-new-configuration.js'
import { readIndexCoversPhase1 } from './scenarios/read-index-phase1.js'
import { crashAfterPersistAndRestart } from './scenarios/restart-durability.js'
import { staleBallotThroughCatchup } from './scenarios/stale-ballot-catchup.js'

/**
 * A checker that never fails proves nothing. Every test-only mutation (a realistic one-line
 * bug, PaxosMutations / SimMutations) must be caught by a scripted scenario: one interleaving
 * forced step by step, so the verdict never depends on a seed's luck. Each scenario must also
 * pass, reaching every point it depends on, without any mutation.
 *
 * The list grows with every bug the simulator or a review finds: add the mutation (one line
 * at the exact spot, named in PaxosMutations or SimMutations), then a row here. The first test
 * fails until every named mutation has a row.
 */
interface Scenario {
  /** What the scenario proves, in a few words. */
  readonly proves: string
  readonly run: (mutations: SimMutations) => ScenarioOutcome | Promise<ScenarioOutcome>
  /** The mutations it catches, and the checkers that may report each. */
  readonly catches: ReadonlyArray<{ readonly mutation: keyof SimMutations, readonly by: readonly ViolationKind[] }>
}

const SCENARIOS: readonly Scenario[] = [
  {
    proves: 'Phase 1 re-proposes the highest-ballot vote of two competing ones',
    run: m => competingVotes(coreMutations(m)),
    catches: [{ mutation: 'phase1KeepsLowestBallot', by: ['agreement'] }, { mutation: 'skipPhase1', by: ['agreement'] }]
  },
  {
    proves: 'Phase 1 reaches a majority of a configuration learned after the election',
    run: m => phase1NewConfiguration(coreMutations(m)),
    // (skipPhase1 is not listed here: without Phase 1 the leader never hears of slot 1's chosen
    // value, proposes there, and since the catch-up reply that contradicts its proposal is
    // dropped it stalls instead of choosing a second value. Competing votes catches it.)
    catches: [{ mutation: 'phase1QuorumTooSmall', by: ['agreement'] }]
  },
  {
    proves: 'a change chosen at s governs only from s + α (last slot of the window, s + α − 1)',
    run: m => alphaWindow(coreMutations(m), 7),
    catches: [{ mutation: 'alphaOffByOne', by: ['agreement'] }, { mutation: 'reconfigureAtNextSlot', by: ['agreement'] }]
  },
  {
    proves: 'a change chosen at s does not govern s + 1',
    run: m => alphaWindow(coreMutations(m), 1),
    catches: [{ mutation: 'reconfigureAtNextSlot', by: ['agreement'] }]
  },
  {
    proves: 'catch-up offering a stale ballot never lowers the ballot of a vote',
    run: m => staleBallotThroughCatchup(coreMutations(m)),
    catches: [{ mutation: 'catchupLowersBallot', by: ['durability'] }]
  },
  {
    proves: "a new leader's read index covers the votes Phase 1 reported",
    run: m => readIndexCoversPhase1(coreMutations(m)),
    catches: [{ mutation: 'readIndexIgnoresPhase1', by: ['linearizability'] }, { mutation: 'unsafeLocalReads', by: ['linearizability'] }]
  },
  {
    proves: 'a leader cut off from the majority answers no read',
    run: m => deposedLeaderRead(coreMutations(m)),
    catches: [{ mutation: 'unsafeLocalReads', by: ['linearizability'] }]
  },
  {
    proves: "a late accept from a deposed leader never overwrites a chosen slot",
    run: m => lateAcceptForChosenSlot(coreMutations(m)),
    catches: [{ mutation: 'overwriteChosenSlot', by: ['agreement', 'durability'] }]
  },
  {
    proves: 'each replica applies each slot once, in order',
    run: m => applyOnce(coreMutations(m)),
    catches: [{ mutation: 'applyTwice', by: ['integrity'] }]
  },
  {
    proves: 'replies leave only after their write is durable, and a restart (right after a persist, before the send) loses nothing durable',
    run: async m => await crashAfterPersistAndRestart(m),
    catches: [
      { mutation: 'sendBeforePersist', by: ['durability'] },
      { mutation: 'forgetPromiseOnRestart', by: ['durability'] },
      { mutation: 'forgetVotesOnRestart', by: ['durability'] }
    ]
  }
]

/** Runs a scenario; an assertion thrown by the core (an invariant broke) is a finding too, as in runSeed. */
async function outcomeOf (scenario: Scenario, mutations: SimMutations): Promise<ScenarioOutcome> {
  try {
    return await scenario.run(mutations)
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    return { violations: [{ kind: 'crash', message, time: -1 }], notes: [], checkpoints: [] }
  }
}

function describeViolations (o: ScenarioOutcome): string {
  return [...o.violations.map(v => `${v.kind}: ${v.message.split('\n')[0] ?? ''}`), ...o.notes].join('\n')
}

describe('every test-only mutation is caught by a scripted scenario', () => {
  it('every named mutation has a scenario that catches it', () => {
    const covered = new Set(SCENARIOS.flatMap(s => s.catches.map(c => c.mutation)))
    expect(SIM_MUTATIONS.filter(m => !covered.has(m))).toEqual([])
  })

  for (const scenario of SCENARIOS) {
    describe(scenario.proves, () => {
      it('without a mutation: no violation, and the script reaches every point it depends on', async () => {
        const o = await outcomeOf(scenario, {})
        expect(o.violations, describeViolations(o)).toEqual([])
        expect(o.checkpoints.length).toBeGreaterThan(0)
        expect(o.checkpoints.filter(c => !c.ok).map(c => c.label)).toEqual([])
      })
      for (const { mutation, by } of scenario.catches) {
        it(`${mutation}: caught (${by.join(' or ')})`, async () => {
          const o = await outcomeOf(scenario, { [mutation]: true })
          expect(o.violations.some(v => by.includes(v.kind)), describeViolations(o)).toBe(true)
        })
      }
    })
  }
})

/**
 * The random swarm must catch them too, within a bounded number of seeds: the durability
 * checker reports a lost promise or vote at the first restart, and an early reply at the
 * first promise, whatever the schedule does next. (Measured over 200 nemesis seeds: see
 * src/paxos/README.md.)
 */
describe('random nemesis seeds catch the durability mutations at once', () => {
  for (const mutation of ['forgetPromiseOnRestart', 'forgetVotesOnRestart', 'sendBeforePersist'] as const) {
    it(`${mutation}: nemesis seed 1 (3 nodes) reports a durability violation`, async () => {
      const r = await runSeed({ seed: 1, nodes: 3, intensity: 'nemesis', mutations: { [mutation]: true } })
      expect(r.violations.map(v => v.kind)).toContain('durability')
    })
  }
})
