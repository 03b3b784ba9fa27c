import type { PaxosMutations } from './config.js'
import { quorumIndex } from './quorum.js'
import type { ConfigEntry } from './reconfiguration.js'
import type { NodeId, Slot } from './types.js'

/** A read waiting at the leader for its confirmation. */
export interface PendingRead {
  readonly id: string
  /** Who asked: this node (answered through Ready.reads) or a follower (answered with readReply). */
  readonly origin: NodeId
  /** The heartbeat round that confirms it: -1 = the next one to start, 0 = none needed (sole voter). */
  seq: number
}

/**
 * A leader's read-index state (etcd/raft's `read_only.go`): reads wait for a heartbeat round
 * that started after they arrived to be acknowledged by a quorum of every known configuration.
 * Rounds are numbered (`round`, carried by heartbeats as `readSeq`); a member's ack of round r
 * confirms every read waiting on a round ≤ r. Reads never enter the log.
 */
export class ReadIndex {
  private seq = 0
  private due = false
  /** The highest round each member acknowledged. */
  private readonly acks = new Map<NodeId, number>()
  private readonly waiting: PendingRead[] = []

  /** The newest round started (heartbeats carry it). */
  get round (): number {
    return this.seq
  }

  /** A read waits for a round that has not started yet: the next heartbeat should start it. */
  get roundDue (): boolean {
    return this.due
  }

  get pendingCount (): number {
    return this.waiting.length
  }

  /** A new read; `alone`: this node is a quorum of every configuration by itself (no round needed). */
  add (id: string, origin: NodeId, alone: boolean): void {
    if (alone) {
      this.waiting.push({ id, origin, seq: 0 })
    } else {
      this.waiting.push({ id, origin, seq: -1 })
      this.due = true
    }
  }

  /** A heartbeat round starts: every read waiting for one waits for this one. */
  startRound (): void {
    this.seq++
    this.due = false
    for (const r of this.waiting) if (r.seq < 0) r.seq = this.seq
  }

  /**
   * Whether the newest round started is not yet confirmed by a quorum of every configuration:
   * reads that arrive meanwhile wait for the next round, which starts once this one is confirmed
   * (or at the next heartbeat), so rounds never pile up behind a slow quorum.
   */
  roundInFlight (configs: readonly ConfigEntry[], self: NodeId): boolean {
    return this.seq > 0 && this.confirmedRound(configs, self) < this.seq
  }

  /** `from` acknowledged round `seq`; returns whether that is news. */
  ack (from: NodeId, seq: number): boolean {
    if (seq <= (this.acks.get(from) ?? 0)) return false
    this.acks.set(from, seq)
    return true
  }

  /**
   * The newest round a quorum of every configuration in `configs` acknowledged (this node,
   * `self`, has acknowledged every round it started).
   */
  confirmedRound (configs: readonly ConfigEntry[], self: NodeId): number {
    const acks = new Map(this.acks)
    acks.set(self, this.seq)
    let confirmed = Infinity
    for (const e of configs) confirmed = Math.min(confirmed, quorumIndex(acks, e.configuration))
    return confirmed
  }

  /**
   * Removes and returns the reads confirmed now. `alone` as for `add`: a read that needed no
   * round needs one after all once voters were added since it arrived.
   */
  resolve (configs: readonly ConfigEntry[], self: NodeId, alone: boolean): PendingRead[] {
    const done: PendingRead[] = []
    const remaining: PendingRead[] = []
    const confirmed = this.confirmedRound(configs, self)
    for (const r of this.waiting) {
      if (r.seq === 0 && !alone) {
        r.seq = -1
        this.due = true
      }
      if (r.seq === 0 || (r.seq > 0 && r.seq <= confirmed)) done.push(r)
      else remaining.push(r)
    }
    this.waiting.length = 0
    this.waiting.push(...remaining)
    return done
  }

  /** The leadership ends: every waiting read fails. */
  drain (): PendingRead[] {
    return this.waiting.splice(0, this.waiting.length)
  }

  /** Forgets `origin`'s read `id` (the runtime gave up on it). */
  cancel (id: string, origin: NodeId): void {
    const i = this.waiting.findIndex(r => r.id === id && r.origin === origin)
    if (i >= 0) this.waiting.splice(i, 1)
  }
}

/**
 * Condition (2) of a read-index read: this leader knows every value chosen before it led. Its
 * commit index covers everything Phase 1 reported (slots committed elsewhere, `chosenThrough`,
 * and votes, `maxReported`), and Phase 1 reached a quorum of every configuration governing a
 * slot above the commit index. Without it a value an earlier leader chose and acknowledged
 * could lie above the read index; worse, a configuration chosen in a slot not committed here
 * could govern the next slots, with voters the heartbeat round never asked (nemesis seed 62).
 */
export function leaderRecovered (
  commitIndex: Slot,
  phase1: { readonly chosenThrough: Slot, readonly maxReported: Slot, prepared: (configuration: ConfigEntry['configuration']) => boolean },
  configs: readonly ConfigEntry[],
  mutations: PaxosMutations | undefined
): boolean {
  if (commitIndex < Math.max(phase1.chosenThrough, mutations?.readIndexIgnoresPhase1 === true ? 0 : phase1.maxReported)) return false
  for (const e of configs) if (!phase1.prepared(e.configuration)) return false
  return true
}
