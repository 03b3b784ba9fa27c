import { chmod, mkdir, rename, rm, stat as nodeStat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NodeFileSystem } from '../../src/sync/fs.js'
import type { FileSystem } from '../../src/sync/fs.js'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import { DEFAULT_GRANULARITY_MS, entryOfScan, FINE_GRANULARITY_MS, granularityOf, scanFolder } from '../../src/sync/scanner.js'
import type { ScanResult } from '../../src/sync/scanner.js'
import type { LocalEntry } from '../../src/sync/local-index.js'
import { IgnoreRules } from '../../src/sync/ignore.js'
import { fixedChunkFile, tempFolder } from './helpers.js'

/** A minimal in-memory index that records what a scan reports, as the replica will. */
class Index {
  readonly map = new Map<string, LocalEntry>()
  get (path: string): LocalEntry | undefined { return this.map.get(path) }
  entries (): Iterable<LocalEntry> { return this.map.values() }
  apply (r: ScanResult): void {
    for (const f of [...r.added, ...r.modified, ...r.touched]) this.map.set(f.path, entryOfScan(f, 0))
    for (const f of r.renamed) { this.map.delete(f.from); this.map.set(f.path, entryOfScan(f, 0)) }
    for (const e of [...r.deleted, ...r.ignored]) this.map.delete(e.path)
  }
}

async function scan (fs: FileSystem, root: string, index: Index, extra: { ignore?: IgnoreRules, granularityMs?: number, now?: () => number } = {}): Promise<ScanResult> {
  const { chunkFile } = fixedChunkFile(fs)
  const result = await scanFolder({ fs, root, index, chunkFile, granularityMs: extra.granularityMs ?? 0, ...extra })
  index.apply(result)
  return result
}

const names = (files: Array<{ path: string }>): string[] => files.map(f => f.path).sort()

describe('scanner on NodeFileSystem', () => {
  let root: string
  let cleanup: () => Promise<void>
  const fs = new NodeFileSystem()
  beforeEach(async () => { ({ root, cleanup } = await tempFolder()) })
  afterEach(async () => await cleanup())

  it('reports added, modified, deleted, renamed; skips .vpeer*, ignored, symlinks, bad names', async () => {
    await mkdir(join(root, 'd/e'), { recursive: true })
    await writeFile(join(root, 'a.txt'), 'alpha')
    await writeFile(join(root, 'd/e/b.txt'), 'bravo bravo')
    await writeFile(join(root, '.vpeer-tmp-x'), 'ours')
    await writeFile(join(root, 'x.log'), 'ignored')
    await writeFile(join(root, 'bad:name'), 'not storable on Windows')
    await symlink('/etc', join(root, 'link'))
    const index = new Index()
    const ignore = IgnoreRules.fromText('*.log\n')
    const first = await scan(fs, root, index, { ignore })
    expect(names(first.added)).toEqual(['a.txt', 'd/e/b.txt'])
    expect(first.problems.map(p => [p.path, p.reason]).sort()).toEqual([['bad:name', 'invalid-name'], ['link', 'not-a-regular-file']])

    const second = await scan(fs, root, index, { ignore })
    expect(second.unchanged).toBe(2)
    expect([second.added, second.modified, second.deleted, second.renamed].flat()).toEqual([])

    await writeFile(join(root, 'a.txt'), 'alpha, longer')
    await rename(join(root, 'd/e/b.txt'), join(root, 'd/moved.txt'))
    await writeFile(join(root, 'c.txt'), 'charlie')
    const third = await scan(fs, root, index, { ignore })
    expect(names(third.modified)).toEqual(['a.txt'])
    expect(third.renamed.map(r => [r.from, r.path])).toEqual([['d/e/b.txt', 'd/moved.txt']])
    expect(names(third.added)).toEqual(['c.txt'])
    expect(third.deleted).toEqual([])

    await rm(join(root, 'c.txt'))
    const fourth = await scan(fs, root, index, { ignore: IgnoreRules.fromText('*.log\nd/\n') })
    expect(names(fourth.deleted)).toEqual(['c.txt'])
    expect(names(fourth.ignored)).toEqual(['d/moved.txt']) // now ignored: forgotten, not deleted
  })

  it('detects a same-size rewrite within the same mtime second (mtime restored)', async () => {
    const index = new Index()
    await writeFile(join(root, 'f'), 'version-1')
    const second = Math.floor(Date.now() / 1000) - 10
    await utimes(join(root, 'f'), second, second)
    await scan(fs, root, index)
    // Rewrite in place (same inode, same size) and restore the mtime to the same second.
    await writeFile(join(root, 'f'), 'version-2')
    await utimes(join(root, 'f'), second, second)
    expect((await nodeStat(join(root, 'f'))).mtimeMs).toBe(index.get('f')!.mtimeMs)
    const result = await scan(fs, root, index)
    expect(names(result.modified)).toEqual(['f'])
  })

  it('a mode change is a modification; a touch with the same content only refreshes the index', async () => {
    const index = new Index()
    await writeFile(join(root, 'f'), 'same')
    await scan(fs, root, index)
    await chmod(join(root, 'f'), 0o600)
    expect(names((await scan(fs, root, index)).modified)).toEqual(['f'])
    await utimes(join(root, 'f'), 1000, 1000)
    const touched = await scan(fs, root, index)
    expect(names(touched.touched)).toEqual(['f'])
    expect(touched.modified).toEqual([])
  })

  it('an unreadable directory is a problem, not a mass delete; a missing folder throws', async () => {
    const index = new Index()
    await mkdir(join(root, 'locked'))
    await writeFile(join(root, 'locked/f'), 'x')
    await scan(fs, root, index)
    // EACCES on one directory (injected: the tests may run as root, who reads everything).
    class Locked extends NodeFileSystem {
      override async readdir (path: string): Promise<Awaited<ReturnType<NodeFileSystem['readdir']>>> {
        if (path.endsWith('locked')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })
        return await super.readdir(path)
      }
    }
    const result = await scan(new Locked(), root, index)
    expect(result.deleted).toEqual([])
    expect(result.problems.map(p => [p.path, p.reason])).toEqual([['locked', 'unreadable']])
    expect(index.get('locked/f')).toBeDefined()
    await expect(scan(fs, join(root, 'nope'), index)).rejects.toMatchObject({ code: 'ERR_FOLDER_UNREADABLE' })
  })
})

