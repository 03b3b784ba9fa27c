import type { RandomSource } from './ready.js'
import { Timeout, retryJitter } from './timeout.js'
import type { TickClock } from './timeout.js'
import type { NodeId, Slot } from './types.js'

/** A catch-up request this node sent: the range it asked for, answerable until it expires. */
export interface CatchupAsk {
  readonly fromSlot: Slot
  readonly toSlot: Slot
  readonly expiry: Timeout
}

/**
 * The catch-up requests a node sent (the learner side of fetching chosen values). Chosen values
 * enter the log only as the answer to one of these, from the member asked, inside the range
 * asked for: a reply nobody asked for, from anyone, is dropped. One retry timeout paces all
 * requests, whoever they go to; a request stays answerable for `replyRetries` retry intervals.
 */
export class CatchupRequests {
  private readonly retry: Timeout
  private readonly lifetime: number
  private readonly asked = new Map<NodeId, CatchupAsk>()
  private pollAttempt = 0

  /** `random`: retries are jittered by up to half an interval (none without it). */
  constructor (private readonly clock: TickClock, retryTicks: number, replyRetries: number, random?: RandomSource) {
    this.retry = new Timeout(clock, retryTicks, random === undefined ? undefined : retryJitter(random, retryTicks))
    // + 1: a reply arriving in the last tick of the last interval still counts.
    this.lifetime = retryTicks * replyRetries + 1
  }

  /** No request went out within the retry interval (or the pacing was lifted): one may go now. */
  get mayRequest (): boolean {
    return this.retry.due()
  }

  /** The pacing was lifted since the last request (progress was made, or a new leader started). */
  get idle (): boolean {
    return !this.retry.running
  }

  /** Lets the next request go out at once. */
  unpace (): void {
    this.retry.stop()
  }

  /** A request for `fromSlot..toSlot` went to `to`. */
  sent (to: NodeId, fromSlot: Slot, toSlot: Slot): void {
    this.retry.start()
    this.asked.set(to, { fromSlot, toSlot, expiry: new Timeout(this.clock, this.lifetime).start() })
  }

  /** Forgets the requests unanswered for too long: their replies are no longer accepted. */
  expire (): void {
    if (this.asked.size === 0) return
    for (const [peer, ask] of this.asked) if (ask.expiry.expired()) this.asked.delete(peer)
  }

  /** Whether `peer` may answer with chosen state: this node asked it, recently. */
  requested (peer: NodeId): boolean {
    return this.asked.has(peer)
  }

  /** The request a reply from `from` answers, consumed (one reply per request). */
  take (from: NodeId): CatchupAsk | undefined {
    const ask = this.asked.get(from)
    if (ask !== undefined) this.asked.delete(from)
    return ask
  }

  /** The member to poll next, rotating through `members`. */
  nextPollTarget (members: readonly NodeId[]): NodeId | undefined {
    return members[this.pollAttempt++ % Math.max(1, members.length)]
  }
}
