import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, stat as nodeStat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NodeFileSystem } from '../../src/sync/fs.js'
import type { FileSystem, WritableFile } from '../../src/sync/fs.js'
import { expectationOf, landFile, removeFile, renameFile, sweepTemporaries } from '../../src/sync/landing.js'
import { CorruptChunkError, DiskFullError, MissingChunkError, UnsafePathError } from '../../src/sync/errors.js'
import { MemoryChunkStore } from '../../src/sync/chunk-store.js'
import { chunkIdOf } from '../../src/sync/chunk.js'
import type { LandEntry } from '../../src/sync/landing.js'
import { entryFor, tempFolder } from './helpers.js'

/** NodeFileSystem whose writes fail with ENOSPC past `budget` bytes. */
class FullDisk extends NodeFileSystem {
  constructor (public budget: number) { super() }
  override async openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): Promise<WritableFile> {
    const inner = await super.openWrite(path, options)
    return {
      write: async (bytes: Uint8Array) => {
        if (bytes.length > this.budget) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        this.budget -= bytes.length
        await inner.write(bytes)
      },
      sync: async () => await inner.sync(),
      close: async () => await inner.close()
    }
  }
}

/** NodeFileSystem that runs `hook` once, right after the temporary file is closed (mid-landing). */
class EditDuringLanding extends NodeFileSystem {
  constructor (private hook: (() => Promise<void>) | undefined) { super() }
  override async utimes (path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    await super.utimes(path, atimeMs, mtimeMs)
    const hook = this.hook
    this.hook = undefined
    await hook?.()
  }
}

