import { describe, it, expect } from 'vitest'
import { planReplacement } from '../../../src/vpeer/replacement.js'
import type { NodeStatus } from '../../../src/paxos/index.js'

const policy = { replaceAfterTicks: 100, caughtUpSlots: 10, candidates: () => [] }

/**
 * A leader's status at tick 1000; `acks` gives each peer's last ack tick and commit index, and
 * optionally `false` for a peer whose connection the runtime reported broken.
 */
function status (voters: string[], learners: string[], acks: Record<string, [number, number] | [number, number, boolean]>, extra: Partial<NodeStatus> = {}): NodeStatus {
  const configuration = { epoch: 4, voters, learners }
  return {
    id: 'a', role: 'leader', leader: 'a', ballot: { round: 2, node: 'a' }, commitIndex: 500, appliedIndex: 500, lastSlot: 500,
    configuration, configurations: [{ fromSlot: 1, configuration }],
    peers: Object.entries(acks).map(([id, [tick, commit, reachable]]) => ({ id, lastAckTick: tick, lastHeardTick: tick, commitIndex: commit, reachable: reachable ?? true })),
    queuedCommands: 0, inflightSlots: 0, ticks: 1000, ...extra
  }
}

describe('planReplacement', () => {
  it('does nothing while every voter answers', () => {
    const r = planReplacement(status(['a', 'b', 'c'], [], { b: [990, 500], c: [995, 500] }), policy, ['s1'])
    expect(r).toEqual({ kind: 'none', reason: 'every voter is alive' })
  })

  it('adds a spare as a learner first when a voter is silent', () => {
    const r = planReplacement(status(['a', 'b', 'c'], [], { b: [990, 500], c: [850, 400] }), policy, ['a', 'b', 's1', 's2'])
    expect(r).toMatchObject({ kind: 'change', change: { kind: 'addLearner', node: 's1' } })
  })

  it('waits while the learner catches up, then swaps it in for the silent voter', () => {
    const lagging = planReplacement(status(['a', 'b', 'c'], ['s1'], { b: [990, 500], c: [850, 400], s1: [999, 200] }), policy, ['s1', 's2'])
    expect(lagging).toMatchObject({ kind: 'none', reason: expect.stringMatching(/waiting for learner s1/) })
    const ready = planReplacement(status(['a', 'b', 'c'], ['s1'], { b: [990, 500], c: [850, 400], s1: [999, 495] }), policy, ['s1', 's2'])
    expect(ready).toEqual({ kind: 'change', change: { kind: 'replaceVoter', remove: 'c', add: 's1' }, why: expect.any(String) })
  })

  it('replaces the voter silent longest first', () => {
    const r = planReplacement(status(['a', 'b', 'c', 'd', 'e'], ['s1'], { b: [990, 500], c: [700, 300], d: [850, 300], e: [990, 500], s1: [999, 500] }), policy, [])
    expect(r).toMatchObject({ change: { kind: 'replaceVoter', remove: 'c' } })
  })

  it('does not promote a learner that has not answered recently, even if it is not yet called silent', () => {
    const r = planReplacement(status(['a', 'b', 'c'], ['s1'], { b: [990, 500], c: [850, 400], s1: [950, 500] }), policy, [])
    expect(r).toMatchObject({ kind: 'none' })
  })

  it('counts any traffic as life: a learner fetching a snapshot without acknowledging heartbeats is not silent', () => {
    const base = status(['a', 'b', 'c'], ['s1'], { b: [990, 500], c: [800, 400], s1: [850, 0] })
    const busy = { ...base, peers: base.peers.map(p => p.id === 's1' ? { ...p, lastHeardTick: 995 } : p) }
    expect(planReplacement(busy, policy, ['s2'])).toMatchObject({ kind: 'none', reason: expect.stringMatching(/waiting for learner s1/) })
  })

  it('removes a learner that fell silent, so a dead spare cannot block the replacement', () => {
    const r = planReplacement(status(['a', 'b', 'c'], ['s1'], { b: [990, 500], c: [800, 400], s1: [850, 0] }), policy, ['s2'])
    expect(r).toMatchObject({ kind: 'change', change: { kind: 'removeLearner', node: 's1' } })
  })

  it('never starts without a live majority', () => {
    const r = planReplacement(status(['a', 'b', 'c'], ['s1'], { b: [800, 300], c: [800, 300], s1: [999, 500] }), policy, [])
    expect(r).toMatchObject({ kind: 'none', reason: expect.stringMatching(/no live majority/) })
  })

  it('waits while an earlier change is still taking effect, and only the leader plans', () => {
    const base = status(['a', 'b', 'c'], [], { b: [990, 500], c: [800, 400] })
    const pending = { ...base, configurations: [...base.configurations, { fromSlot: 520, configuration: { epoch: 5, voters: ['a', 'b', 'd'], learners: [] } }] }
    expect(planReplacement(pending, policy, ['s1'])).toMatchObject({ kind: 'none', reason: expect.stringMatching(/still taking effect/) })
    expect(planReplacement({ ...base, role: 'follower' }, policy, ['s1'])).toMatchObject({ kind: 'none', reason: 'not the leader' })
  })

  it('waits until a majority of the new voters know the newest configuration governs', () => {
    const base = status(['a', 'b', 'c'], [], { b: [990, 100], c: [800, 100] })
    const fresh = { ...base, configurations: [{ fromSlot: 400, configuration: base.configuration }] }
    expect(planReplacement(fresh, policy, ['s1'])).toMatchObject({ kind: 'none', reason: expect.stringMatching(/not yet known to a majority/) })
  })

  it('says so when no spare is available', () => {
    const r = planReplacement(status(['a', 'b', 'c'], [], { b: [990, 500], c: [800, 400] }), policy, ['a', 'b', 'c'])
    expect(r).toEqual({ kind: 'none', reason: 'no spare peer available' })
  })

  it('grows toward targetVoters with caught-up learners, keeping the count odd', () => {
    const grow = { ...policy, targetVoters: 3 }
    // One voter and one ready learner: promoting it would make a pair that stalls when either sleeps.
    expect(planReplacement(status(['a'], ['l1'], { l1: [999, 500] }), grow, [])).toMatchObject({ kind: 'none', reason: 'every voter is alive' })
    // Two ready learners: both promoted in one change, never through a pair of voters.
    expect(planReplacement(status(['a'], ['l2', 'l1'], { l1: [999, 500], l2: [999, 499] }), grow, [])).toMatchObject({ kind: 'change', change: { kind: 'promoteLearners', nodes: ['l1', 'l2'] } })
    // An even count (after a removal): one learner makes it odd.
    expect(planReplacement(status(['a', 'l1'], ['l2'], { l1: [999, 500], l2: [999, 499] }), grow, [])).toMatchObject({ kind: 'change', change: { kind: 'promoteLearner', node: 'l2' } })
    // Growing by two would pass the target: a fourth voter is never added to three.
    expect(planReplacement(status(['a', 'b', 'c'], ['l1', 'l2'], { b: [999, 500], c: [999, 500], l1: [999, 500], l2: [999, 500] }), { ...policy, targetVoters: 4 }, [])).toMatchObject({ kind: 'none' })
    // At the target, or with the learner behind or silent: nothing.
    expect(planReplacement(status(['a', 'b', 'c'], ['l1'], { b: [999, 500], c: [999, 500], l1: [999, 500] }), grow, [])).toMatchObject({ kind: 'none' })
    expect(planReplacement(status(['a', 'b'], ['l1'], { b: [999, 500], l1: [999, 100] }), grow, [])).toMatchObject({ kind: 'none' })
    expect(planReplacement(status(['a', 'b'], ['l1'], { b: [999, 500], l1: [900, 500] }), grow, [])).toMatchObject({ kind: 'none' })
    // A learner whose connection just broke (its machine was shut down) is not ready, however
    // recently it answered: the other one alone would make an even count.
    expect(planReplacement(status(['a'], ['l2', 'l1'], { l1: [999, 500, false], l2: [999, 499] }), grow, [])).toMatchObject({ kind: 'none' })
    expect(planReplacement(status(['a', 'l2'], ['l1'], { l1: [999, 500, false], l2: [999, 499] }), grow, [])).toMatchObject({ kind: 'none' })
    // Without a target the policy never grows.
    expect(planReplacement(status(['a'], ['l1', 'l2'], { l1: [999, 500], l2: [999, 500] }), policy, [])).toMatchObject({ kind: 'none' })
  })

  it('keeps a silent learner when told to, and takes a spare instead of waiting for it', () => {
    const keep = { ...policy, removeSilentLearners: false }
    // Nothing to replace: a sleeping learner is left alone.
    expect(planReplacement(status(['a', 'b', 'c'], ['l1'], { b: [990, 500], c: [990, 500], l1: [100, 50] }), keep, ['s1'])).toMatchObject({ kind: 'none', reason: 'every voter is alive' })
    // A voter died: the silent learner neither blocks nor is removed; a spare joins.
    expect(planReplacement(status(['a', 'b', 'c'], ['l1'], { b: [990, 500], c: [800, 400], l1: [100, 50] }), keep, ['s1'])).toMatchObject({ kind: 'change', change: { kind: 'addLearner', node: 's1' } })
    // A live learner still catching up is waited for.
    expect(planReplacement(status(['a', 'b', 'c'], ['l1'], { b: [990, 500], c: [800, 400], l1: [999, 50] }), keep, ['s1'])).toMatchObject({ kind: 'none', reason: expect.stringMatching(/waiting for learner l1/) })
  })
})
