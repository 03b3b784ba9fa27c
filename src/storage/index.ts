export { MemoryStorage } from './memory-storage.ts'
export type { MemoryStorageOptions } from './memory-storage.ts'
export { LevelStorage, SNAPSHOT_PIECE_BYTES } from './level-storage.ts'
export type { LevelStorageOptions } from './level-storage.ts'
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
} from './errors.ts'
export type { CorruptRecordDetails, DamageDetails, StorageErrorOptions } from './errors.ts'
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
} from './codec.ts'
export type { FormatRecord, HeadRecord, MetaRecord, SnapshotRecord } from './codec.ts'
export { openRecord, sealRecord, STORAGE_FORMAT_VERSION } from './frame.ts'
export { WITNESS_FILE } from './witness.ts'
export { DAMAGE_MARKER_FILE } from './engine-report.ts'
export { checkCompactUpTo, checkSnapshot } from './snapshot.ts'
export { checkPersistBatch } from './batch.ts'
