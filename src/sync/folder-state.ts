/**
 * The replicated state of a replication group: the catalog of the folder's files and the address
 * book of its machines, as one `StateMachine`. Catalog commands keep their codec and meaning;
 * address-book commands are told apart by their first byte (`NODE_TAG`, never a catalog codec
 * version). The snapshot holds both: `VPFS` · version · book length (4 bytes, big-endian) · book ·
 * catalog snapshot.
 */
import type { ApplyContext, StateMachine } from '../contracts/index.js'
import { AddressBook, NODE_ADDRS_MAX } from './address-book.js'
import type { NodeCommand, NodeRecord, NodeResult } from './address-book.js'
import { CatalogStateMachine } from './catalog.js'
import type { CatalogOptions } from './catalog.js'
import { catalogCodec } from './catalog-codec.js'
import type { CatalogAnswer, CatalogCommand, CatalogQuery, CatalogResult } from './catalog-types.js'
import { CatalogSnapshotError } from './errors.js'
import { SyncReader, SyncWriter } from './sync-codec.js'

export type FolderCommand = CatalogCommand | NodeCommand
export type FolderResult = CatalogResult | NodeResult
export type FolderQuery = CatalogQuery | { readonly type: 'nodes' }
export type FolderAnswer = CatalogAnswer | NodeRecord[]

/** First byte of an address-book command (catalog commands start with their codec version, 1). */
export const NODE_TAG = 0xa1
const MAGIC = [0x56, 0x50, 0x46, 0x53] // VPFS
const SNAPSHOT_VERSION = 1

const ADDR_BYTES_MAX = 256
const TEXT_BYTES_MAX = 128

/** Address-book command: NODE_TAG · str peer · str name · count · str addr × count. */
export const folderCodec = {
  encode (command: FolderCommand): Uint8Array {
    if (command.type !== 'node') return catalogCodec.encode(command)
    const w = new SyncWriter('address-book command').byte(NODE_TAG).str(command.peer, TEXT_BYTES_MAX).str(command.name, TEXT_BYTES_MAX)
    w.count(command.addrs, NODE_ADDRS_MAX, 'addrs')
    for (const a of command.addrs) w.str(a, ADDR_BYTES_MAX)
    return w.finish()
  },
  /** @throws SyncCodecError on bytes `encode` could not have produced */
  decode (bytes: Uint8Array): FolderCommand {
    if (bytes[0] !== NODE_TAG) return catalogCodec.decode(bytes)
    const r = new SyncReader(bytes, 'address-book command')
    r.byte('tag')
    const peer = r.str('peer', TEXT_BYTES_MAX)
    const name = r.str('name', TEXT_BYTES_MAX)
    const n = r.count('addrs', NODE_ADDRS_MAX, 1)
    const addrs: string[] = []
    for (let i = 0; i < n; i++) addrs.push(r.str('addr', ADDR_BYTES_MAX))
    r.end()
    return { type: 'node', peer, name, addrs }
  }
}

export class FolderStateMachine implements StateMachine<FolderCommand, FolderResult, FolderQuery, FolderAnswer> {
  readonly catalog: CatalogStateMachine
  readonly nodes = new AddressBook()

  constructor (options: CatalogOptions = {}) {
    this.catalog = new CatalogStateMachine(options)
  }

  apply (command: FolderCommand, ctx: ApplyContext): FolderResult {
    if (typeof command === 'object' && command !== null && command.type === 'node') return this.nodes.apply(command, ctx)
    return this.catalog.apply(command, ctx)
  }

  query (query: FolderQuery): FolderAnswer {
    if (query.type === 'nodes') return this.nodes.entries()
    return this.catalog.query(query)
  }

  snapshot (): Uint8Array {
    return this.capture()()
  }

  capture (): () => Uint8Array {
    const book = this.nodes.snapshot()
    const catalog = this.catalog.capture()
    return () => {
      const state = catalog()
      const out = new Uint8Array(MAGIC.length + 1 + 4 + book.length + state.length)
      out.set(MAGIC, 0)
      out[4] = SNAPSHOT_VERSION
      new DataView(out.buffer).setUint32(5, book.length)
      out.set(book, 9)
      out.set(state, 9 + book.length)
      return out
    }
  }

  /** @throws CatalogSnapshotError on bytes that are not a snapshot of this state (nothing changed) */
  restore (bytes: Uint8Array): void {
    if (bytes.length < 9 || MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] !== SNAPSHOT_VERSION) throw new CatalogSnapshotError('not a replication-group snapshot (magic or version)')
    const bookLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5)
    if (9 + bookLength > bytes.length) throw new CatalogSnapshotError('the address book runs past the end of the snapshot')
    // Both parts are checked before either is replaced: a damaged snapshot changes nothing.
    const book = new AddressBook()
    try {
      book.restore(bytes.subarray(9, 9 + bookLength))
    } catch (error) {
      throw new CatalogSnapshotError(`address book: ${(error as Error).message}`, { cause: error })
    }
    this.catalog.restore(bytes.subarray(9 + bookLength))
    this.nodes.restore(bytes.subarray(9, 9 + bookLength))
  }
}
