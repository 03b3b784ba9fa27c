import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FolderWatcher } from '../../src/sync/watcher.js'
import type { WatchBatch } from '../../src/sync/watcher.js'
import { IgnoreRules } from '../../src/sync/ignore.js'
import { eventually, tempFolder } from './helpers.js'

describe('FolderWatcher (real temp dir)', () => {
  let root: string
  let cleanup: () => Promise<void>
  let watcher: FolderWatcher | undefined
  const batches: WatchBatch[] = []
  const seen = (): Set<string> => new Set(batches.flatMap(b => b.paths))
  beforeEach(async () => {
    ({ root, cleanup } = await tempFolder())
    batches.length = 0
  })
  afterEach(async () => {
    await watcher?.close()
    await cleanup()
  })

  it('reports created, modified, deleted and nested paths; never .vpeer* or ignored ones', async () => {
    await writeFile(join(root, 'existing'), 'x')
    const ignore = IgnoreRules.fromText('*.log\nbuild/\n')
    watcher = new FolderWatcher({ root, ignore, debounceMs: 100, onBatch: b => batches.push(b) })
    await watcher.start()
    await writeFile(join(root, 'new.txt'), 'hello')
    await writeFile(join(root, '.vpeer-tmp-123'), 'ours')
    await writeFile(join(root, 'noise.log'), 'ignored')
    await eventually(() => seen().has('new.txt'), 'the created file')
    await writeFile(join(root, 'existing'), 'changed')
    await eventually(() => seen().has('existing'), 'the modified file')
    batches.length = 0
    await rm(join(root, 'new.txt'))
    await eventually(() => seen().has('new.txt'), 'the deleted file')
    await mkdir(join(root, 'd', 'e'), { recursive: true })
    await writeFile(join(root, 'd', 'e', 'deep.txt'), 'deep')
    await mkdir(join(root, 'build'))
    await writeFile(join(root, 'build', 'out.bin'), 'ignored')
    await eventually(() => seen().has('d/e/deep.txt'), 'the nested file')
    await writeFile(join(root, '.vpeerignore'), '*.tmp\n')
    await eventually(() => batches.some(b => b.ignoreFileChanged), 'the .vpeerignore flag')
    const all = [...seen()]
    expect(all.filter(p => p.startsWith('.vpeer') || p.endsWith('.log') || p.startsWith('build'))).toEqual([])
  }, 60_000)

  it('close() through an AbortSignal stops the batches', async () => {
    const controller = new AbortController()
    watcher = new FolderWatcher({ root, debounceMs: 50, onBatch: b => batches.push(b) })
    await watcher.start(controller.signal)
    controller.abort()
    await writeFile(join(root, 'after-close'), 'x')
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(seen().has('after-close')).toBe(false)
  }, 30_000)
})
