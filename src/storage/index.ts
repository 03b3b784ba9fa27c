export { MemoryStorage } from './memory-storage.ts'
export type { MemoryStorageOptions } from './memory-storage.ts'
export { LevelStorage, SNAPSHOT_PIECE_BYTES } from './level-storage.ts'
export type { LevelStorageOptions } from './level-storage.ts'
export {
  AbortError,
  CompactBeyondSnapshotError,
  CorruptRecordError,
  InvalidRecordError,
  StaleSnapshotError,
  StorageClosedError,
  StorageCrashedError,
  StorageError,
  StorageWriteError
} from './errors.ts'
export type { CorruptRecordDetails, StorageErrorOptions } from './errors.ts'
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
export type { MetaRecord, SnapshotRecord } from './codec.ts'
export { checkCompactUpTo, checkSnapshot } from './snapshot.ts'
export { checkPersistBatch } from './batch.ts'
