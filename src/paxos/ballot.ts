import type { Ballot, NodeId } from './types.js'

/**
 * The highest round a ballot may carry. Far below 2^53 so that `round + 1` is always exact and
 * storable; at one election per millisecond it lasts 8,900 years. A message with a higher round
 * is invalid (the runtime drops it), and a node never campaigns beyond it.
 */
export const MAX_BALLOT_ROUND = 2 ** 48

/** Lexicographic order on `(round, node)`: negative if `a < b`, 0 if equal, positive if `a > b`. */
export function compareBallots (a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1
  if (a.node === b.node) return 0
  return a.node < b.node ? -1 : 1
}

export function ballotEquals (a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.node === b.node
}

export function ballotGreater (a: Ballot, b: Ballot): boolean {
  return compareBallots(a, b) > 0
}

export function maxBallot (a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b
}

/** The smallest ballot owned by `node` that is greater than every round in `seen`. */
export function nextBallot (node: NodeId, roundSeen: number): Ballot {
  return { round: roundSeen + 1, node }
}

export function formatBallot (b: Ballot): string {
  return `${b.round}.${b.node}`
}