async function names (dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

describe('landFile', () => {
  let root: string
  let cleanup: () => Promise<void>
  const fs: FileSystem = new NodeFileSystem()
  beforeEach(async () => { ({ root, cleanup } = await tempFolder()) })
  afterEach(async () => await cleanup())

  it('lands a new file in new directories with its mtime, and returns its stat', async () => {
    const store = new MemoryChunkStore()
    const entry = await entryFor(store, 'hello, replicated world')
    const result = await landFile({ fs, store, root, path: 'a/b/c.txt', entry, expect: { kind: 'absent' } })
    expect(result.landed).toBe(true)
    expect(await readFile(join(root, 'a/b/c.txt'), 'utf8')).toBe('hello, replicated world')
    const s = await nodeStat(join(root, 'a/b/c.txt'))
    expect(s.mtimeMs).toBe(entry.mtimeMs)
    if (result.landed) expect(result.stat).toMatchObject({ kind: 'file', size: entry.size, mtimeMs: entry.mtimeMs, ino: s.ino })
    expect(await names(join(root, 'a/b'))).toEqual(['c.txt']) // no temporary left
  })

  it('replaces the file the index saw, and refuses when it changed since (a local edit is never lost)', async () => {
    const store = new MemoryChunkStore()
    await writeFile(join(root, 'f'), 'v1')
    const seen = expectationOf(await fs.stat(join(root, 'f')))
    // The user edits the file after the index saw it.
    await writeFile(join(root, 'f'), 'v1 edited locally')
    const entry = await entryFor(store, 'v2 from a peer')
    const refused = await landFile({ fs, store, root, path: 'f', entry, expect: seen })
    expect(refused).toMatchObject({ landed: false, reason: 'local-change' })
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('v1 edited locally')
    // With what is there now, it lands.
    const ok = await landFile({ fs, store, root, path: 'f', entry, expect: expectationOf(await fs.stat(join(root, 'f'))) })
    expect(ok.landed).toBe(true)
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('v2 from a peer')
    // Expecting absent where a file exists is a local change too.
    expect(await landFile({ fs, store, root, path: 'f', entry, expect: { kind: 'absent' } })).toMatchObject({ landed: false, reason: 'local-change' })
  })

  it('re-checks right before the rename: an edit during the download is kept and the temp removed', async () => {
    const store = new MemoryChunkStore()
    await writeFile(join(root, 'f'), 'old')
    // A whole second, so that restoring it below is exact (sub-ms times do not survive utimes).
    const second = Math.floor(Date.now() / 1000) * 1000
    await fs.utimes(join(root, 'f'), second, second)
    const seen = expectationOf(await fs.stat(join(root, 'f')))
    // Same size, same inode, mtime restored by the writer: only ctime tells the edit apart.
    const editing = new EditDuringLanding(async () => {
      await writeFile(join(root, 'f'), 'OLD')
      if (seen.kind === 'file') await fs.utimes(join(root, 'f'), seen.mtimeMs, seen.mtimeMs)
    })
    const entry = await entryFor(store, 'new content')
    const result = await landFile({ fs: editing, store, root, path: 'f', entry, expect: seen })
    expect(result).toMatchObject({ landed: false, reason: 'local-change' })
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('OLD')
    expect(await names(root)).toEqual(['f'])
  })

  it('never replaces a directory or a symlink at the path', async () => {
    const store = new MemoryChunkStore()
    const entry = await entryFor(store, 'x')
    await mkdir(join(root, 'd'))
    await symlink('/etc/hostname', join(root, 'l'))
    expect(await landFile({ fs, store, root, path: 'd', entry, expect: { kind: 'absent' } })).toMatchObject({ landed: false, reason: 'blocked' })
    expect(await landFile({ fs, store, root, path: 'l', entry, expect: { kind: 'absent' } })).toMatchObject({ landed: false, reason: 'blocked' })
  })

  it('refuses to land through a symlinked directory pointing outside the folder', async () => {
    const outside = await tempFolder()
    try {
      await symlink(outside.root, join(root, 'escape'))
      const store = new MemoryChunkStore()
      const entry = await entryFor(store, 'pwned')
      await expect(landFile({ fs, store, root, path: 'escape/x', entry, expect: { kind: 'absent' } })).rejects.toBeInstanceOf(UnsafePathError)
      await expect(landFile({ fs, store, root, path: 'escape/sub/x', entry, expect: { kind: 'absent' } })).rejects.toBeInstanceOf(UnsafePathError)
      await expect(landFile({ fs, store, root, path: '../x', entry, expect: { kind: 'absent' } })).rejects.toBeInstanceOf(UnsafePathError)
      await expect(landFile({ fs, store, root, path: 'nul', entry, expect: { kind: 'absent' } })).rejects.toBeInstanceOf(UnsafePathError)
      expect(await readdir(outside.root)).toEqual([])
    } finally {
      await outside.cleanup()
    }
  })

  it('a missing chunk aborts the landing: the old file intact, no temporary left', async () => {
    const store = new MemoryChunkStore()
    await writeFile(join(root, 'f'), 'old')
    const entry = await entryFor(store, 'twelve bytes')
    await store.delete(entry.chunks[1]!.id)
    await expect(landFile({ fs, store, root, path: 'f', entry, expect: expectationOf(await fs.stat(join(root, 'f'))) }))
      .rejects.toBeInstanceOf(MissingChunkError)
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('old')
    expect(await names(root)).toEqual(['f'])
  })

  it('a large file: chunks read ahead and written in runs land byte-exact, in order', async () => {
    const store = new MemoryChunkStore()
    // 300 chunks of varied sizes (4.6 MiB): many read windows and several write runs.
    const pieces = Array.from({ length: 300 }, (_, i) => new Uint8Array(randomBytes(1000 + (i * 7919) % 30_000)))
    for (const p of pieces) await store.put(chunkIdOf(p), p)
    const whole = Buffer.concat(pieces)
    const entry = { size: whole.length, mode: 0o644, mtimeMs: Date.UTC(2024, 0, 1), chunks: pieces.map(p => ({ id: chunkIdOf(p), size: p.length })), rootHash: chunkIdOf(whole) }
    const result = await landFile({ fs, store, root, path: 'big.bin', entry, expect: { kind: 'absent' } })
    expect(result.landed).toBe(true)
    expect(Buffer.compare(await readFile(join(root, 'big.bin')), whole)).toBe(0)
  })

  it('a chunk damaged in the store, or of the wrong size, aborts the landing: old file intact, no temporary', async () => {
    await writeFile(join(root, 'f'), 'old')
    const pieces = Array.from({ length: 40 }, () => new Uint8Array(randomBytes(5000)))
    const make = async (): Promise<{ store: MemoryChunkStore, entry: LandEntry }> => {
      const store = new MemoryChunkStore()
      for (const p of pieces) await store.put(chunkIdOf(p), p)
      const whole = Buffer.concat(pieces)
      return { store, entry: { size: whole.length, mode: 0o644, mtimeMs: 0, chunks: pieces.map(p => ({ id: chunkIdOf(p), size: p.length })), rootHash: chunkIdOf(whole) } }
    }
    // A bit flipped on disk, late in the file (inside a read-ahead window).
    const damaged = await make()
    damaged.store.damage(damaged.entry.chunks[33]!.id)
    await expect(landFile({ fs, store: damaged.store, root, path: 'f', entry: damaged.entry, expect: expectationOf(await fs.stat(join(root, 'f'))) }))
      .rejects.toBeInstanceOf(CorruptChunkError)
    // A ref whose size disagrees with the chunk (the entry adds up, so only the per-chunk check sees it).
    const wrong = await make()
    const chunks = wrong.entry.chunks.map((c, i) => i === 5 ? { ...c, size: c.size + 1 } : i === 6 ? { ...c, size: c.size - 1 } : c)
    await expect(landFile({ fs, store: wrong.store, root, path: 'f', entry: { ...wrong.entry, chunks }, expect: expectationOf(await fs.stat(join(root, 'f'))) }))
      .rejects.toBeInstanceOf(CorruptChunkError)
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('old')
    expect(await names(root)).toEqual(['f'])
  })

  it('a full disk is a DiskFullError: the old file intact, no temporary left', async () => {
    const store = new MemoryChunkStore()
    await writeFile(join(root, 'f'), 'old')
    const entry = await entryFor(store, 'a file larger than the budget')
    const full = new FullDisk(10)
    await expect(landFile({ fs: full, store, root, path: 'f', entry, expect: expectationOf(await fs.stat(join(root, 'f'))) }))
      .rejects.toBeInstanceOf(DiskFullError)
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('old')
    expect(await names(root)).toEqual(['f'])
  })

  it('refuses an entry whose chunks do not add up to its size', async () => {
    const store = new MemoryChunkStore()
    const entry = await entryFor(store, 'abcdefgh')
    await expect(landFile({ fs, store, root, path: 'f', entry: { ...entry, size: 9 }, expect: { kind: 'absent' } })).rejects.toThrow(/add up/)
  })

  it('lands an empty file', async () => {
    const store = new MemoryChunkStore()
    const entry = await entryFor(store, '')
    expect((await landFile({ fs, store, root, path: 'empty', entry, expect: { kind: 'absent' } })).landed).toBe(true)
    expect(await readFile(join(root, 'empty'), 'utf8')).toBe('')
  })

  it('sweeps temporaries a crash left behind', async () => {
    await mkdir(join(root, 'd'))
    await writeFile(join(root, 'd', '.vpeer-tmp-abc'), 'half')
    await writeFile(join(root, 'keep'), 'x')
    expect(await sweepTemporaries(fs, root)).toBe(1)
    expect(await names(join(root, 'd'))).toEqual([])
  })
})

describe('removeFile and renameFile', () => {
  let root: string
  let cleanup: () => Promise<void>
  const fs: FileSystem = new NodeFileSystem()
  beforeEach(async () => { ({ root, cleanup } = await tempFolder()) })
  afterEach(async () => await cleanup())

  it('removes the file the index saw and prunes the directories left empty', async () => {
    await mkdir(join(root, 'a/b'), { recursive: true })
    await writeFile(join(root, 'a/b/f'), 'x')
    await writeFile(join(root, 'keep'), 'x')
    const seen = expectationOf(await fs.stat(join(root, 'a/b/f')))
    expect(await removeFile({ fs, root, path: 'a/b/f', expect: seen })).toEqual({ removed: true })
    expect(await names(root)).toEqual(['keep'])
    expect(await removeFile({ fs, root, path: 'a/b/f', expect: seen })).toEqual({ removed: true }) // already gone
  })

  it('keeps a locally modified file', async () => {
    await writeFile(join(root, 'f'), 'x')
    const seen = expectationOf(await fs.stat(join(root, 'f')))
    await writeFile(join(root, 'f'), 'y') // same size
    expect(await removeFile({ fs, root, path: 'f', expect: seen })).toMatchObject({ removed: false, reason: 'local-change' })
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('y')
  })

  it('renames when both sides are as expected, and not onto a local file', async () => {
    await writeFile(join(root, 'f'), 'x')
    const seen = expectationOf(await fs.stat(join(root, 'f')))
    const moved = await renameFile({ fs, root, from: 'f', to: 'd/g', expect: seen })
    expect(moved.renamed).toBe(true)
    expect(await readFile(join(root, 'd/g'), 'utf8')).toBe('x')
    await writeFile(join(root, 'h'), 'h')
    const back = await renameFile({ fs, root, from: 'd/g', to: 'h', expect: expectationOf(await fs.stat(join(root, 'd/g'))) })
    expect(back).toMatchObject({ renamed: false, side: 'to', reason: 'local-change' })
    expect(await readFile(join(root, 'h'), 'utf8')).toBe('h')
    await expect(renameFile({ fs, root, from: 'd/g', to: '../g', expect: seen })).rejects.toBeInstanceOf(UnsafePathError)
  })
})

describe('landFile on MemoryFileSystem with faults', () => {
  it('a full disk mid-file leaves the old file and no temporary; a crash after landing keeps the new file', async () => {
    const { MemoryFileSystem } = await import('../../src/sync/memory-fs.js')
    const { FaultyFileSystem } = await import('../../src/sync/faulty-fs.js')
    const memory = new MemoryFileSystem()
    await memory.mkdir('/f', { recursive: true })
    await memory.syncDir('/')
    const fs = new FaultyFileSystem(memory)
    const store = new MemoryChunkStore()
    const old = await entryFor(store, 'old')
    const first = await landFile({ fs, store, root: '/f', path: 'd/x', entry: old, expect: { kind: 'absent' } })
    expect(first.landed).toBe(true)
    const entry = await entryFor(store, 'the new version, longer')
    fs.diskFull(6)
    await expect(landFile({ fs, store, root: '/f', path: 'd/x', entry, expect: expectationOf(first.landed ? first.stat : undefined) }))
      .rejects.toBeInstanceOf(DiskFullError)
    fs.diskFull(Number.POSITIVE_INFINITY)
    expect((await memory.readdir('/f/d')).map(e => e.name)).toEqual(['x'])
    const landed = await landFile({ fs, store, root: '/f', path: 'd/x', entry, expect: expectationOf(await memory.stat('/f/d/x')) })
    expect(landed.landed).toBe(true)
    memory.crash()
    const file = await memory.openRead('/f/d/x')
    expect(new TextDecoder().decode(await file.read(0, 100))).toBe('the new version, longer')
    await file.close()
  })
})
