import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FaultyFileSystem, InjectedCrashError } from '../../src/sync/faulty-fs.js'
import { NodeFileSystem } from '../../src/sync/fs.js'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'

const ones = (n: number): Uint8Array => new Uint8Array(n).fill(1)

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  }
}

describe('FaultyFileSystem', () => {
  const dirs: string[] = []
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('passes calls through and counts them and the bytes written', async () => {
    const mem = new MemoryFileSystem()
    const fs = new FaultyFileSystem(mem)
    await fs.mkdir('/d')
    const w = await fs.openWrite('/d/f')
    await w.write(ones(10))
    await w.write(ones(5))
    await w.sync()
    await w.close()
    expect(mem.readFileSync('/d/f').length).toBe(15)
    expect(fs.counters.bytesWritten).toBe(15)
    expect(fs.counters.calls).toMatchObject({ mkdir: 1, openWrite: 1, write: 2, sync: 1, close: 1, stat: 0 })
  })

  it('diskFull: a write beyond the budget writes what fits and fails with ENOSPC until freeSpace', async () => {
    const mem = new MemoryFileSystem()
    const fs = new FaultyFileSystem(mem)
    fs.diskFull(100)
    const w = await fs.openWrite('/f')
    await w.write(ones(60))
    expect(await codeOf(w.write(ones(60)))).toBe('ENOSPC')
    expect(mem.readFileSync('/f').length).toBe(100) // torn, as on a disk that filled up
    expect(await codeOf(w.write(ones(1)))).toBe('ENOSPC')
    fs.freeSpace()
    await w.write(ones(1))
    expect(mem.readFileSync('/f').length).toBe(101)
    fs.diskFull(0, 'EDQUOT')
    expect(await codeOf(w.write(ones(1)))).toBe('EDQUOT')
    expect(fs.counters.faults).toBe(3)
  })

  it('failNext fails the next calls of one operation only, without reaching the file system', async () => {
    const mem = new MemoryFileSystem()
    const fs = new FaultyFileSystem(mem)
    mem.writeFileSync('/a', ones(1))
    fs.failNext('rename', 'EIO', 2)
    fs.failNext('sync', 'EIO')
    expect(await codeOf(fs.rename('/a', '/b'))).toBe('EIO')
    expect(await codeOf(fs.rename('/a', '/b'))).toBe('EIO')
    expect(await mem.stat('/a')).toBeDefined()
    await fs.rename('/a', '/b')
    expect(await mem.stat('/b')).toBeDefined()
    const w = await fs.openWrite('/c')
    expect(await codeOf(w.sync())).toBe('EIO')
    await w.sync()
  })

  it('crashAfterBytes tears the write, crashes the memory file system, and fails every call until recover', async () => {
    const mem = new MemoryFileSystem()
    const fs = new FaultyFileSystem(mem)
    fs.crashAfterBytes(150, () => { mem.crash() })
    const w = await fs.openWrite('/f')
    await w.write(ones(100))
    await w.sync()
    await expect(w.write(ones(100))).rejects.toBeInstanceOf(InjectedCrashError)
    expect(fs.isCrashed).toBe(true)
    await expect(fs.stat('/f')).rejects.toMatchObject({ code: 'ERR_INJECTED_CRASH' })
    fs.recover()
    // The entry of /f was never synced with syncDir: the crash lost the file.
    expect(await fs.stat('/f')).toBeUndefined()
  })

  it('wraps NodeFileSystem too: a full disk on the real disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-faulty-'))
    dirs.push(dir)
    const fs = new FaultyFileSystem(new NodeFileSystem())
    fs.diskFull(3)
    const w = await fs.openWrite(join(dir, 'f'))
    expect(await codeOf(w.write(ones(5)))).toBe('ENOSPC')
    await w.close()
    expect(readFileSync(join(dir, 'f')).length).toBe(3)
  })
})
