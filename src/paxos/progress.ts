import type { NodeId, Slot } from './types.js'

/** What a leader knows of one member (for `NodeStatus.peers`). */
export interface PeerProgress {
  readonly id: NodeId
  readonly commitIndex: Slot
  readonly lastAckTick: number
  readonly lastHeardTick: number
  /**
   * False once the runtime reported the connection to this member broken, until it is heard
   * from again. Only choices that merely prefer a live member read it (which learner to
   * promote): a broken connection may be a blip, so it never counts as silence.
   */
  readonly reachable: boolean
}

/**
 * A leader's view of the other members (etcd/raft's `tracker`): when each last acknowledged
 * this leadership (check-quorum counts these), when each last sent anything at all (liveness for
 * replacement: a learner fetching a large snapshot may answer no heartbeat yet, but it is
 * alive), the commit index each reported, and which member to ask next for chosen values.
 * Times are ticks of the leader's logical clock.
 */
export class Progress {
  private readonly lastAck = new Map<NodeId, number>()
  private readonly lastHeard = new Map<NodeId, number>()
  private readonly commit = new Map<NodeId, Slot>()
  private readonly unreachable = new Set<NodeId>()
  /**
   * The highest commit index a heartbeat ack reported. Only a hint to fetch more: safety rests
   * on Phase 1 alone, so a wrong (or forged) hint can cost messages but never block proposals
   * or reads.
   */
  private hint: Slot
  private catchupAttempt = 0

  /** Every voter gets a full timeout from the start of the leadership before it counts as silent. */
  constructor (voters: readonly NodeId[], now: number, commitIndex: Slot) {
    for (const v of voters) this.lastAck.set(v, now)
    for (const [v, t] of this.lastAck) this.lastHeard.set(v, t)
    this.hint = commitIndex
  }

  /** `from` acknowledged this leadership (a promise, vote or heartbeat ack). */
  acked (from: NodeId, now: number): void {
    this.lastAck.set(from, now)
    this.unreachable.delete(from)
  }

  /** `from` sent something, whatever it was. */
  heard (from: NodeId, now: number): void {
    this.lastHeard.set(from, now)
    this.unreachable.delete(from)
  }

  /** The runtime reported the connection to `id` broken (its process stopped, or the path failed). */
  lost (id: NodeId): void {
    this.unreachable.add(id)
  }

  /** A heartbeat ack reported `from`'s commit index. */
  reportCommit (from: NodeId, commitIndex: Slot): void {
    this.commit.set(from, commitIndex)
    if (commitIndex > this.hint) this.hint = commitIndex
  }

  get catchupHint (): Slot {
    return this.hint
  }

  /**
   * A configuration added `members`: each one that was not a member of `previous` (or has no
   * acknowledgement on record) gets a full timeout from now. A member added again after an
   * earlier removal must not inherit its old timestamps.
   */
  admit (previous: ReadonlySet<NodeId>, members: readonly NodeId[], now: number): void {
    for (const id of members) {
      if (previous.has(id) && this.lastAck.has(id)) continue
      this.lastAck.set(id, now)
      this.lastHeard.set(id, now)
    }
  }

  /** The voters (and `self`) that acknowledged within the last `window` ticks. */
  ackedWithin (voters: readonly NodeId[], self: NodeId, now: number, window: number): Set<NodeId> {
    return new Set(voters.filter(v => v === self || now - (this.lastAck.get(v) ?? -Infinity) < window))
  }

  /** Members whose reported commit index is above `commitIndex`. */
  aheadOf (members: readonly NodeId[], commitIndex: Slot): NodeId[] {
    return members.filter(v => (this.commit.get(v) ?? 0) > commitIndex)
  }

  /** The next source of a catch-up, rotating through `pool` on each retry. */
  nextCatchupSource (pool: readonly NodeId[]): NodeId | undefined {
    return pool[this.catchupAttempt++ % pool.length]
  }

  peer (id: NodeId): PeerProgress {
    const lastAckTick = this.lastAck.get(id) ?? -1
    return { id, commitIndex: this.commit.get(id) ?? 0, lastAckTick, lastHeardTick: Math.max(this.lastHeard.get(id) ?? -1, lastAckTick), reachable: !this.unreachable.has(id) }
  }
}
