import type { Configuration, NodeId } from './types.js'

/** Size of a majority of `voterCount` voters. */
export function majority (voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

/**
 * Whether the voters in `votes` form a majority of `configuration.voters`. Votes from nodes that
 * are not voters (learners, strangers, removed members) never count: counting them is how a
 * configuration change goes wrong.
 */
export function isQuorum (votes: ReadonlySet<NodeId> | Iterable<NodeId>, configuration: Configuration): boolean {
  let count = 0
  const voters = configuration.voters
  const seen = votes instanceof Set ? votes : new Set(votes)
  for (const v of voters) if (seen.has(v)) count++
  return count >= majority(voters.length)
}

/**
 * The highest index that a majority of voters has reached, given each voter's index
 * (missing voters count as 0). Used for commit and read-index progress.
 */
export function quorumIndex (indexes: ReadonlyMap<NodeId, number>, configuration: Configuration): number {
  const values = configuration.voters.map(v => indexes.get(v) ?? 0).sort((a, b) => b - a)
  return values[majority(values.length) - 1] ?? 0
}
