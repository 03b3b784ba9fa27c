import { ballotGreater } from './ballot.js'
import type { PaxosMutations } from './config.js'
import type { PromiseMessage } from './messages.js'
import { majority } from './quorum.js'
import type { RandomSource } from './ready.js'
import { Timeout, retryJitter } from './timeout.js'
import type { TickClock } from './timeout.js'
import type { Configuration, LogEntry, NodeId, Slot } from './types.js'

/**
 * Phase 1 of one leadership (PMMC's scout, merged): every promise for the leader's ballot and
 * what they reported. Slots at or below an acceptor's commit index are chosen (the leader
 * fetches them, `chosenThrough`); above it, the vote with the highest ballot of each slot is the
 * one to re-propose (PMMC §3). Taking the highest over more acceptors than one quorum is still
 * safe: every vote in a ballot above the one that chose a value carries that value.
 *
 * Phase 1 must reach a quorum of each configuration that governs a slot before the leader
 * proposes there; voters of a configuration learned later are asked later, with the same ballot.
 */
export class PromiseMerge {
  /** Every promise for this ballot, by acceptor (the leader's own included). */
  readonly promises = new Map<NodeId, PromiseMessage>()
  /** Highest-ballot vote per slot over all promises. */
  private readonly best = new Map<Slot, LogEntry>()
  /** Highest slot any promise reported a vote for: reads wait for it, holes below it get no-ops. */
  private maxReportedSlot: Slot
  /** Slots up to here are known chosen (a promise reported them committed). */
  private chosenThroughSlot: Slot
  /** When each voter not yet promised was last sent a prepare. */
  private readonly prepareSent = new Map<NodeId, Timeout>()

  constructor (
    private readonly self: NodeId,
    commitIndex: Slot,
    private readonly mutations: PaxosMutations | undefined
  ) {
    this.maxReportedSlot = commitIndex
    this.chosenThroughSlot = commitIndex
  }

  get maxReported (): Slot {
    return this.maxReportedSlot
  }

  get chosenThrough (): Slot {
    return this.chosenThroughSlot
  }

  /** Merges one Phase-1b reply. */
  absorb (from: NodeId, p: PromiseMessage): void {
    this.promises.set(from, p)
    this.prepareSent.delete(from)
    if (p.commitIndex > this.chosenThroughSlot) this.chosenThroughSlot = p.commitIndex
    for (const [s, e] of p.entries) {
      const cur = this.best.get(s)
      if (cur === undefined || (this.mutations?.phase1KeepsLowestBallot === true ? ballotGreater(cur.ballot, e.ballot) : ballotGreater(e.ballot, cur.ballot))) this.best.set(s, e)
      if (s > this.maxReportedSlot) this.maxReportedSlot = s
    }
  }

  /** The vote to re-propose at `slot` (undefined: a hole, filled with a no-op). */
  recovered (slot: Slot): LogEntry | undefined {
    return this.best.get(slot)
  }

  /** Whether Phase 1 reached a quorum of `configuration` (this node counts: it promised first). */
  prepared (configuration: Configuration): boolean {
    if (this.mutations?.skipPhase1 === true) return true
    let count = 0
    for (const v of configuration.voters) if (v === this.self || this.promises.has(v)) count++
    return count >= majority(configuration.voters.length) - (this.mutations?.phase1QuorumTooSmall === true ? 1 : 0)
  }

  /**
   * The voters of `configuration` to send a prepare now: those that have not promised and were
   * not asked within `retryTicks` (jittered by up to half of it with `random`). Records them as asked.
   */
  toAsk (configuration: Configuration, clock: TickClock, retryTicks: number, random?: RandomSource): NodeId[] {
    const out: NodeId[] = []
    for (const v of configuration.voters) {
      if (v === this.self || this.promises.has(v)) continue
      const sent = this.prepareSent.get(v)
      if (sent !== undefined && !sent.due()) continue
      this.prepareSent.set(v, new Timeout(clock, retryTicks, random === undefined ? undefined : retryJitter(random, retryTicks)).start())
      out.push(v)
    }
    return out
  }

  /** Promisers (other than this node) that reported slots above `commitIndex` committed. */
  holdersAbove (commitIndex: Slot): NodeId[] {
    const out: NodeId[] = []
    for (const [id, p] of this.promises) if (id !== this.self && p.commitIndex > commitIndex) out.push(id)
    return out
  }
}
