/**
 * What the head record says about the log as a whole: how many records, and the sum mod 2^32 of
 * their CRCs (each bound to its key). Every record verifies on its own; this catches what no
 * single record can show: a whole record deleted (a vote above the commit index leaves no gap
 * anyone could see), a record copied under a new key, an older valid version of a record brought
 * back. A sum, not a hash, so that one batch updates it in O(changes), not O(log).
 */
import type { Slot } from '../paxos/index.js'

export class LogDigest {
  private readonly crcs = new Map<Slot, number>()
  private total = 0

  get count (): number {
    return this.crcs.size
  }

  get sum (): number {
    return this.total
  }

  /** The CRC of the record at `slot`, if there is one. */
  get (slot: Slot): number | undefined {
    return this.crcs.get(slot)
  }

  /** Slots at or below `upTo`, ascending. */
  slotsThrough (upTo: Slot): Slot[] {
    const out: Slot[] = []
    for (const slot of this.crcs.keys()) if (slot <= upTo) out.push(slot)
    return out.sort((a, b) => a - b)
  }

  /** Slots above `after`, in no particular order. */
  * slotsAbove (after: Slot): Iterable<Slot> {
    for (const slot of this.crcs.keys()) if (slot > after) yield slot
  }

  /** Adds a record while scanning the database (no slot twice: keys are unique). */
  add (slot: Slot, crc: number): void {
    this.crcs.set(slot, crc)
    this.total = (this.total + crc) >>> 0
  }

  /** A pending change for one batch: applied by `commit` once the batch is durable. */
  change (): LogDigestChange {
    return new LogDigestChange(this)
  }

  /** @internal */
  apply (changes: ReadonlyMap<Slot, number | undefined>): void {
    for (const [slot, crc] of changes) {
      const old = this.crcs.get(slot)
      if (old !== undefined) this.total = (this.total - old) >>> 0
      if (crc === undefined) {
        this.crcs.delete(slot)
      } else {
        this.crcs.set(slot, crc)
        this.total = (this.total + crc) >>> 0
      }
    }
  }
}

/** A batch's changes over a `LogDigest`, readable before they are applied. */
export class LogDigestChange {
  private readonly changes = new Map<Slot, number | undefined>()
  private countDelta = 0
  private sumDelta = 0

  constructor (private readonly base: LogDigest) {}

  private current (slot: Slot): number | undefined {
    return this.changes.has(slot) ? this.changes.get(slot) : this.base.get(slot)
  }

  put (slot: Slot, crc: number): void {
    const old = this.current(slot)
    if (old === undefined) this.countDelta++
    else this.sumDelta = (this.sumDelta - old) >>> 0
    this.sumDelta = (this.sumDelta + crc) >>> 0
    this.changes.set(slot, crc)
  }

  del (slot: Slot): void {
    const old = this.current(slot)
    if (old === undefined) return
    this.countDelta--
    this.sumDelta = (this.sumDelta - old) >>> 0
    this.changes.set(slot, undefined)
  }

  get count (): number {
    return this.base.count + this.countDelta
  }

  get sum (): number {
    return (this.base.sum + this.sumDelta) >>> 0
  }

  commit (): void {
    this.base.apply(this.changes)
  }
}
