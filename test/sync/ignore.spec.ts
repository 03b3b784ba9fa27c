import { writeFile, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NodeFileSystem } from '../../src/sync/fs.js'
import { IgnoreRules } from '../../src/sync/ignore.js'
import { tempFolder } from './helpers.js'

describe('.vpeerignore', () => {
  let root: string
  let cleanup: () => Promise<void>
  const fs = new NodeFileSystem()
  beforeEach(async () => { ({ root, cleanup } = await tempFolder()) })
  afterEach(async () => await cleanup())

  it('applies gitignore syntax, directories included, and always ignores .vpeer* names', () => {
    const rules = IgnoreRules.fromText('*.log\n!keep.log\nbuild/\n/top-only\n# comment\n')
    expect(rules.ignores('a.log')).toBe(true)
    expect(rules.ignores('d/e/a.log')).toBe(true)
    expect(rules.ignores('keep.log')).toBe(false)
    expect(rules.ignores('build', true)).toBe(true)
    expect(rules.ignores('build', false)).toBe(false) // a file named build
    expect(rules.ignores('build/x/y.c')).toBe(true) // under an ignored directory
    expect(rules.ignores('top-only')).toBe(true)
    expect(rules.ignores('d/top-only')).toBe(false)
    expect(rules.ignores('.vpeerignore')).toBe(true)
    expect(rules.ignores('d/.vpeer-tmp-1')).toBe(true)
    expect(rules.ignores('src/main.ts')).toBe(false)
  })

  it('reloads only when the file changed; absent or a symlink means no rules', async () => {
    const rules = await IgnoreRules.load(fs, root)
    expect(rules.ignores('a.log')).toBe(false)
    expect(await rules.reloadIfChanged()).toBe(false)
    await writeFile(join(root, '.vpeerignore'), '*.log\n')
    expect(await rules.reloadIfChanged()).toBe(true)
    expect(rules.ignores('a.log')).toBe(true)
    expect(await rules.reloadIfChanged()).toBe(false)
    await writeFile(join(root, '.vpeerignore'), '*.tmp\n')
    expect(await rules.reloadIfChanged()).toBe(true)
    expect(rules.ignores('a.log')).toBe(false)
    expect(rules.ignores('a.tmp')).toBe(true)
    await fs.unlink(join(root, '.vpeerignore'))
    await writeFile(join(root, 'elsewhere'), '*\n')
    await symlink(join(root, 'elsewhere'), join(root, '.vpeerignore'))
    expect(await rules.reloadIfChanged()).toBe(true)
    expect(rules.ignores('a.tmp')).toBe(false)
  })
})
