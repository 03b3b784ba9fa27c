import { BOTTOM_BALLOT, compareBallots, formatBallot as formatAnyBallot } from '../paxos/index.js'
import type { Ballot, NodeId, PaxosMessage, PersistBatch, Slot } from '../paxos/index.js'
import type { Storage } from '../contracts/index.js'

const formatBallot = (b: Ballot): string => b.round === 0 ? 'none' : formatAnyBallot(b)

/** What a restarted node reports about the state it loaded (a subset of `NodeStatus`). */
export interface LoadedState {
  readonly ballot: Ballot
  readonly commitIndex: Slot
  readonly lastSlot: Slot
}

/** One node's durable image as the checker saw it become durable: promise, commit index, vote ballots. */
class Image {
  promised: Ballot = BOTTOM_BALLOT
  commitIndex: Slot = 0
  readonly votes = new Map<Slot, Ballot>()

  lastVote (): Slot {
    let max = 0
    for (const s of this.votes.keys()) if (s > max) max = s
    return max
  }

  drop (upTo: Slot): void {
    for (const s of [...this.votes.keys()]) if (s <= upTo) this.votes.delete(s)
  }
}

/**
 * The acceptor's durability rules, checked from outside the node (the storage and the network
 * see everything; the node is trusted for nothing):
 * - **no reply before its write is durable**: a `promise` or `accepted` leaves only once the
 *   promise (and the vote) it reports is in the durable image, unless the vote is for a slot the
 *   sender knows chosen (see `onSend`);
 * - **a promise and a vote never go backwards**: no write lowers the durable promised ballot
 *   or the ballot of a durable vote (catch-up keeps the higher ballot, an acceptor accepts only
 *   at or above its promise);
 * - **a restart loses nothing durable**: a restarted node reports a promise, a commit index and
 *   a last slot at least those of its durable image. A storage that "forgets" is caught at the
 *   first restart, whether or not the schedule then makes two values chosen.
 *
 * The image mirrors only writes whose `persist` resolved (durable), so a write lost to a crash
 * before its fsync is not held against the node.
 */
export class DurabilityChecker {
  private readonly images = new Map<NodeId, Image>()
  private readonly report: (message: string) => void

  constructor (report: (message: string) => void) {
    this.report = report
  }

  private image (id: NodeId): Image {
    let img = this.images.get(id)
    if (img === undefined) { img = new Image(); this.images.set(id, img) }
    return img
  }

  /**
   * `inner` as the node sees it, with every durable write mirrored. `afterPersist` runs right
   * after a persist became durable and before the runtime continues (the simulator may crash
   * the node there: "crash after the fsync, before the send").
   */
  wrap (id: NodeId, inner: Storage, afterPersist?: (batch: PersistBatch) => void): Storage {
    return {
      load: async (options) => await inner.load(options),
      persist: async (batch, options) => {
        this.onWrite(id, batch)
        await inner.persist(batch, options)
        this.onDurable(id, batch)
        afterPersist?.(batch)
      },
      close: async () => { await inner.close() },
      installSnapshot: async (meta, state, options) => {
        await inner.installSnapshot(meta, state, options)
        const img = this.image(id)
        img.drop(meta.index)
        img.commitIndex = Math.max(img.commitIndex, meta.index)
      },
      loadSnapshot: async (options) => await inner.loadSnapshot(options),
      compact: async (upTo, options) => {
        await inner.compact(upTo, options)
        this.image(id).drop(upTo)
      }
    }
  }

  /** `id` is about to write `batch`: it must not lower its durable promise or any durable vote's ballot. */
  onWrite (id: NodeId, batch: PersistBatch): void {
    const img = this.image(id)
    if (batch.promised !== undefined && compareBallots(batch.promised, img.promised) < 0) {
      this.report(`${id} lowered its durable promise from ${formatBallot(img.promised)} to ${formatBallot(batch.promised)}`)
    }
    for (const [slot, entry] of batch.entries) {
      const before = img.votes.get(slot)
      if (before !== undefined && compareBallots(entry.ballot, before) < 0) {
        this.report(`${id} lowered the ballot of its durable vote at slot ${slot} from ${formatBallot(before)} to ${formatBallot(entry.ballot)}`)
      }
    }
  }

  /** `batch` is now durable on `id` (drivers without a Storage, like CoreCluster, call this directly). */
  onDurable (id: NodeId, batch: PersistBatch): void {
    const img = this.image(id)
    if (batch.promised !== undefined) img.promised = batch.promised
    if (batch.commitIndex !== undefined) img.commitIndex = batch.commitIndex
    for (const [slot, entry] of batch.entries) img.votes.set(slot, entry.ballot)
  }

  /**
   * `id` is sending `message`: a reply must report only what is already durable. `knownChosen`
   * tells whether the sender knows `slot` chosen (its in-memory commit index covers it): an
   * `accepted` for such a slot re-acknowledges the chosen value (the acceptor takes an accept
   * there only for that value) and cannot change what is chosen, whatever the sender's disk
   * holds. The commit index itself is written lazily (it rides with the next vote), so the
   * durable one may lag what the sender knows.
   */
  onSend (id: NodeId, to: NodeId, message: PaxosMessage, knownChosen: (slot: Slot) => boolean = () => false): void {
    if (message.type !== 'promise' && message.type !== 'accepted') return
    const img = this.image(id)
    if (compareBallots(img.promised, message.ballot) < 0) {
      this.report(`${id} sent ${message.type} ${formatBallot(message.ballot)} to ${to} while its durable promise was ${formatBallot(img.promised)}`)
      return
    }
    if (message.type === 'accepted' && message.slot > img.commitIndex && !knownChosen(message.slot)) {
      const vote = img.votes.get(message.slot)
      if (vote === undefined || compareBallots(vote, message.ballot) < 0) {
        this.report(`${id} sent accepted ${formatBallot(message.ballot)} for slot ${message.slot} to ${to} before the vote was durable`)
      }
    }
  }

  /** `id` restarted and loaded `loaded`: nothing it durably wrote may be missing. */
  onRestart (id: NodeId, loaded: LoadedState): void {
    const img = this.image(id)
    if (compareBallots(loaded.ballot, img.promised) < 0) {
      this.report(`${id} restarted with promise ${formatBallot(loaded.ballot)} below its durable promise ${formatBallot(img.promised)}`)
    }
    if (loaded.commitIndex < img.commitIndex) {
      this.report(`${id} restarted with commit index ${loaded.commitIndex} below its durable ${img.commitIndex}`)
    }
    const last = img.lastVote()
    if (loaded.lastSlot < last) {
      this.report(`${id} restarted with its log ending at slot ${loaded.lastSlot}, but it durably voted up to slot ${last}`)
    }
  }
}
