import type { LogEntry, PersistBatch, Slot } from '../paxos/index.js'
import { BOTTOM_BALLOT } from '../paxos/index.js'
import { logEntryEncodedBytes, metaEncodedBytes } from './codec.js'
import { InvalidRecordError } from './errors.js'
import { checkSlot } from './keys.js'

/**
 * Throws `InvalidRecordError` if any part of `batch` cannot be stored. Every implementation runs
 * this before touching its state, so a rejected batch changes nothing, and the simulator's
 * in-memory storage refuses exactly what LevelDB would refuse.
 */
export function checkPersistBatch (batch: PersistBatch): void {
  if (batch.promised !== undefined || batch.commitIndex !== undefined) {
    metaEncodedBytes({ promised: batch.promised ?? BOTTOM_BALLOT, commitIndex: batch.commitIndex ?? 0 })
  }
  if (!Array.isArray(batch.entries)) throw new InvalidRecordError('entries', 'expected an array of [slot, entry]')
  for (const [slot, entry] of batch.entries) checkEntry(slot, entry, logEntryEncodedBytes)
}

/** Runs `check` on one entry, naming the slot in any `InvalidRecordError`. */
export function checkEntry<T> (slot: Slot, entry: LogEntry, check: (entry: LogEntry) => T): T {
  checkSlot(slot)
  try {
    return check(entry)
  } catch (err) {
    if (err instanceof InvalidRecordError) throw new InvalidRecordError(`log/${slot} ${err.field}`, err.reason)
    throw err
  }
}
