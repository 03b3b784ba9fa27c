import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isQuorum, majority, quorumIndex } from '../../src/paxos/quorum.js'
import type { Configuration, NodeId } from '../../src/paxos/types.js'

// Fast quorum code checked against plain reference versions (etcd's quorum/quick_test.go).

/** A configuration over ids drawn from a small universe, so votes often hit and often miss. */
const UNIVERSE = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'] as const

const configurationArb: fc.Arbitrary<Configuration> = fc
  .subarray([...UNIVERSE], { minLength: 1, maxLength: 9 })
  .chain(voters => fc.tuple(
    fc.constant(voters),
    fc.subarray(UNIVERSE.filter(id => !voters.includes(id)), { maxLength: 3 }),
    fc.nat({ max: 10 })
  ))
  .map(([voters, learners, epoch]) => ({ epoch, voters, learners }))

/** Votes may come from voters, learners, strangers, and may repeat. */
const votesArb: fc.Arbitrary<NodeId[]> = fc.array(fc.oneof(fc.constantFrom(...UNIVERSE), fc.constantFrom('stranger', 'x', '')), { maxLength: 20 })

function referenceIsQuorum (votes: readonly NodeId[], configuration: Configuration): boolean {
  const distinctVoterVotes = configuration.voters.filter(v => votes.includes(v)).length
  return distinctVoterVotes * 2 > configuration.voters.length
}

/** For each candidate index, count the voters that reached it; the answer is the highest with a majority. */
function referenceQuorumIndex (indexes: ReadonlyMap<NodeId, number>, configuration: Configuration): number {
  const candidates = new Set<number>([0, ...configuration.voters.map(v => indexes.get(v) ?? 0)])
  let best = 0
  for (const c of candidates) {
    const reached = configuration.voters.filter(v => (indexes.get(v) ?? 0) >= c).length
    if (reached * 2 > configuration.voters.length && c > best) best = c
  }
  return best
}

describe('isQuorum', () => {
  it('agrees with counting distinct voters among the votes', () => {
    fc.assert(fc.property(configurationArb, votesArb, (configuration, votes) => {
      const expected = referenceIsQuorum(votes, configuration)
      expect(isQuorum(votes, configuration)).toBe(expected)
      expect(isQuorum(new Set(votes), configuration)).toBe(expected)
    }), { numRuns: 500 })
  })

  it('never counts learners or strangers, however many vote', () => {
    fc.assert(fc.property(configurationArb, fc.nat({ max: 5 }), (configuration, repeat) => {
      const nonVoters = [...configuration.learners, 'stranger', 'zz']
      const votes = Array.from({ length: repeat + 1 }, () => nonVoters).flat()
      expect(isQuorum(votes, configuration)).toBe(false)
    }))
  })

  it('is monotone: adding a vote never loses a quorum', () => {
    fc.assert(fc.property(configurationArb, votesArb, fc.constantFrom(...UNIVERSE), (configuration, votes, extra) => {
      if (isQuorum(votes, configuration)) expect(isQuorum([...votes, extra], configuration)).toBe(true)
    }))
  })
})

describe('quorumIndex', () => {
  const indexesArb = (configuration: Configuration): fc.Arbitrary<Map<NodeId, number>> =>
    fc.array(fc.tuple(fc.constantFrom(...configuration.voters, ...configuration.learners, 'stranger'), fc.nat({ max: 50 })), { maxLength: 15 })
      .map(pairs => new Map(pairs))

  it('agrees with the dumb reference (count voters ≥ each candidate index)', () => {
    fc.assert(fc.property(configurationArb.chain(c => fc.tuple(fc.constant(c), indexesArb(c))), ([configuration, indexes]) => {
      expect(quorumIndex(indexes, configuration)).toBe(referenceQuorumIndex(indexes, configuration))
    }), { numRuns: 500 })
  })

  it('is reached by a quorum, and no higher index is', () => {
    fc.assert(fc.property(configurationArb.chain(c => fc.tuple(fc.constant(c), indexesArb(c))), ([configuration, indexes]) => {
      const q = quorumIndex(indexes, configuration)
      const at = configuration.voters.filter(v => (indexes.get(v) ?? 0) >= q)
      expect(isQuorum(at, configuration)).toBe(true)
      const above = configuration.voters.filter(v => (indexes.get(v) ?? 0) >= q + 1)
      expect(isQuorum(above, configuration)).toBe(false)
    }))
  })

  it('ignores indexes of learners and strangers', () => {
    fc.assert(fc.property(configurationArb, fc.nat({ max: 100 }), (configuration, big) => {
      const indexes = new Map<NodeId, number>([...configuration.learners, 'stranger'].map(id => [id, big]))
      expect(quorumIndex(indexes, configuration)).toBe(0)
    }))
  })
})

describe('majority', () => {
  it('is the smallest count strictly above half', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), n => {
      const m = majority(n)
      expect(2 * m).toBeGreaterThan(n)
      expect(2 * (m - 1)).toBeLessThanOrEqual(n)
      expect(m).toBeLessThanOrEqual(n)
    }))
  })

  it('any two majorities of the voters intersect', () => {
    const arb = fc.subarray([...UNIVERSE], { minLength: 1 }).chain(voters => {
      const m = majority(voters.length)
      return fc.tuple(
        fc.constant(voters),
        fc.subarray(voters, { minLength: m }),
        fc.subarray(voters, { minLength: m })
      )
    })
    fc.assert(fc.property(arb, ([voters, a, b]) => {
      const configuration: Configuration = { epoch: 0, voters, learners: [] }
      expect(isQuorum(a, configuration)).toBe(true)
      expect(isQuorum(b, configuration)).toBe(true)
      expect(a.some(id => b.includes(id))).toBe(true)
    }), { numRuns: 500 })
  })
})
