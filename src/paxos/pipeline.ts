import { assert } from '../util/assert.js'
import { isQuorum } from './quorum.js'
import type { Timeout } from './timeout.js'
import type { Command, Configuration, NodeId, Slot, Value } from './types.js'

/**
 * The α rule, the safety rule α names: a leader may propose slot t only when every slot ≤ t − α
 * is chosen and known here, i.e. t ≤ commitIndex + α. A configuration chosen at slot s governs
 * slots ≥ s + α, so the configuration of every slot in this window is already known and final.
 */
export function inAlphaWindow (slot: Slot, commitIndex: Slot, alpha: number): boolean {
  return slot > commitIndex && slot <= commitIndex + alpha
}

/** A slot proposed in this ballot and not yet chosen. */
export interface InflightSlot {
  readonly value: Value
  readonly acks: Set<NodeId>
  /** The configuration governing the slot: its voters decide it. */
  readonly configuration: Configuration
  /** Re-send the accept to the voters that have not voted when this expires. */
  readonly retry: Timeout
}

/**
 * Phase 2 of one leadership (PMMC's commanders, pipelined and batched): the command queue, the
 * slots in flight with their votes, and the slots chosen above the commit index that wait for
 * the ones below them. Which value goes into which slot, and when, is the leader's decision
 * (`PaxosNode.maybePropose`); this keeps the books.
 *
 * Invariant (checked by the node): every in-flight slot lies in the α window.
 */
export class Pipeline {
  /** The next slot to propose. */
  nextSlot: Slot
  private readonly inflight = new Map<Slot, InflightSlot>()
  /** Slots chosen in this ballot above the commit index, waiting for the slots below them. */
  private readonly chosen = new Map<Slot, Value>()
  private readonly queue: Command[] = []
  private queueHead = 0

  constructor (nextSlot: Slot) {
    this.nextSlot = nextSlot
  }

  /** Commands waiting for a slot. */
  get queued (): number {
    return this.queue.length - this.queueHead
  }

  get inflightCount (): number {
    return this.inflight.size
  }

  inflightSlots (): IterableIterator<Slot> {
    return this.inflight.keys()
  }

  enqueue (command: Command): void {
    this.queue.push(command)
  }

  /**
   * Cuts the next batch from the queue: at most `maxCommands` commands and `maxBytes` bytes,
   * but at least one command (a single command may be up to `maxBytes` on its own).
   */
  cutBatch (maxCommands: number, maxBytes: number): Command[] {
    const commands: Command[] = []
    let bytes = 0
    while (this.queueHead < this.queue.length && commands.length < maxCommands) {
      const c = this.queue[this.queueHead]
      assert(c !== undefined, 'queue head within bounds')
      if (commands.length > 0 && bytes + c.data.byteLength > maxBytes) break
      commands.push(c)
      bytes += c.data.byteLength
      this.queueHead++
    }
    return commands
  }

  /** Releases the queue's consumed prefix (at once when empty, else once it is most of the array). */
  compactQueue (): void {
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0
      this.queueHead = 0
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead)
      this.queueHead = 0
    }
  }

  /** `slot` is proposed with `value`, decided by the voters of `configuration`. */
  open (slot: Slot, value: Value, configuration: Configuration, retry: Timeout): void {
    assert(!this.inflight.has(slot), () => `slot ${slot} proposed twice in one ballot`)
    this.inflight.set(slot, { value, acks: new Set(), configuration, retry })
  }

  /**
   * `from` voted for `slot` in this ballot. Returns true when that vote completed a quorum of
   * the slot's configuration: the slot is chosen (votes of non-voters never count).
   */
  vote (slot: Slot, from: NodeId): boolean {
    const infl = this.inflight.get(slot)
    if (infl === undefined) return false
    infl.acks.add(from)
    if (!isQuorum(infl.acks, infl.configuration)) return false
    this.inflight.delete(slot)
    this.chosen.set(slot, infl.value)
    return true
  }

  /** Removes and returns the value chosen at `slot`, if it is. */
  takeChosen (slot: Slot): Value | undefined {
    const value = this.chosen.get(slot)
    if (value !== undefined) this.chosen.delete(slot)
    return value
  }

  /** This ballot's proposal for `slot`, in flight or chosen. */
  proposalAt (slot: Slot): Value | undefined {
    return this.inflight.get(slot)?.value ?? this.chosen.get(slot)
  }

  /**
   * In-flight slots whose retry expired, with their retry restarted: re-send their accepts to
   * the voters that have not voted.
   */
  dueForRetransmit (): Array<[Slot, InflightSlot]> {
    const out: Array<[Slot, InflightSlot]> = []
    for (const [slot, infl] of this.inflight) {
      if (!infl.retry.expired()) continue
      infl.retry.start()
      out.push([slot, infl])
    }
    return out
  }

  /**
   * The commit index moved to `commitIndex` by catch-up: drops the books at or below it. Each
   * in-flight slot dropped must hold the value `chosenId` says was chosen there (Phase 1 made
   * our proposal the only value a ballot up to ours can have chosen).
   */
  dropThrough (commitIndex: Slot, chosenId: (slot: Slot) => string | undefined): void {
    for (const slot of this.inflight.keys()) {
      if (slot <= commitIndex) {
        const infl = this.inflight.get(slot)
        const id = chosenId(slot)
        assert(infl !== undefined && id !== undefined && infl.value.id === id, () => `catch-up value at slot ${slot} contradicts this leader's proposal`)
        this.inflight.delete(slot)
      }
    }
    for (const slot of this.chosen.keys()) if (slot <= commitIndex) this.chosen.delete(slot)
    if (this.nextSlot <= commitIndex) this.nextSlot = commitIndex + 1
  }
}
