import { assert } from '../util/assert.js'
import { mark } from '../util/marks.js'
import { compareBallots, maxBallot } from './ballot.js'
import type { PaxosMutations } from './config.js'
import type { PaxosLog } from './log.js'
import type { PromiseMessage } from './messages.js'
import type { Ballot, LogEntry, PersistBatch, Slot, Value } from './types.js'

/**
 * The acceptor's durable rules (PMMC's acceptor, plus what being the learner's log too adds):
 * the promise never decreases; a vote is never cast below it; a slot known chosen is never
 * overwritten; and a chosen value learned by catch-up never lowers the ballot of a vote for it.
 * Every write lands in the persist batch of the next Ready, which is durable before any message
 * of that Ready leaves. Whether a message deserves a vote (its sender, its ballot's owner, how
 * far ahead it is) is the node's business; this keeps the books and their invariants.
 */
export class Acceptor {
  private promisedBallot: Ballot
  private persistEntries = new Map<Slot, LogEntry>()
  private persistPromised = false

  constructor (promised: Ballot, private readonly log: PaxosLog, private readonly mutations: PaxosMutations | undefined) {
    this.promisedBallot = promised
  }

  get promised (): Ballot {
    return this.promisedBallot
  }

  /** Promises `ballot` (at least the current promise). */
  promise (ballot: Ballot): void {
    assert(compareBallots(ballot, this.promisedBallot) >= 0, 'promised ballot never decreases')
    this.promisedBallot = ballot
    this.persistPromised = true
  }

  /** Phase 1b: the votes above `commitIndex` from `fromSlot` on (slots at or below it are chosen: catch up instead). */
  promiseReply (ballot: Ballot, fromSlot: Slot, commitIndex: Slot): PromiseMessage {
    return { type: 'promise', ballot, commitIndex, entries: this.log.entriesFrom(Math.max(fromSlot, commitIndex + 1)) }
  }

  /**
   * Phase 2b: votes for `value` at `slot` in `ballot` (not below the promise). A slot at or
   * below `commitIndex` holds its chosen value and is never overwritten: the acceptor's log is
   * also the learner's, and a late accept from a deposed leader may carry another value.
   * Returns whether the vote for `value` stands.
   */
  accept (slot: Slot, ballot: Ballot, value: Value, commitIndex: Slot): boolean {
    assert(compareBallots(ballot, this.promisedBallot) >= 0, 'accept below the promised ballot')
    if (slot <= commitIndex && this.mutations?.overwriteChosenSlot !== true) {
      const known = this.log.get(slot)
      if (known !== undefined && known.value.id === value.id) return true
      mark('acceptor: accept for a chosen slot with another value dropped')
      return false
    }
    this.write(slot, { ballot, value })
    return true
  }

  /**
   * `entry` holds the value chosen at `slot` (learned by catch-up). An entry with another value
   * is replaced, but keeps the higher of the two ballots: lowering the ballot of a vote for the
   * chosen value could let a stale value with a ballot in between win a later Phase 1.
   */
  learnChosen (slot: Slot, entry: LogEntry): void {
    const existing = this.log.get(slot)
    if (existing !== undefined && existing.value.id === entry.value.id) return
    const ballot = this.mutations?.catchupLowersBallot !== true && existing !== undefined ? maxBallot(existing.ballot, entry.ballot) : entry.ballot
    this.write(slot, { ballot, value: entry.value })
  }

  /** Something waits to be made durable. */
  get dirty (): boolean {
    return this.persistEntries.size > 0 || this.persistPromised
  }

  /** The writes since the last call, as the start of a persist batch (the node adds the commit index). */
  takePersist (): PersistBatch {
    const batch: PersistBatch = { entries: [...this.persistEntries] }
    if (this.persistPromised) batch.promised = this.promisedBallot
    this.persistEntries = new Map()
    this.persistPromised = false
    return batch
  }

  private write (slot: Slot, entry: LogEntry): void {
    this.log.set(slot, entry)
    this.persistEntries.set(slot, entry)
  }
}
