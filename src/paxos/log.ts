import { assert } from '../util/assert.js'
import type { LogEntry, Slot } from './types.js'

/**
 * The acceptor's votes, which are also the learner's log (the in-memory mirror of the durable
 * log), and its compaction against the runtime's snapshots. It knows nothing of commit: the
 * node says which slots are chosen, this says which of them may be forgotten.
 *
 * Invariants: `compactedThrough ≤ snapshotIndex`; no entry at or below `compactedThrough`;
 * `lastSlot` ≥ every slot with an entry.
 */
export class PaxosLog {
  private readonly entries: Map<Slot, LogEntry>
  private last: Slot = 0
  private snapshot: Slot = 0
  private compacted: Slot = 0

  constructor (entries: ReadonlyMap<Slot, LogEntry>, snapshotIndex: Slot = 0) {
    this.entries = new Map(entries)
    if (snapshotIndex > 0) {
      // Storage dropped the log up to the snapshot; a leftover entry there is dropped too.
      this.snapshot = snapshotIndex
      this.compacted = snapshotIndex
      this.last = snapshotIndex
      for (const slot of [...this.entries.keys()]) if (slot <= snapshotIndex) this.entries.delete(slot)
    }
    for (const slot of this.entries.keys()) if (slot > this.last) this.last = slot
  }

  /** The highest slot this node holds (or held) a vote or chosen value for. */
  get lastSlot (): Slot {
    return this.last
  }

  /** Index of the newest snapshot held by the runtime's storage (0 = none). */
  get snapshotIndex (): Slot {
    return this.snapshot
  }

  /** Slots ≤ this are no longer held here (they are in a snapshot). */
  get compactedThrough (): Slot {
    return this.compacted
  }

  get size (): number {
    return this.entries.size
  }

  get (slot: Slot): LogEntry | undefined {
    return this.entries.get(slot)
  }

  has (slot: Slot): boolean {
    return this.entries.has(slot)
  }

  /** Stores the entry of `slot` (a vote, or a chosen value learned by catch-up). */
  set (slot: Slot, entry: LogEntry): void {
    this.entries.set(slot, entry)
    if (slot > this.last) this.last = slot
  }

  /** The entry of a slot that must be present (committed, not compacted). */
  entryAt (slot: Slot): LogEntry {
    assert(slot > this.compacted, () => `slot ${slot} is compacted (≤ ${this.compacted})`)
    const e = this.entries.get(slot)
    assert(e !== undefined, () => `no log entry at committed slot ${slot}`)
    return e
  }

  /** Every entry at or above `first`, ascending (a Phase-1b reply's votes). */
  entriesFrom (first: Slot): Array<[Slot, LogEntry]> {
    const out: Array<[Slot, LogEntry]> = []
    if (this.last - first < this.entries.size) {
      for (let s = first; s <= this.last; s++) {
        const e = this.entries.get(s)
        if (e !== undefined) out.push([s, e])
      }
    } else {
      // A sparse tail (votes far above the rest): walk the entries, not the slot range.
      for (const [s, e] of this.entries) if (s >= first) out.push([s, e])
      out.sort((a, b) => a[0] - b[0])
    }
    return out
  }

  /** The runtime's storage durably holds a snapshot at `index` (never lowers it). */
  snapshotTaken (index: Slot): void {
    if (index > this.snapshot) this.snapshot = index
  }

  /**
   * A snapshot from a peer was installed at `index`: slots up to it are covered, and the log
   * may not end below it.
   */
  snapshotInstalled (index: Slot): void {
    if (index > this.last) this.last = index
    this.snapshotTaken(index)
    this.dropThrough(index)
  }

  /**
   * Drops entries ≤ `upTo`, never above the snapshot index or `appliedIndex` (those entries are
   * still needed to apply, or to serve catch-up without a snapshot). Returns the compaction point.
   */
  compact (upTo: Slot, appliedIndex: Slot): Slot {
    const limit = Math.min(upTo, this.snapshot, appliedIndex)
    if (limit > this.compacted) this.dropThrough(limit)
    return this.compacted
  }

  private dropThrough (upTo: Slot): void {
    if (upTo <= this.compacted) return
    if (upTo - this.compacted > this.entries.size) {
      for (const slot of [...this.entries.keys()]) if (slot <= upTo) this.entries.delete(slot)
    } else {
      for (let s = this.compacted + 1; s <= upTo; s++) this.entries.delete(s)
    }
    this.compacted = upTo
  }
}
