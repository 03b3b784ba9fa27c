import { describe, expect, it } from 'vitest'
import { catalogPathProblem, conflictName, isCatalogPath, SEGMENT_BYTES_MAX } from '../../src/sync/paths.js'

describe('catalog paths', () => {
  it('accepts ordinary relative paths', () => {
    for (const p of ['a', 'docs/report.pdf', '.bashrc', 'über/naïve café.txt', 'a/b/c/d.tar.gz', '日本語/ファイル']) {
      expect(catalogPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses every path a host could not store or that leaves the folder', () => {
    const bad: Array<[unknown, RegExp]> = [
      ['', /empty/], ['/etc/passwd', /absolute/], ['C:/x', /drive/], ['a/../../x', /".."/], ['..', /".."/],
      ['./a', /"\."/], ['a//b', /empty segment/], ['a/', /empty segment/], ['a\\b', /control|<>/],
      ['a\u0000b', /control/], ['what?', /control|<>/], ['name.', /ending/], ['name ', /ending/],
      ['CON', /device/], ['lpt1.txt', /device/], ['dir/.vpeer-tmp-1', /reserved/], ['.vpeerignore', /reserved/],
      ['x'.repeat(SEGMENT_BYTES_MAX + 1), /longer/], ['e\u0301', /normal form/], ['a\uD800b', /surrogate/],
      [Array.from({ length: 65 }, () => 'd').join('/'), /deeper/], [42, /not a string/]
    ]
    for (const [p, why] of bad) {
      expect(catalogPathProblem(p), String(p)).toMatch(why)
      expect(isCatalogPath(p)).toBe(false)
    }
  })

  it('names conflict copies deterministically and validly', () => {
    const at = Date.UTC(2026, 10, 30, 4, 5, 6)
    expect(conflictName('docs/report.pdf', '12D3KooWAbCdEfGh12345678', at)).toBe('docs/report.conflict-12345678-20261130-040506.pdf')
    expect(conflictName('.bashrc', 'peer-x', at)).toBe('.bashrc.conflict-peerx-20261130-040506')
    expect(conflictName('a/b', 'p', at, 3)).toBe('a/b.conflict-p-20261130-040506-3')
    const long = 'é'.repeat(200) + '.txt'
    const named = conflictName(long, 'p', at)
    expect(isCatalogPath(named)).toBe(true)
    expect(named.endsWith('.conflict-p-20261130-040506.txt')).toBe(true)
    expect(isCatalogPath(conflictName('x', '', Number.NaN))).toBe(true)
  })
})
