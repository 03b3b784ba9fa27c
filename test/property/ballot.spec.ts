import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ballotEquals, ballotGreater, compareBallots, maxBallot, nextBallot } from '../../src/paxos/ballot.js'
import type { Ballot } from '../../src/paxos/types.js'
import { BOTTOM_BALLOT } from '../../src/paxos/types.js'

// Reference: PMMC §2: ballots are (round, leader id) pairs, ordered lexicographically.

/** Small ranges so that equal rounds and equal nodes are common. */
const nodeArb = fc.constantFrom('', 'a', 'b', 'n1', 'n10', 'n2', 'Z', 'é')
const ballotArb: fc.Arbitrary<Ballot> = fc.record({ round: fc.nat({ max: 6 }), node: nodeArb })

const sign = (x: number): number => Math.sign(x)

describe('compareBallots is a total order', () => {
  it('is reflexive and consistent with ballotEquals', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      expect(compareBallots(a, a)).toBe(0)
      expect(compareBallots(a, b) === 0).toBe(ballotEquals(a, b))
      expect(ballotEquals(a, b)).toBe(ballotEquals(b, a))
    }), { numRuns: 500 })
  })

  it('is antisymmetric', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      expect(sign(compareBallots(a, b)) + sign(compareBallots(b, a))).toBe(0)
    }), { numRuns: 500 })
  })

  it('is transitive', () => {
    fc.assert(fc.property(ballotArb, ballotArb, ballotArb, (a, b, c) => {
      if (compareBallots(a, b) <= 0 && compareBallots(b, c) <= 0) expect(compareBallots(a, c)).toBeLessThanOrEqual(0)
      if (compareBallots(a, b) < 0 && compareBallots(b, c) <= 0) expect(compareBallots(a, c)).toBeLessThan(0)
    }), { numRuns: 1000 })
  })

  it('is total: sorting any list gives one order, whatever the input order', () => {
    fc.assert(fc.property(fc.array(ballotArb, { maxLength: 12 }), list => {
      const sorted = [...list].sort(compareBallots)
      const reversed = [...list].reverse().sort(compareBallots)
      expect(reversed.map(b => [b.round, b.node])).toEqual(sorted.map(b => [b.round, b.node]))
      for (let i = 1; i < sorted.length; i++) expect(compareBallots(sorted[i - 1] as Ballot, sorted[i] as Ballot)).toBeLessThanOrEqual(0)
    }))
  })

  it('is lexicographic: round first, then node', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      const expected = a.round !== b.round ? sign(a.round - b.round) : a.node === b.node ? 0 : a.node < b.node ? -1 : 1
      expect(sign(compareBallots(a, b))).toBe(expected)
    }), { numRuns: 500 })
  })

  it('ballotGreater and maxBallot agree with it', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      expect(ballotGreater(a, b)).toBe(compareBallots(a, b) > 0)
      const m = maxBallot(a, b)
      expect(compareBallots(m, a)).toBeGreaterThanOrEqual(0)
      expect(compareBallots(m, b)).toBeGreaterThanOrEqual(0)
      expect(ballotEquals(m, a) || ballotEquals(m, b)).toBe(true)
    }))
  })

  it('the bottom ballot is below every ballot with a positive round', () => {
    fc.assert(fc.property(ballotArb, b => {
      expect(compareBallots(BOTTOM_BALLOT, b)).toBeLessThanOrEqual(0)
      if (b.round > 0) expect(compareBallots(BOTTOM_BALLOT, b)).toBeLessThan(0)
    }))
  })
})

describe('nextBallot', () => {
  it('is owned by the node and greater than every ballot with round ≤ roundSeen', () => {
    fc.assert(fc.property(nodeArb, fc.nat({ max: 6 }), ballotArb, (node, roundSeen, other) => {
      const next = nextBallot(node, roundSeen)
      expect(next.node).toBe(node)
      if (other.round <= roundSeen) expect(ballotGreater(next, other)).toBe(true)
    }), { numRuns: 1000 })
  })

  it('is the node\'s next round: one above roundSeen, above all its own earlier ballots', () => {
    fc.assert(fc.property(nodeArb, fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), (node, roundSeen, earlier) => {
      const next = nextBallot(node, roundSeen)
      expect(next.round).toBe(roundSeen + 1)
      if (earlier <= roundSeen) expect(compareBallots({ round: earlier, node }, next)).toBeLessThan(0)
    }))
  })
})
