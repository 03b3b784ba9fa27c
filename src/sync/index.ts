/**
 * File replication, the pure and local parts (the layer rule: contracts and util only). Each
 * engineer keeps their exports in one block.
 */

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
  ByteReader, ByteWriter, CATALOG_CODEC_VERSION, CODEC_STRING_BYTES_MAX, catalogCodec, decodeCatalogCommand, encodeCatalogCommand
} from './catalog-codec.js'
export type { CatalogCommandCodec } from './catalog-codec.js'
export { REASON, decideDelete, decidePut, decideRename, entryState, isFresh } from './conflict.js'
export type { DeleteDecision, EntryState, PutDecision, PutFacts, RenameDecision } from './conflict.js'
export { PersistentMap, compareCodeUnits } from './persistent-map.js'
export type { Compare } from './persistent-map.js'
export { CatalogSnapshotError } from './errors.js'
