import { mkdir, symlink, writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NodeFileSystem } from '../../src/sync/fs.js'
import { caseFoldKey, findCaseCollisions, mkdirInside, resolveInside } from '../../src/sync/safe-path.js'
import { UnsafePathError } from '../../src/sync/errors.js'
import { tempFolder } from './helpers.js'

const fs = new NodeFileSystem()

describe('resolveInside', () => {
  let root: string
  let outside: string
  let cleanup: () => Promise<void>
  beforeEach(async () => {
    ({ root, cleanup } = await tempFolder())
    outside = join(root, '..', `${root.split('/').pop()!}-outside`)
    await mkdir(outside, { recursive: true })
    root = join(root, 'folder')
    await mkdir(root)
  })
  afterEach(async () => {
    await cleanup()
    await new NodeFileSystem().rmTree(outside)
  })

  it('resolves ordinary paths, existing or not', async () => {
    await mkdir(join(root, 'a'))
    expect(await resolveInside(fs, root, 'a/b/c.txt')).toBe(join(root, 'a', 'b', 'c.txt'))
    expect(await resolveInside(fs, root, 'x')).toBe(join(root, 'x'))
  })

  it('refuses hostile syntax: .., absolute, reserved, a name a platform cannot store', async () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:/x', '.vpeer-tmp-1', 'a/CON', 'what?', 'a\\..\\x', '']) {
      await expect(resolveInside(fs, root, bad), bad).rejects.toBeInstanceOf(UnsafePathError)
      await expect(mkdirInside(fs, root, bad === '' ? '..' : bad), bad).rejects.toBeInstanceOf(UnsafePathError)
    }
    expect(await readdir(outside)).toEqual([])
  })

  it('refuses a path through a symlinked directory that points outside, and creates nothing there', async () => {
    await symlink(outside, join(root, 'link'))
    await expect(resolveInside(fs, root, 'link/x')).rejects.toThrow(/symlink/)
    await expect(mkdirInside(fs, root, 'link/sub')).rejects.toThrow(/symlink/)
    expect(await readdir(outside)).toEqual([])
  })

  it('refuses a path through a file', async () => {
    await writeFile(join(root, 'f'), 'x')
    await expect(resolveInside(fs, root, 'f/x')).rejects.toThrow(/not a directory/)
    await expect(mkdirInside(fs, root, 'f/sub')).rejects.toThrow(/not a directory/)
  })

  it('mkdirInside creates the directories level by level', async () => {
    expect(await mkdirInside(fs, root, 'a/b/c')).toBe(join(root, 'a', 'b', 'c'))
    expect((await fs.stat(join(root, 'a', 'b', 'c')))?.kind).toBe('directory')
    expect(await mkdirInside(fs, root, 'a/b/c')).toBe(join(root, 'a', 'b', 'c')) // idempotent
  })

  it('refuses a relative root', async () => {
    await expect(resolveInside(fs, 'relative/root', 'a')).rejects.toBeInstanceOf(UnsafePathError)
  })
})

describe('case collisions', () => {
  it('folds case the way case-insensitive hosts do, and more', () => {
    expect(caseFoldKey('Docs/README.md')).toBe(caseFoldKey('docs/readme.MD'))
    expect(caseFoldKey('straße')).toBe(caseFoldKey('STRASSE'))
    expect(caseFoldKey('\u212Aelvin')).toBe(caseFoldKey('kelvin')) // Kelvin sign
    expect(caseFoldKey('a')).not.toBe(caseFoldKey('b'))
  })

  it('finds files that differ only by case, and files that clash with a directory by case', () => {
    const found = findCaseCollisions(['README.md', 'readme.md', 'src/a.ts', 'Src/b.ts', 'Docs', 'docs/x', 'a', 'a/b', 'unique'])
    expect(found).toContainEqual({ kind: 'same-name', paths: ['README.md', 'readme.md'] })
    expect(found).toContainEqual({ kind: 'file-vs-directory', paths: ['Docs', 'docs/x'] })
    // Two spellings of one directory fit; an exact file/directory clash is not a case problem.
    expect(found).toHaveLength(2)
    expect(findCaseCollisions(['a', 'b', 'c/d', 'C/e'])).toEqual([])
  })
})
