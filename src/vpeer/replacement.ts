import type { ConfigChange, NodeId, NodeStatus } from '../paxos/index.js'

/**
 * Automatic member replacement: the virtual peer keeps its size by replacing voters that died,
 * as in the original virtual-peer design. The leader runs this policy; every step is one
 * membership change through the log, so two leaders racing cannot both win (the epoch
 * compare-and-set decides).
 *
 * ```
 *   voter X silent > replaceAfterTicks
 *        │
 *        ▼
 *   a caught-up learner Y?  ── no ──► a learner still catching up? ── yes ──► wait
 *        │ yes                              │ no
 *        ▼                                  ▼
 *   replaceVoter(X → Y)               addLearner(spare from the pool)
 * ```
 *
 * A learner that falls silent is removed again, so a dead spare cannot block the process.
 */
export interface ReplacementPolicy {
  /** A voter that has not answered the leader for this many ticks is suspected dead. */
  readonly replaceAfterTicks: number
  /** A learner within this many slots of the leader's commit index counts as caught up. */
  readonly caughtUpSlots: number
  /** Spare peers that could join (the DHT in production, a list in the simulator). */
  readonly candidates: () => readonly NodeId[]
  /** How often the leader re-evaluates, in ticks. */
  readonly checkEveryTicks: number
  /**
   * A learner is promoted only if it answered within this many ticks (default 20): one that
   * merely has not been silent for replaceAfterTicks may already be dead, and promoting a dead
   * node costs the new configuration a live member.
   */
  readonly freshTicks?: number
  /**
   * Grow the voters toward this count with caught-up learners (default: never grow). Growth keeps
   * the count odd: two ready learners are promoted together in one change (an even count
   * tolerates no more failures than the odd count below it, and a two-voter group stalls when
   * either sleeps, so one at a time would open exactly that window), or one when the count is
   * already even.
   */
  readonly targetVoters?: number
  /**
   * Remove a learner that fell silent (default true): a dead spare must not block a replacement.
   * A group whose learners are people's machines (a replication node on a laptop that sleeps)
   * turns it off: a silent learner then stays and catches up when it returns, and a replacement
   * takes a spare from the pool instead of waiting for it.
   */
  readonly removeSilentLearners?: boolean
}

export type ReplacementAction =
  | { readonly kind: 'none', readonly reason: string }
  | { readonly kind: 'change', readonly change: ConfigChange, readonly why: string }

export const DEFAULT_REPLACEMENT = { replaceAfterTicks: 300, caughtUpSlots: 64, checkEveryTicks: 10 } as const

/**
 * Decides the next step from the leader's status. Pure: the tests call it with hand-made
 * statuses; the runtime calls it on a timer.
 */
export function planReplacement (status: NodeStatus, policy: Omit<ReplacementPolicy, 'checkEveryTicks'>, pool: readonly NodeId[]): ReplacementAction {
  if (status.role !== 'leader') return { kind: 'none', reason: 'not the leader' }
  if (status.configurations.length > 1) return { kind: 'none', reason: 'a membership change is still taking effect' }
  const config = status.configuration
  // A change is complete only once a majority of the new voters know it governs: until then a
  // new leader elected among them would still need a quorum of the old configuration for the
  // slots before it, and one more failure there could block the group.
  const from = status.configurations[0]?.fromSlot ?? 1
  const knowing = config.voters.filter(v => v === status.id || (status.peers.find(p => p.id === v)?.commitIndex ?? 0) >= from - 1)
  if (knowing.length < Math.floor(config.voters.length / 2) + 1) return { kind: 'none', reason: 'the newest configuration is not yet known to a majority of its voters' }
  const age = (id: NodeId): number => {
    if (id === status.id) return 0
    // Anything a member sends counts: a learner fetching a snapshot may not answer heartbeats yet.
    const p = status.peers.find(x => x.id === id)
    return p === undefined || p.lastHeardTick < 0 ? Infinity : status.ticks - p.lastHeardTick
  }
  const alive = (id: NodeId): boolean => age(id) <= policy.replaceAfterTicks
  const liveVoters = config.voters.filter(alive)
  const majority = Math.floor(config.voters.length / 2) + 1
  if (liveVoters.length < majority) return { kind: 'none', reason: 'no live majority: a replacement could not commit' }

  // A learner that went silent (a dead spare) is removed, so it cannot block a replacement.
  const deadLearner = (policy.removeSilentLearners ?? true) ? config.learners.find(l => !alive(l)) : undefined
  if (deadLearner !== undefined) return { kind: 'change', change: { kind: 'removeLearner', node: deadLearner }, why: `learner ${deadLearner} is silent` }

  const commitOf = (id: NodeId): number => status.peers.find(x => x.id === id)?.commitIndex ?? 0
  const fresh = policy.freshTicks ?? 20
  // A learner whose connection just broke (its machine was shut down) is not ready however
  // recently it answered: promoted, it would cost the new configuration a live member.
  const reachable = (id: NodeId): boolean => status.peers.find(x => x.id === id)?.reachable ?? true
  const ready = config.learners.filter(l => status.commitIndex - commitOf(l) <= policy.caughtUpSlots && age(l) <= fresh && reachable(l)).sort()

  const suspected = config.voters.filter(v => !alive(v)).sort((a, b) => age(b) - age(a) || (a < b ? -1 : 1))
  const victim = suspected[0]
  if (victim === undefined) {
    const target = policy.targetVoters ?? 0
    const voters = config.voters.length
    const [first, second] = ready
    if (first !== undefined && voters < target) {
      if (voters % 2 === 0) return { kind: 'change', change: { kind: 'promoteLearner', node: first }, why: `${voters} voters, target ${target}; ${first} is caught up` }
      if (second !== undefined && voters + 2 <= target) return { kind: 'change', change: { kind: 'promoteLearners', nodes: [first, second] }, why: `${voters} voters, target ${target}; ${first} and ${second} are caught up` }
    }
    return { kind: 'none', reason: 'every voter is alive' }
  }
  const add = ready[0]
  if (add !== undefined) {
    // The new configuration keeps a live majority: the live voters plus the caught-up learner.
    const liveAfter = liveVoters.length + 1
    if (liveAfter < Math.floor(config.voters.length / 2) + 1) return { kind: 'none', reason: 'the new configuration would have no live majority' }
    return { kind: 'change', change: { kind: 'replaceVoter', remove: victim, add }, why: `voter ${victim} silent for ${age(victim)} ticks; ${add} is caught up` }
  }
  const catchingUp = config.learners.filter(alive)
  if (catchingUp.length > 0) return { kind: 'none', reason: `waiting for learner ${catchingUp.join(',')} to catch up` }
  const members = new Set([...config.voters, ...config.learners])
  const spare = pool.find(id => !members.has(id) && id !== status.id)
  if (spare === undefined) return { kind: 'none', reason: 'no spare peer available' }
  return { kind: 'change', change: { kind: 'addLearner', node: spare }, why: `voter ${victim} silent for ${age(victim)} ticks; ${spare} joins as a learner first` }
}
