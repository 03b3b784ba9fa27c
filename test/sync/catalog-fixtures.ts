import { createHash } from 'node:crypto'
import type { ApplyContext } from '../../src/contracts/index.js'
import type { ChunkRef } from '../../src/sync/chunk.js'
import { rootHashOf } from '../../src/sync/catalog-types.js'
import type { PutCommand } from '../../src/sync/catalog-types.js'

/** A chunk ref whose id is derived from `name` (the bytes are never needed by the catalog). */
export function chunk (name: string, size = 1000): ChunkRef {
  return { id: createHash('sha256').update(name).digest('hex'), size }
}

export function chunks (prefix: string, n: number, size = 1000): ChunkRef[] {
  return Array.from({ length: n }, (_, i) => chunk(`${prefix}:${i}`, size))
}

/** A full put of `list`, size and root hash filled in. */
export function put (path: string, base: number, list: readonly ChunkRef[], origin = 'peerA', mode = 0o644): PutCommand {
  return { type: 'put', path, base, size: list.reduce((s, c) => s + c.size, 0), mode, mtimeMs: 1_700_000_000_000, origin, rootHash: rootHashOf(list), content: { full: list } }
}

let slot = 0
/** An apply context at `proposedAtMs` (each call a new slot). */
export function ctx (proposedAtMs = 1_700_000_000_000, client = 'c1'): ApplyContext {
  slot++
  return { slot, offset: 0, client, seq: slot, proposedAtMs, send: () => { throw new Error('no outputs in these tests') } }
}
