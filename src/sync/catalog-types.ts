/**
 * The catalog's data model: the entries of one shared folder, the commands that change them and
 * the results every replica returns alike. The state machine is in catalog.ts, the binary codec
 * in catalog-codec.ts, the conflict rules in conflict.ts.
 */
import { createHash } from 'node:crypto'
import type { ChunkRef } from './chunk.js'

/**
 * One path of the folder at its last change. `version` is the catalog's `revision` after that
 * change: unique per change (a rename stamps its two paths with the same one), comparable, and
 * what a writer quotes as `base`. A `deleted` entry is a tombstone: no chunks, size 0, kept so
 * that a put based on a version older than the delete is recognised as concurrent.
 */
export interface CatalogEntry {
  readonly path: string
  readonly version: number
  readonly size: number
  /** Permission bits as the writer's host reported them (st_mode & 0o7777 on POSIX). */
  readonly mode: number
  /** The writer's modification time, ms since the epoch (never negative: earlier times are sent as 0). */
  readonly mtimeMs: number
  readonly chunks: readonly ChunkRef[]
  /** `rootHashOf(chunks)`. */
  readonly rootHash: string
  readonly deleted: boolean
  /** The peer that made the change (from its command). */
  readonly origin: string
  /** The proposal time of the change's slot (`ApplyContext.proposedAtMs`). */
  readonly changedAtMs: number
}

/** A run of the base version's chunk list replaced: `remove` chunks at `at` give way to `insert`. */
export interface Edit {
  readonly at: number
  readonly remove: number
  readonly insert: readonly ChunkRef[]
}

export type PutContent = { readonly full: readonly ChunkRef[] } | { readonly delta: readonly Edit[] }

export interface PutCommand {
  readonly type: 'put'
  readonly path: string
  /** The version the writer's copy was based on: 0 for a new file, a tombstone's to recreate it. */
  readonly base: number
  readonly size: number
  readonly mode: number
  readonly mtimeMs: number
  readonly origin: string
  readonly rootHash: string
  readonly content: PutContent
}

export interface DeleteCommand {
  readonly type: 'delete'
  readonly path: string
  readonly base: number
  readonly origin: string
}

export interface RenameCommand {
  readonly type: 'rename'
  readonly from: string
  readonly to: string
  /** The version of `from` the writer saw. */
  readonly base: number
  readonly origin: string
}

export type CatalogCommand = PutCommand | DeleteCommand | RenameCommand

/**
 * What a command did, the same on every replica. `version`: the new revision when something was
 * written; otherwise the version of what is there now (the base to resubmit against), 0 if
 * nothing is. `path` is the command's path (`from` for a rename); `keptAs` where the content
 * ended up when not at `path` (a conflict copy, or a rename's target); `reason` says why in
 * every status but a plain `ok`.
 */
export interface CatalogResult {
  readonly status: 'ok' | 'conflict' | 'resubmit-full' | 'refused'
  readonly version: number
  readonly path: string
  readonly keptAs?: string
  readonly reason?: string
}

export type CatalogQuery =
  | { readonly type: 'get', readonly path: string }
  | { readonly type: 'list', readonly after?: string, readonly limit: number, readonly prefix?: string, readonly deleted?: boolean }
  | { readonly type: 'conflicts' }
  | { readonly type: 'revision' }
  | { readonly type: 'stats' }

export interface CatalogPage {
  readonly entries: CatalogEntry[]
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string
}

export interface CatalogStats {
  readonly revision: number
  /** Live files (tombstones not counted). */
  readonly files: number
  /** Sum of the live files' sizes. */
  readonly bytes: number
  readonly tombstones: number
  /** Live conflict copies. */
  readonly conflicts: number
}

export type CatalogAnswer = CatalogEntry | null | CatalogPage | CatalogEntry[] | number | CatalogStats

/** Longest `origin`, in UTF-16 code units. */
export const ORIGIN_CHARS_MAX = 128
/** Most chunks one file version may have (a full put of that many is ~9 MiB, above the log's batch limit anyway). */
export const FILE_CHUNKS_MAX = 1 << 18
/** Most edits in one delta put. */
export const EDITS_MAX = 1 << 16
/** Largest page of `list`. */
export const LIST_LIMIT_MAX = 10_000

const HEX = /^[0-9a-f]+$/

/**
 * The root hash of a file version: SHA-256 over the raw 32-byte ids of its chunks concatenated
 * in order, as 64 lowercase hex digits. Sizes are not hashed: a chunk's id already fixes its
 * bytes, hence its size. An empty file (no chunks) hashes nothing: e3b0c442…b855.
 */
export function rootHashOf (chunks: readonly ChunkRef[]): string {
  const h = createHash('sha256')
  for (const c of chunks) h.update(Buffer.from(c.id, 'hex'))
  return h.digest('hex')
}

/** `rootHashOf([])`. */
export const EMPTY_ROOT_HASH = rootHashOf([])

export function isRootHash (value: unknown): value is string {
  return typeof value === 'string' && value.length === 64 && HEX.test(value)
}
