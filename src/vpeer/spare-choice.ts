/**
 * Which spare to bring in when a voter must be replaced. Peer lifetimes in real P2P networks
 * are heavy-tailed (a Weibull with shape < 1 fits measured session times): the longer a peer has
 * been up, the longer it is likely to stay up. So among the candidates the policy prefers the
 * one with the longest observed uptime; a candidate whose uptime nobody knows comes last.
 * `random` is the baseline the MTTF study compares against.
 *
 * Pure: the replacement policy's `candidates()` returns its pool in this order, and
 * `planReplacement` takes the first usable one.
 */
import type { NodeId, RandomSource } from '../paxos/index.js'
import { shuffleInPlace } from '../util/shuffle.js'

export interface SpareCandidate {
  readonly id: NodeId
  /**
   * How long the candidate has been up, ms, as far as the chooser can tell (undefined: unknown).
   * The network runtime caps what a candidate reports by what it has observed itself.
   */
  readonly uptimeMs?: number | undefined
}

export type SpareChoice = 'uptime' | 'random'

/**
 * The candidates in order of preference: by uptime, longest first (ties and unknowns by id, so
 * that every leader ranks the same pool the same way), or shuffled with `random`.
 */
export function rankSpares (candidates: readonly SpareCandidate[], choice: SpareChoice, random?: RandomSource): NodeId[] {
  if (choice === 'random') {
    if (random === undefined) throw new TypeError('rankSpares: the random choice needs a RandomSource')
    // The caller's source, so that the simulator stays deterministic.
    return shuffleInPlace(candidates.map(c => c.id), random)
  }
  const known = (c: SpareCandidate): number => c.uptimeMs !== undefined && Number.isFinite(c.uptimeMs) && c.uptimeMs >= 0 ? c.uptimeMs : -1
  return [...candidates].sort((a, b) => known(b) - known(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(c => c.id)
}
