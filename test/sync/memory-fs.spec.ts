import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import type { WritableFile } from '../../src/sync/fs.js'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(Error)
    return (error as { code?: string }).code
  }
}

async function writeAll (w: WritableFile, ...parts: string[]): Promise<void> {
  for (const part of parts) await w.write(bytes(part))
}

describe('MemoryFileSystem', () => {
  it('creates, reads, lists, renames and removes like a disk', async () => {
    const fs = new MemoryFileSystem()
    await fs.mkdir('/a/b', { recursive: true })
    const w = await fs.openWrite('/a/b/f', { mode: 0o600 })
    await writeAll(w, 'hello ', 'world')
    await w.close()
    const r = await fs.openRead('/a/b/f')
    expect(text(await r.read(0, 100))).toBe('hello world')
    expect(text(await r.read(6, 3))).toBe('wor')
    expect((await r.read(50, 3)).length).toBe(0)
    await r.close()
    expect(await fs.stat('/a/b/f')).toMatchObject({ kind: 'file', size: 11, mode: 0o600 })
    expect(await fs.readdir('/a')).toEqual([{ name: 'b', kind: 'directory' }])
    await fs.rename('/a/b/f', '/a/g')
    expect(await fs.stat('/a/b/f')).toBeUndefined()
    expect(text(fs.readFileSync('/a/g'))).toBe('hello world')
    expect(await codeOf(fs.rmdir('/a'))).toBe('ENOTEMPTY')
    await fs.unlink('/a/g')
    await fs.rmdir('/a/b')
    await fs.rmdir('/a')
    expect(await fs.readdir('/')).toEqual([])
    await fs.rmTree('/nothing/here')
  })

  it('throws Node-shaped errors', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileSync('/d/f', bytes('x'))
    expect(await codeOf(fs.openRead('/d/missing'))).toBe('ENOENT')
    expect(await codeOf(fs.openWrite('/missing/f'))).toBe('ENOENT')
    expect(await codeOf(fs.openWrite('/d/f', { exclusive: true }))).toBe('EEXIST')
    expect(await codeOf(fs.mkdir('/d'))).toBe('EEXIST')
    expect(await codeOf(fs.mkdir('/d/f/x', { recursive: true }))).toBe('ENOTDIR')
    expect(await codeOf(fs.readdir('/d/f'))).toBe('ENOTDIR')
    expect(await codeOf(fs.openWrite('/d'))).toBe('EISDIR')
    expect(await codeOf(fs.unlink('/d'))).toBe('EISDIR')
    expect(await codeOf(fs.rmdir('/d/f'))).toBe('ENOTDIR')
    expect(await codeOf(fs.rename('/d', '/d/f'))).toBe('EINVAL')
    expect(await codeOf(fs.rename('/d/f', '/d'))).toBe('EISDIR')
    expect(await codeOf(fs.readlink('/d/f'))).toBe('EINVAL')
    expect(await fs.stat('/d/f/x')).toBeUndefined() // ENOTDIR is "nothing there"
    const error = await fs.openRead('/nope').catch((e: unknown) => e) as Error & { syscall: string, path: string }
    expect(error.message).toMatch(/^ENOENT: no such file or directory, open '\/nope'$/)
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/nope' })
  })

  it('reports symlinks as themselves and refuses to open through them (O_NOFOLLOW)', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileSync('/real/f', bytes('secret'))
    fs.symlink('/real', '/folder/link')
    fs.symlink('f', '/real/rel')
    fs.symlink('/loop2', '/loop1')
    fs.symlink('/loop1', '/loop2')
    expect((await fs.stat('/folder/link'))?.kind).toBe('symlink')
    expect(await fs.readlink('/folder/link')).toBe('/real')
    expect(await codeOf(fs.openRead('/real/rel'))).toBe('ELOOP')
    expect(await codeOf(fs.openWrite('/real/rel'))).toBe('ELOOP')
    expect(await codeOf(fs.openRead('/loop1/x'))).toBe('ELOOP')
    // Intermediate components are followed, as by the kernel; realpath says where a path really is.
    expect(text(fs.readFileSync('/folder/link/f'))).toBe('secret')
    expect(await fs.realpath('/folder/link/rel')).toBe('/real/f')
    expect(await fs.realpath('/folder/link/../folder')).toBe('/folder')
    expect((await fs.readdir('/folder/link')).map(e => e.name)).toEqual(['f', 'rel'])
    // Unlinking the link removes the link only.
    await fs.unlink('/folder/link')
    expect(text(fs.readFileSync('/real/f'))).toBe('secret')
  })

  it('keeps inode numbers across renames, gives a replaced file a new one, and takes times from the clock', async () => {
    let now = 1_000
    const fs = new MemoryFileSystem({ now: () => now })
    fs.writeFileSync('/f', bytes('one'))
    const first = await fs.stat('/f')
    await fs.rename('/f', '/g')
    const renamed = await fs.stat('/g')
    expect(renamed?.ino).toBe(first?.ino)
    // Two writes in the same millisecond: same size, same mtime; only the content differs.
    const w = await fs.openWrite('/g')
    await writeAll(w, 'two')
    await w.close()
    const rewritten = await fs.stat('/g')
    expect(rewritten).toMatchObject({ ino: first?.ino, size: 3, mtimeMs: 1_000, ctimeMs: 1_000 })
    // A writer restoring the old mtime cannot hide the change from ctime once the clock moves.
    now = 2_000
    const w2 = await fs.openWrite('/g')
    await writeAll(w2, 'six')
    await w2.close()
    fs.setMtime('/g', 1_000)
    expect(await fs.stat('/g')).toMatchObject({ mtimeMs: 1_000, ctimeMs: 2_000 })
    // Replace by rename: a new inode under the same name.
    fs.writeFileSync('/tmp-new', bytes('new'))
    await fs.rename('/tmp-new', '/g')
    expect((await fs.stat('/g'))?.ino).not.toBe(first?.ino)
  })

  it('a crash loses unsynced bytes: content reverts to the last sync', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileSync('/f', bytes('durable'))
    const w = await fs.openWrite('/f') // truncates
    await writeAll(w, 'new content')
    expect(text(fs.readFileSync('/f'))).toBe('new content')
    fs.crash()
    expect(text(fs.readFileSync('/f'))).toBe('durable')
    expect(await codeOf(w.write(bytes('x')))).toBe('EBADF') // the handle died with the process

    const w2 = await fs.openWrite('/f')
    await writeAll(w2, 'synced')
    await w2.sync()
    await writeAll(w2, ' and not')
    fs.crash()
    expect(text(fs.readFileSync('/f'))).toBe('synced')

    // A write through a handle opened earlier never changes the synced content in place.
    const w3 = await fs.openWrite('/f')
    fs.writeFileSync('/f', bytes('helper'))
    await writeAll(w3, 'XX')
    expect(text(fs.readFileSync('/f'))).toBe('XXlper')
    fs.crash()
    expect(text(fs.readFileSync('/f'))).toBe('helper')
  })

  it('a crash loses directory entries not synced with syncDir', async () => {
    const fs = new MemoryFileSystem()
    fs.mkdirSync('/d')
    fs.writeFileSync('/d/old', bytes('old'))
    // Write + fsync + rename without syncDir: the rename is lost, the temp file too.
    const w = await fs.openWrite('/d/tmp')
    await writeAll(w, 'new')
    await w.sync()
    await w.close()
    await fs.rename('/d/tmp', '/d/target')
    await fs.unlink('/d/old')
    fs.crash()
    expect((await fs.readdir('/d')).map(e => e.name)).toEqual(['old'])

    // The same with syncDir: the rename and the unlink survive.
    const w2 = await fs.openWrite('/d/tmp')
    await writeAll(w2, 'new')
    await w2.sync()
    await w2.close()
    await fs.rename('/d/tmp', '/d/target')
    await fs.unlink('/d/old')
    await fs.syncDir('/d')
    fs.crash()
    expect((await fs.readdir('/d')).map(e => e.name)).toEqual(['target'])
    expect(text(fs.readFileSync('/d/target'))).toBe('new')

    // A new directory exists after a crash only if its parent was synced.
    await fs.mkdir('/d/sub')
    fs.crash()
    expect(await fs.stat('/d/sub')).toBeUndefined()
    await fs.mkdir('/d/sub')
    await fs.syncDir('/d')
    fs.crash()
    expect((await fs.stat('/d/sub'))?.kind).toBe('directory')
  })

  it('a file synced but renamed into an unsynced directory reappears under its old name', async () => {
    const fs = new MemoryFileSystem()
    fs.mkdirSync('/a')
    fs.mkdirSync('/b')
    fs.writeFileSync('/a/f', bytes('content'))
    await fs.rename('/a/f', '/b/f')
    await fs.syncDir('/a') // the removal from /a is durable, the entry in /b is not
    fs.crash()
    expect(await fs.stat('/a/f')).toBeUndefined()
    expect(await fs.stat('/b/f')).toBeUndefined()

    fs.writeFileSync('/a/g', bytes('content'))
    await fs.rename('/a/g', '/b/g')
    fs.crash()
    expect(text(fs.readFileSync('/a/g'))).toBe('content')
    expect(await fs.stat('/b/g')).toBeUndefined()
  })

  it('non-durable helpers are lost by a crash, durable ones survive', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileSync('/keep/f', bytes('k'))
    fs.writeFileSync('/lose/f', bytes('l'), { durable: false })
    fs.symlink('/keep', '/link', { durable: false })
    fs.crash()
    expect(text(fs.readFileSync('/keep/f'))).toBe('k')
    expect(await fs.stat('/lose')).toBeUndefined()
    expect(await fs.stat('/link')).toBeUndefined()
  })

  it('rmTree removes a tree without following symlinks, and a crash before syncDir brings it back', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileSync('/outside/precious', bytes('p'))
    fs.writeFileSync('/t/a/b', bytes('b'))
    fs.symlink('/outside', '/t/a/link')
    await fs.rmTree('/t')
    expect(await fs.stat('/t')).toBeUndefined()
    expect(text(fs.readFileSync('/outside/precious'))).toBe('p')
    fs.crash()
    expect(text(fs.readFileSync('/t/a/b'))).toBe('b')
  })
})
