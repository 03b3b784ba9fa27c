import { describe, expect, it } from 'vitest'
import { cli, parseOptions, run, table } from '../../bench/chunking.js'
import { UsageError } from '../../bench/cli-errors.js'

// Structure and consistency only: the figures are what the bench is for, never asserted.
describe('bench/chunking.ts --quick', () => {
  it('measures chunking and the store with consistent figures', async () => {
    const lines: string[] = []
    const r = await run(parseOptions(['--quick', '--mib', '2']), line => lines.push(line))
    expect(r.bench).toBe('chunking')
    expect(r.params).toMatchObject({ mib: 2, storeMib: 1, repeats: 1, minBytes: 4096, maxBytes: 65536 })
    expect(r.chunks.count).toBeGreaterThan(2 * 1024 * 1024 / 65536)
    for (const t of [r.cutPoints, r.cutPointsWithIds, r.chunkFileStreaming, r.store?.put, r.store?.get, r.fileStore?.put, r.fileStore?.get]) expect(t?.mbPerSec).toBeGreaterThan(0)
    expect(r.store?.bytes).toBeGreaterThanOrEqual(1024 * 1024)
    expect(r.fileStore?.chunks).toBe(r.store?.chunks)
    expect(lines.join('\n')).toContain(table(r))
  })

  it('--help and bad flags', async () => {
    expect(() => parseOptions(['--mib', '0'])).toThrow(UsageError)
    expect(() => parseOptions(['--mib', '2', '--store-mib', '3'])).toThrow(UsageError)
    expect(() => parseOptions(['--json', '--markdown'])).toThrow(UsageError)
    const out: string[] = []
    expect(await cli(['--help'], t => out.push(t), () => {})).toBe(0)
    expect(out.join('')).toContain('usage: npm run bench:chunking')
    expect(await cli(['--nope'], () => {}, () => {})).toBe(2)
  })
})
