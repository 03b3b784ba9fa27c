import { describe, expect, it } from 'vitest'
import { cli } from '../../bench/catalog.js'
import type { Result } from '../../bench/catalog.js'

// Correctness of the benchmark only: timings depend on the machine and are never asserted.
describe('bench/catalog.ts', () => {
  it('measures a small catalog and reports JSON; the delta put is far smaller than the full one', async () => {
    let out = ''
    const code = await cli(['--sizes', '500', '--chunks', '4'], t => { out += t }, () => {})
    expect(code).toBe(0)
    const r = JSON.parse(out) as Result
    expect(r.sizes).toHaveLength(1)
    expect(r.sizes[0]).toMatchObject({ files: 500, chunksPerFile: 4 })
    expect(r.sizes[0]?.snapshotBytes).toBeGreaterThan(500 * 4 * 33)
    expect(r.delta.deltaCommandBytes * 50).toBeLessThan(r.delta.fullCommandBytes)
  })

  it('prints a table with --table and refuses bad flags with the usage', async () => {
    let out = ''
    expect(await cli(['--sizes', '100', '--table'], t => { out += t }, () => {})).toBe(0)
    expect(out).toMatch(/\| files \| apply \(puts\/s\) \|/)
    let err = ''
    expect(await cli(['--bogus'], () => {}, t => { err += t })).toBe(2)
    expect(err).toMatch(/usage: npm run bench:catalog/)
  })
})
