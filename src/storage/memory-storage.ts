import type { SnapshotMeta } from '../migration/snapshot.js'
import { cloneSnapshotMeta } from '../migration/snapshot.js'
import type { Ballot, DurableState, LogEntry, PersistBatch, Slot } from '../paxos/index.js'
import { BOTTOM_BALLOT } from '../paxos/index.js'
import type { AbortOptions, Storage } from '../contracts/index.js'
import { checkPersistBatch } from './batch.js'
import {
  AbortError,
  CompactBeyondSnapshotError,
  StaleSnapshotError,
  StorageClosedError,
  StorageCrashedError,
  StorageWriteError
} from './errors.js'
import { checkCompactUpTo, checkSnapshot } from './snapshot.js'

export interface MemoryStorageOptions {
  /**
   * Decides when each write's fsync completes. Called once per accepted write (`persist`,
   * `installSnapshot`, `compact`) with a `sync` function; until `sync` runs the write is pending and a `crash()` loses it. Calling `sync` for
   * a write also makes every earlier pending write durable (an fsync flushes everything before
   * it); calling it twice, or after the write was lost, does nothing.
   *
   * Without it, a write becomes durable on the next microtask.
   */
  schedule?: (sync: () => void) => void
}

/** What one write changes, applied to the durable image when its fsync completes. */
type Change =
  | {
    readonly kind: 'persist'
    readonly promised: Ballot | undefined
    readonly commitIndex: Slot | undefined
    readonly entries: ReadonlyArray<readonly [Slot, LogEntry]>
  }
  | { readonly kind: 'snapshot', readonly snapshot: StoredSnapshot }
  | { readonly kind: 'compact', readonly upTo: Slot }

interface StoredSnapshot {
  readonly meta: SnapshotMeta
  readonly state: Uint8Array
}

interface PendingWrite {
  readonly change: Change
  readonly done: Promise<void>
  readonly resolve: () => void
  readonly reject: (err: Error) => void
  settled: boolean
}

/**
 * An in-memory `Storage` for the deterministic simulator: the "disk" is a durable image that
 * survives `crash()`, in front of which sit the writes still waiting for their fsync.
 *
 * It reads no clock, uses no timer and no randomness: when a write becomes durable is decided by
 * the `schedule` option (the simulator's virtual time) or by the microtask queue.
 *
 * Ownership: entries are stored by reference, not copied. `LogEntry` is immutable by contract,
 * so the caller must not mutate an entry (including its command data) after persisting it, nor
 * one returned by `load`. Maps and arrays are never shared. Snapshots are copied in and out
 * (their state is one buffer, and a shared buffer would let a restored state machine write into
 * the "disk").
 */
export class MemoryStorage implements Storage {
  private readonly schedule: ((sync: () => void) => void) | undefined
  // The durable image.
  private promised: Ballot = BOTTOM_BALLOT
  private commitIndex: Slot = 0
  private readonly log = new Map<Slot, LogEntry>()
  private snapshot: StoredSnapshot | undefined
  // Accepted writes not yet synced, in call order. Invariant: none of them is settled.
  private pending: PendingWrite[] = []
  private closed = false
  private failure: unknown
  private failureArmed = false

  constructor (options: MemoryStorageOptions = {}) {
    this.schedule = options.schedule
  }

  /** Writes accepted by `persist` whose fsync has not completed yet. */
  get pendingCount (): number {
    return this.pending.length
  }

