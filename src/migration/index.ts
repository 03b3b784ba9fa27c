export type { SnapshotMeta } from './snapshot.js'
export {
  buildManifest,
  chunkAt,
  chunkBounds,
  cloneSnapshotMeta,
  firstBadChunk,
  ManifestBuilder,
  verifyManifest
} from './snapshot.js'
export { RECEIVER_DEFAULTS, SnapshotReceiver } from './receiver.js'
export type { ReceiverOptions, ReceiverProgress, ReceiverState } from './receiver.js'
export {
  chunkCountOf,
  decodeSnapshotMeta,
  encodeManifestBody,
  encodeSnapshotMeta,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_LIMITS,
  manifestRoot,
  sha256Hex
} from './codec.js'
export type { ManifestBody } from './codec.js'
export {
  CorruptChunkError,
  CorruptSnapshotError,
  InvalidSnapshotError,
  SnapshotError,
  SnapshotMismatchError,
  SnapshotTooLargeError
} from './errors.js'
export type { SnapshotErrorOptions } from './errors.js'
