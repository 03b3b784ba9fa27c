/**
 * File replication, the parts that are pure or local (see docs/ARCHITECTURE.md, layer `sync`).
 * Each engineer's exports stay in one block.
 */

// --- File systems: the contract, in memory, with injected faults; chunking and the chunk store ---
export { NodeFileSystem } from './fs.js'
export type { DirEntry, EntryKind, FileStat, FileSystem, ReadableFile, WritableFile } from './fs.js'
export { MemoryFileSystem, fsError } from './memory-fs.js'
export type { FsError, HelperOptions, MemoryFileSystemOptions } from './memory-fs.js'
export { FaultyFileSystem, InjectedCrashError } from './faulty-fs.js'
export type { FaultCounters, FaultOp } from './faulty-fs.js'
export { CHUNK_BYTES_MAX, chunkIdOf, isChunkId } from './chunk.js'
export type { ChunkId, ChunkRef, ChunkStore } from './chunk.js'
export { CorruptChunkError, DiskFullError, MissingChunkError, SyncError } from './errors.js'
export { CHUNK_AVG_BYTES, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, CHUNK_READ_BLOCK_BYTES, chunkFile, chunkLength, chunkRefsOf, chunkRefsOfFile, cutPoints, GEAR, GEAR_LABEL } from './chunker.js'
export type { Chunk, ChunkFileOptions } from './chunker.js'
export { collectGarbage, FsChunkStore, MemoryChunkStore } from './chunk-store.js'
export type { GarbageCollection, MemoryChunkStoreOptions, SizedChunkStore } from './chunk-store.js'
export { indexCodec as packIndexCodec, PackChunkStore } from './pack-store.js'
export type { PackChunkStoreOptions } from './pack-store.js'
// --- end: file systems, chunking, chunk store ---

// --- Local side: safe paths, landing, local index, scanner, .vpeerignore, watcher ---
export { caseFoldKey, findCaseCollisions, mkdirInside, parentOf, resolveInside } from './safe-path.js'
export type { CaseCollision } from './safe-path.js'
export { expectationOf, landFile, matchesExpectation, removeFile, renameFile, sweepTemporaries, TEMP_PREFIX } from './landing.js'
export type { Expectation, LandEntry, LandOptions, LandResult, NotLandedReason, RemoveResult, RenameResult } from './landing.js'
export { LocalIndex, LocalIndexCorruptError } from './local-index.js'
export type { LocalEntry, LocalIndexOptions } from './local-index.js'
export { DEFAULT_GRANULARITY_MS, entryOfScan, scanFolder } from './scanner.js'
export type { ChunkFile, ScanOptions, ScannedFile, ScanProblem, ScanResult } from './scanner.js'
export { IGNORE_FILE, IGNORE_FILE_BYTES_MAX, IgnoreRules, isReservedName } from './ignore.js'
export { FolderWatcher } from './watcher.js'
export type { FolderWatcherOptions, WatchBatch } from './watcher.js'
export { UnsafePathError } from './errors.js'
// --- end: local side ---

// ---- catalog: the replicated state machine of a shared folder ----
export { CatalogStateMachine, CONFLICT_ATTEMPTS_MAX, applyEdits, isConflictPath } from './catalog.js'
export type { CatalogChange, CatalogListener, CatalogOptions } from './catalog.js'
export {
  EDITS_MAX, EMPTY_ROOT_HASH, FILE_CHUNKS_MAX, LIST_LIMIT_MAX, ORIGIN_CHARS_MAX, isRootHash, rootHashOf
} from './catalog-types.js'
export type {
  CatalogAnswer, CatalogCommand, CatalogEntry, CatalogPage, CatalogQuery, CatalogResult, CatalogStats,
  DeleteCommand, Edit, PutCommand, PutContent, RenameCommand
} from './catalog-types.js'
export {
  CATALOG_CODEC_VERSION, CODEC_STRING_BYTES_MAX, catalogCodec, decodeCatalogCommand, encodeCatalogCommand
} from './catalog-codec.js'
export type { CatalogCommandCodec } from './catalog-codec.js'
export { REASON, decideDelete, decidePut, decideRename, entryState, isFresh } from './conflict.js'
export type { DeleteDecision, EntryState, PutDecision, PutFacts, RenameDecision } from './conflict.js'
export { PersistentMap, compareCodeUnits } from './persistent-map.js'
export type { Compare } from './persistent-map.js'
export { CatalogSnapshotError } from './errors.js'
// --- end: catalog ---

// --- block exchange: codec and scheduler ---
export { EXCHANGE_CODEC_VERSION, EXCHANGE_LIMITS, decodeExchangeMessage, encodeExchangeMessage, isRequestMessage } from './exchange-codec.js'
export type { ExchangeMessage, ExchangeMessageType } from './exchange-codec.js'
export { Swarm } from './swarm.js'
export type { SwarmFailure, SwarmOptions, SwarmRequest } from './swarm.js'
// --- end: block exchange ---

// --- the replication group's state: catalog + address book; the shared codec base ---
export { AddressBook, NODES_MAX, NODE_ADDRS_MAX, nodeCommandProblem } from './address-book.js'
export type { NodeCommand, NodeRecord, NodeResult } from './address-book.js'
export { FolderStateMachine, NODE_TAG, folderCodec } from './folder-state.js'
export type { FolderAnswer, FolderCommand, FolderQuery, FolderResult } from './folder-state.js'
export { ID_BYTES, SyncReader, SyncWriter } from './sync-codec.js'
export type { SyncErrorFactory } from './sync-codec.js'
// --- end ---