  load (options: AbortOptions = {}): Promise<DurableState> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }))
    return Promise.resolve({ promised: this.promised, commitIndex: this.commitIndex, log: new Map(this.log) })
  }

  persist (batch: PersistBatch, options: AbortOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }))
    if (this.failureArmed) {
      const cause = this.failure
      this.failureArmed = false
      this.failure = undefined
      return Promise.reject(new StorageWriteError(cause))
    }
    try {
      checkPersistBatch(batch)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.enqueue({
      kind: 'persist',
      promised: batch.promised,
      commitIndex: batch.commitIndex,
      // Copied so that the caller reusing its array cannot change a write in flight.
      entries: batch.entries.slice()
    })
  }

  /**
   * Queues the snapshot like any other write: until its fsync completes it is pending, invisible
   * to `load`/`loadSnapshot`, and a `crash()` loses it whole (the old snapshot and log stay).
   * Refused before anything is queued: a manifest or state that do not match
   * (`InvalidRecordError`), an index below the newest snapshot written or queued before it
   * (`StaleSnapshotError`; writes apply in call order).
   */
  installSnapshot (meta: SnapshotMeta, state: Uint8Array, options: AbortOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }))
    try {
      checkSnapshot(meta, state)
    } catch (err) {
      return Promise.reject(err)
    }
    const storedIndex = this.latestSnapshotIndex()
    if (storedIndex !== undefined && meta.index < storedIndex) {
      return Promise.reject(new StaleSnapshotError(meta.index, storedIndex))
    }
    return this.enqueue({ kind: 'snapshot', snapshot: { meta: cloneSnapshotMeta(meta), state: new Uint8Array(state) } })
  }

  /** The durable snapshot (pending ones are not durable yet), as a copy. */
  loadSnapshot (options: AbortOptions = {}): Promise<{ meta: SnapshotMeta, state: Uint8Array } | undefined> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }))
    const snapshot = this.snapshot
    return Promise.resolve(snapshot === undefined
      ? undefined
      : { meta: cloneSnapshotMeta(snapshot.meta), state: new Uint8Array(snapshot.state) })
  }

  /**
   * Queues dropping the log up to `upTo`. The bound is checked against the newest snapshot written
   * or queued before it: a crash that loses that snapshot also loses this compaction, which comes
   * after it in the queue.
   */
  compact (upTo: Slot, options: AbortOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }))
    try {
      checkCompactUpTo(upTo)
    } catch (err) {
      return Promise.reject(err)
    }
    const snapshotIndex = this.latestSnapshotIndex() ?? 0
    if (upTo > snapshotIndex) return Promise.reject(new CompactBeyondSnapshotError(upTo, snapshotIndex))
    return this.enqueue({ kind: 'compact', upTo })
  }

  private latestSnapshotIndex (): Slot | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const change = this.pending[i]?.change
      if (change?.kind === 'snapshot') return change.snapshot.meta.index
    }
    return this.snapshot?.meta.index
  }

  private enqueue (change: Change): Promise<void> {
    let resolve!: () => void
    let reject!: (err: Error) => void
    const done = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const write: PendingWrite = {
      change,
      done,
      resolve,
      reject,
      settled: false
    }
    this.pending.push(write)
    const sync = (): void => { this.syncThrough(write) }
    if (this.schedule === undefined) queueMicrotask(sync)
    else this.schedule(sync)
    return done
  }

  async close (): Promise<void> {
    this.closed = true
    // Like a real database, close lets the writes already accepted finish (or be lost to a crash).
    await Promise.allSettled(this.pending.map((write) => write.done))
  }

  /**
   * Simulates the process dying: every pending write is lost and its `persist` rejects with
   * `StorageCrashedError`; the durable image stays. The object is then usable again (and open,
   * even if it had been closed), as the restarted process would open the same disk.
   * @returns how many writes were lost
   */
  crash (): number {
    const lost = this.pending
    this.pending = []
    for (const write of lost) {
      write.settled = true
      write.reject(new StorageCrashedError())
    }
    this.closed = false
    return lost.length
  }

  /**
   * Makes the next `persist` reject with `StorageWriteError` and apply nothing. The default cause
   * looks like Node's error for a full disk.
   */
  failNextPersist (error: unknown = enospc()): void {
    this.failureArmed = true
    this.failure = error
  }

  private syncThrough (target: PendingWrite): void {
    if (target.settled) return
    while (true) {
      const write = this.pending.shift()
      if (write === undefined) break
      this.apply(write)
      write.settled = true
      write.resolve()
      if (write === target) break
    }
  }

  private apply (write: PendingWrite): void {
    const change = write.change
    switch (change.kind) {
      case 'persist':
        if (change.promised !== undefined) this.promised = change.promised
        if (change.commitIndex !== undefined) this.commitIndex = change.commitIndex
        for (const [slot, entry] of change.entries) this.log.set(slot, entry)
        break
      case 'snapshot': {
        const index = change.snapshot.meta.index
        this.snapshot = change.snapshot
        this.dropLogThrough(index)
        // Slots up to the snapshot's index are chosen: the snapshot is their applied result.
        this.commitIndex = Math.max(this.commitIndex, index)
        break
      }
      case 'compact':
        this.dropLogThrough(change.upTo)
        break
    }
  }

  private dropLogThrough (upTo: Slot): void {
    for (const slot of [...this.log.keys()]) if (slot <= upTo) this.log.delete(slot)
  }
}

function enospc (): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write'
  })
}
