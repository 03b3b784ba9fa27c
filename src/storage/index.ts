export { MemoryStorage } from './memory-storage.ts'
export type { MemoryStorageOptions } from './memory-storage.ts'
export { LevelStorage } from './level-storage.ts'
export type { LevelStorageOptions } from './level-storage.ts'
export {
  AbortError,
  CorruptRecordError,
  InvalidRecordError,
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
  encodeLogEntry,
  encodeMeta,
  FORMAT_VERSION,
  logEntryEncodedBytes,
  metaEncodedBytes
} from './codec.ts'
export type { MetaRecord } from './codec.ts'
export { checkPersistBatch } from './batch.ts'
