export type { SnapshotMeta } from './snapshot.ts'
export {
  buildManifest,
  chunkAt,
  chunkBounds,
  cloneSnapshotMeta,
  firstBadChunk,
  ManifestBuilder,
  verifyManifest
} from './snapshot.ts'
export { RECEIVER_DEFAULTS, SnapshotReceiver } from './receiver.ts'
export type { ReceiverOptions, ReceiverProgress, ReceiverState } from './receiver.ts'
export {
  chunkCountOf,
  decodeSnapshotMeta,
  encodeManifestBody,
  encodeSnapshotMeta,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_LIMITS,
  manifestRoot,
  sha256Hex
} from './codec.ts'
export type { ManifestBody } from './codec.ts'
export {
  CorruptChunkError,
  CorruptSnapshotError,
  InvalidSnapshotError,
  SnapshotError,
  SnapshotMismatchError,
  SnapshotTooLargeError
} from './errors.ts'
export type { SnapshotErrorOptions } from './errors.ts'
