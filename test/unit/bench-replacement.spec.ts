import { describe, expect, it } from 'vitest'
import { main, markdownTables } from '../../bench/replacement.js'
import type { TimeStats } from '../../bench/replacement.js'

function ordered (s: TimeStats): void {
  if (s.count === 0) {
    expect([s.mean, s.p50, s.p95, s.max]).toEqual([null, null, null, null])
    return
  }
  const { mean, p50, p95, max } = s as { mean: number, p50: number, p95: number, max: number }
  expect(p50).toBeLessThanOrEqual(p95)
  expect(p95).toBeLessThanOrEqual(max)
  expect(mean).toBeLessThanOrEqual(max)
}

// Structure and internal consistency only: the figures are what the bench is for, never asserted.
describe('bench/replacement.ts --quick', () => {
  it('reports one row per setting, with consistent counts and statistics', async () => {
    const lines: string[] = []
    const r = await main(['--quick', '--markdown'], line => lines.push(line))
    expect(r.bench).toBe('replacement')
    expect(r.node).toBe(process.version)
    expect(Number.isNaN(Date.parse(r.date))).toBe(false)
    expect(typeof r.cpu.model).toBe('string')
    expect(r.params.quick).toBe(true)
    expect(r.params.tickMs).toBe(10)
    const { nodes, replaceAfterTicks, warmupMs } = r.params
    expect(r.rows.map(x => `${x.series}/${x.nodes}/${x.replaceAfterTicks}/${x.warmupMs}`)).toEqual([
      ...nodes.flatMap(n => replaceAfterTicks.map(t => `timeout/${n}/${t}/${r.params.defaultWarmupMs}`)),
      ...nodes.flatMap(n => warmupMs.map(w => `log/${n}/${r.params.logSeriesReplaceAfterTicks}/${w}`))
    ])
    for (const row of r.rows) {
      expect(row.seeds).toHaveLength(r.params.seedsPerRow)
      expect(row.runsOk + row.failingSeeds.length).toBe(row.seeds.length)
      expect(row.replaceAfterMs).toBe(row.replaceAfterTicks * r.params.tickMs)
      // Every original member of a passing run is crashed once and timed.
      expect(row.replacements).toBe(row.runsOk * row.nodes)
      expect(row.ms.count).toBe(row.replacements - row.notReplaced)
      expect(row.leader.count + row.nonLeader.count).toBe(row.ms.count)
      for (const s of [row.ms, row.leader, row.nonLeader]) ordered(s)
      expect(row.slotsAtCrash.min).toBeLessThanOrEqual(row.slotsAtCrash.mean)
      expect(row.slotsAtCrash.mean).toBeLessThanOrEqual(row.slotsAtCrash.max)
      if (row.ms.mean !== null) expect(row.meanOverTimeoutMs).toBeCloseTo(row.ms.mean - row.replaceAfterMs, 1)
    }
    expect(r.logFits.map(f => f.nodes)).toEqual(nodes)
    expect(r.params.series).toEqual(['timeout', 'log', 'size', 'stream'])

    // Snapshot size: one row per state size, every original member counted.
    const z = r.snapshotSize
    expect(z.measured).toBe(true)
    expect(z.note).toMatch(/no bandwidth limit/)
    expect(z.params).toBeDefined()
    const zp = z.params as NonNullable<typeof z.params>
    expect(zp.nodes).toBe(3)
    expect(zp.snapshotEverySlots).toBeGreaterThan(0)
    expect(z.rows.map(x => x.stateMiB)).toEqual([0.1, 1])
    for (const row of z.rows) {
      expect(row.stateBytes).toBe(Math.round(row.stateMiB * 1024 * 1024))
      expect(row.chunks).toBe(Math.ceil(row.stateBytes / zp.snapshotChunkBytes))
      expect(row.seeds).toHaveLength(zp.seedsPerRow)
      expect(row.runsOk + row.failingSeeds.length).toBe(row.seeds.length)
      expect(row.replacements).toBe(row.seeds.length * zp.nodes)
      expect(row.notReplaced).toBeLessThanOrEqual(row.replacements)
      expect(row.leader.count + row.nonLeader.count).toBe(row.ms.count)
      for (const s of [row.ms, row.leader, row.nonLeader]) ordered(s)
      expect(row.runsWithInstalls).toBeLessThanOrEqual(row.seeds.length)
      expect(row.snapshotInstalls).toBeGreaterThanOrEqual(row.runsWithInstalls)
    }

    // Streaming: one row per (size, chunk size), each repeat timed, the median among them.
    const st = r.snapshotStreaming
    expect(st.measured).toBe(true)
    expect(st.note.length).toBeGreaterThan(0)
    expect(st.params).toMatchObject({ transport: 'LocalNetwork', clock: 'SystemClock', storage: 'MemoryStorage', windowChunks: 4 })
    const repeats = (st.params as NonNullable<typeof st.params>).repeats
    expect(st.rows.map(x => `${x.stateMiB}/${x.chunkBytes}`)).toEqual(['1/65536', '1/262144'])
    for (const row of st.rows) {
      expect(row.chunks).toBe(Math.ceil(row.stateBytes / row.chunkBytes))
      expect(row.runsMs).toHaveLength(repeats)
      expect(row.runsMs).toContain(row.medianMs)
      for (const x of [...row.runsMs, row.mbPerSecond, row.mibPerSecond]) expect(x).toBeGreaterThan(0)
    }
    // The CLI prints exactly this object; it must survive a JSON round trip.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r)
    // Progress lines, then the tables (one line per row plus headers).
    const table = markdownTables(r)
    expect(lines[lines.length - 1]).toBe(table)
    expect(table.split('\n').filter(l => /^\| \d/.test(l))).toHaveLength(r.rows.length + z.rows.length + st.rows.length)
  })

  it('runs only the selected series', async () => {
    const r = await main(['--quick', '--series', 'stream', '--stream-repeats', '1'], () => {})
    expect(r.rows).toEqual([])
    expect(r.snapshotSize).toMatchObject({ measured: false, rows: [] })
    expect(r.snapshotSize.note).toMatch(/not selected/)
    expect(r.snapshotStreaming.measured).toBe(true)
    expect(r.snapshotStreaming.rows.every(x => x.runsMs.length === 1)).toBe(true)
  })

  it('refuses bad flags', async () => {
    await expect(main(['--nodes', '2'], () => {})).rejects.toThrow(/--nodes/)
    await expect(main(['--bogus'], () => {})).rejects.toThrow()
    await expect(main(['--series', 'nope'], () => {})).rejects.toThrow(/--series/)
    await expect(main(['--state-mib', '0'], () => {})).rejects.toThrow(/--state-mib/)
  })
})
