export { MemoryStorage } from './memory-storage.js'
export type { MemoryStorageOptions } from './memory-storage.js'
export { LevelStorage, SNAPSHOT_PIECE_BYTES } from './level-storage.js'
export type { LevelStorageOptions } from './level-storage.js'
export {
  AbortError,
  CompactBeyondSnapshotError,
  CorruptRecordError,
  DAMAGED_STORAGE_ADVICE,
  DamagedStorageError,
  DatabaseCorruptError,
  IncompleteStateError,
  InvalidRecordError,
  LostWritesError,
  StaleSnapshotError,
  StorageClosedError,
  StorageCrashedError,
  StorageError,
  StorageWriteError,
  UnsupportedFormatError,
  WitnessMismatchError
} from './errors.js'
export type { CorruptRecordDetails, DamageDetails, StorageErrorOptions } from './errors.js'
export {
  CODEC_LIMITS,
  decodeLogEntry,
  decodeMeta,
  decodeSnapshotRecord,
  encodeLogEntry,
  encodeMeta,
  encodeSnapshotRecord,
  FORMAT_VERSION,
  logEntryEncodedBytes,
  metaEncodedBytes
} from './codec.js'
export type { FormatRecord, HeadRecord, MetaRecord, SnapshotRecord } from './codec.js'
export { openRecord, sealRecord, STORAGE_FORMAT_VERSION } from './frame.js'
export type { OpenedRecord } from './frame.js'
export { WITNESS_FILE } from './witness.js'
export { DAMAGE_MARKER_FILE } from './engine-report.js'
export { checkCompactUpTo, checkSnapshot } from './snapshot.js'
export { checkPersistBatch } from './batch.js'
