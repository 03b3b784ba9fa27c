/** Test doubles shared by the local-side tests: a temp folder, a chunker (the chunk store is src's MemoryChunkStore). */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chunkIdOf } from '../../src/sync/chunk.js'
import type { ChunkRef, ChunkStore } from '../../src/sync/chunk.js'
import type { FileSystem } from '../../src/sync/fs.js'

export async function tempFolder (): Promise<{ root: string, cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'vpeer-local-'))
  return { root, cleanup: async () => await rm(root, { recursive: true, force: true }) }
}

/** Cuts `bytes` into fixed `size` pieces (the tests need chunks, not content-defined ones). */
export function fixedChunks (bytes: Uint8Array, size = 4): Array<{ ref: ChunkRef, bytes: Uint8Array }> {
  const out: Array<{ ref: ChunkRef, bytes: Uint8Array }> = []
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size)
    out.push({ ref: { id: chunkIdOf(piece), size: piece.length }, bytes: piece })
  }
  return out
}

/** Puts `text`'s chunks in `store` and returns a landing entry for it. */
export async function entryFor (store: ChunkStore, text: string, mtimeMs = Date.UTC(2024, 0, 2, 3, 4, 5)): Promise<{
  size: number, mode: number, mtimeMs: number, chunks: ChunkRef[], rootHash: string
}> {
  const bytes = new TextEncoder().encode(text)
  const pieces = fixedChunks(bytes)
  for (const p of pieces) await store.put(p.ref.id, p.bytes)
  return { size: bytes.length, mode: 0o644, mtimeMs, chunks: pieces.map(p => p.ref), rootHash: chunkIdOf(bytes) }
}

/** A chunkFile for the scanner: reads through `fs` and cuts fixed pieces. Counts its calls. */
export function fixedChunkFile (fs: FileSystem): { calls: string[], chunkFile: (abs: string) => Promise<{ chunks: ChunkRef[], size: number }> } {
  const calls: string[] = []
  return {
    calls,
    chunkFile: async (abs: string) => {
      calls.push(abs)
      const file = await fs.openRead(abs)
      try {
        const parts: Uint8Array[] = []
        let at = 0
        for (;;) {
          const bytes = await file.read(at, 65536)
          if (bytes.length === 0) break
          parts.push(bytes.slice())
          at += bytes.length
        }
        const all = Buffer.concat(parts)
        return { chunks: fixedChunks(all).map(p => p.ref), size: all.length }
      } finally {
        await file.close()
      }
    }
  }
}

/** Polls `check` until it returns true (generous: the machine is shared). */
export async function eventually (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
