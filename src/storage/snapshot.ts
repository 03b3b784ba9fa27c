/**
 * Checks shared by every `Storage` for `installSnapshot` and `compact`, run before anything is
 * written, so both implementations refuse exactly the same calls.
 */
import { CorruptSnapshotError } from '../migration/errors.js'
import type { SnapshotMeta } from '../migration/snapshot.js'
import { firstBadChunk, verifyManifest } from '../migration/snapshot.js'
import { InvalidRecordError } from './errors.js'

/**
 * Throws `InvalidRecordError` unless `meta` is a valid manifest (root included) and `state` is
 * exactly the bytes it describes. This is the install side of the pair assertion on snapshots: a
 * snapshot stored here is served to other replicas later under its root, so bytes that do not
 * match it must never be stored. Costs one SHA-256 pass over the state.
 */
export function checkSnapshot (meta: SnapshotMeta, state: Uint8Array): void {
  try {
    verifyManifest(meta)
  } catch (err) {
    if (err instanceof CorruptSnapshotError) throw new InvalidRecordError('snapshot manifest', err.reason)
    throw err
  }
  if (!(state instanceof Uint8Array)) throw new InvalidRecordError('snapshot state', 'expected a Uint8Array')
  const bad = firstBadChunk(meta, state)
  if (bad === -1) throw new InvalidRecordError('snapshot state', `${state.byteLength} bytes, the manifest says ${meta.size}`)
  if (bad !== undefined) throw new InvalidRecordError('snapshot state', `chunk ${bad} does not match its hash in the manifest`)
}

/** Throws `InvalidRecordError` unless `upTo` is a slot or 0. */
export function checkCompactUpTo (upTo: number): void {
  if (!Number.isSafeInteger(upTo) || upTo < 0) {
    throw new InvalidRecordError('compact upTo', `expected an integer in 0..2^53-1, got ${String(upTo)}`)
  }
}
