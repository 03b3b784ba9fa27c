import type { Ballot, DurableState, LogEntry, PersistBatch, Slot } from '../paxos/types.ts'
import { BOTTOM_BALLOT } from '../paxos/types.ts'
import type { AbortOptions, Storage } from '../vpeer/interfaces.ts'
import { checkPersistBatch } from './batch.ts'
import { AbortError, StorageClosedError, StorageCrashedError, StorageWriteError } from './errors.ts'

export interface MemoryStorageOptions {
  /**
   * Decides when each write's fsync completes. Called once per accepted `persist` with a `sync`
   * function; until `sync` runs the write is pending and a `crash()` loses it. Calling `sync` for
   * a write also makes every earlier pending write durable (an fsync flushes everything before
   * it); calling it twice, or after the write was lost, does nothing.
   *
   * Without it, a write becomes durable on the next microtask.
   */
  schedule?: (sync: () => void) => void
}

interface PendingWrite {
  readonly promised: Ballot | undefined
  readonly commitIndex: Slot | undefined
  readonly entries: ReadonlyArray<readonly [Slot, LogEntry]>
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
 * one returned by `load`. Maps and arrays are never shared.
 */
export class MemoryStorage implements Storage {
  private readonly schedule: ((sync: () => void) => void) | undefined
  // The durable image.
  private promised: Ballot = BOTTOM_BALLOT
  private commitIndex: Slot = 0
  private readonly log = new Map<Slot, LogEntry>()
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
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, options.signal.reason))
    return Promise.resolve({ promised: this.promised, commitIndex: this.commitIndex, log: new Map(this.log) })
  }

  persist (batch: PersistBatch, options: AbortOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new StorageClosedError())
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(undefined, options.signal.reason))
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

    let resolve!: () => void
    let reject!: (err: Error) => void
    const done = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const write: PendingWrite = {
      promised: batch.promised,
      commitIndex: batch.commitIndex,
      // Copied so that the caller reusing its array cannot change a write in flight.
      entries: batch.entries.slice(),
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
    if (write.promised !== undefined) this.promised = write.promised
    if (write.commitIndex !== undefined) this.commitIndex = write.commitIndex
    for (const [slot, entry] of write.entries) this.log.set(slot, entry)
  }
}

function enospc (): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write'
  })
}