describe('scanner on MemoryFileSystem (frozen clock)', () => {
  it('detects a same-size rewrite in the same millisecond through the racy rule', async () => {
    let clock = Date.UTC(2026, 0, 1)
    const fs = new MemoryFileSystem({ now: () => clock })
    await fs.mkdir('/f', { recursive: true })
    const index = new Index()
    const write = async (text: string): Promise<void> => {
      const file = await fs.openWrite('/f/a')
      await file.write(new TextEncoder().encode(text))
      await file.close()
    }
    await write('one')
    // The scan runs in the same tick as the write: size, mtime, ctime, inode cannot change.
    const first = await scan(fs, '/f', index, { granularityMs: 1000, now: () => clock })
    expect(names(first.added)).toEqual(['a'])
    expect(index.get('a')!.racy).toBe(true)
    await write('two')
    const second = await scan(fs, '/f', index, { granularityMs: 1000, now: () => clock })
    expect(names(second.modified)).toEqual(['a'])
    // Once time has moved on, the entry is trusted on its stat again.
    clock += 5000
    const third = await scan(fs, '/f', index, { granularityMs: 1000, now: () => clock })
    expect(names(third.touched)).toEqual(['a']) // the last racy rehash
    expect(index.get('a')!.racy).toBe(false)
    const fourth = await scan(fs, '/f', index, { granularityMs: 1000, now: () => clock })
    expect(fourth.unchanged).toBe(1)
  })

  it('takes the racy window from the timestamps: fractions of a second mean a fine clock', async () => {
    expect(granularityOf({ mtimeMs: 1_000_000.25, ctimeMs: 1_000_123 })).toBe(FINE_GRANULARITY_MS)
    // Whole seconds in either (FAT, HFS+, ext3, a network mount): the coarse window.
    expect(granularityOf({ mtimeMs: 1_000_000, ctimeMs: 1_000_123 })).toBe(DEFAULT_GRANULARITY_MS)
    expect(granularityOf({ mtimeMs: 1_000_500, ctimeMs: 2_000_000 })).toBe(DEFAULT_GRANULARITY_MS)
    for (const [written, scannedAfter, racy] of [[Date.UTC(2026, 0, 1) + 123, 50, true], [Date.UTC(2026, 0, 1) + 123, 150, false], [Date.UTC(2026, 0, 1), 150, true], [Date.UTC(2026, 0, 1), 2500, false]] as const) {
      let clock = written
      const fs = new MemoryFileSystem({ now: () => clock })
      await fs.mkdir('/f', { recursive: true })
      const file = await fs.openWrite('/f/a')
      await file.write(new TextEncoder().encode('one'))
      await file.close()
      clock += scannedAfter
      const index = new Index()
      index.apply(await scanFolder({ fs, root: '/f', index, chunkFile: fixedChunkFile(fs).chunkFile, now: () => clock }))
      expect(index.get('a')!.racy, `written at ${written % 1000} ms into a second, scanned ${scannedAfter} ms later`).toBe(racy)
    }
  })
})
