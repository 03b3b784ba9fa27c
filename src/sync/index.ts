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
// --- end: file systems, chunking, chunk store ---
