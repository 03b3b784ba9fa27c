import { describe, expect, it } from 'vitest'
import { cli, formatResult, markdownTable, MEASURED_CALL, parseOptions, summarize, USAGE, VOTERS } from '../../bench/group.js'
import type { GroupBenchResult, SizeResult } from '../../bench/group.js'
import { runBenchCli } from './bench-cli-run.js'

describe('bench/group.ts', () => {
  // The smallest real run: a DHT of 9 (3 plain nodes, 5 voters, 1 spare), one client, 3 sends,
  // one change. Structure and sanity only; the figures are never asserted.
  it('runs end to end on a tiny DHT and reports sane figures', async () => {
    const out: string[] = []
    const progress: string[] = []
    const code = await cli(['--quick', '--sizes', '9', '--reps', '1', '--sends', '3', '--changes', '1'], t => out.push(t), t => progress.push(t))
    expect(code).toBe(0)
    const r = JSON.parse(out.join('')) as GroupBenchResult
    expect(r.bench).toBe('group')
    expect(r.node).toBe(process.version)
    expect(r.params).toMatchObject({ quick: true, sizes: [9], reps: 1, sends: 3, changes: 1, voters: VOTERS })
    expect(r.sizes).toHaveLength(1)
    const s = r.sizes[0] as SizeResult
    expect(s).toMatchObject({ dhtNodes: 9, plain: 3, voters: VOTERS, spares: 1 })
    expect(s.startup.routingTables.min).toBeGreaterThanOrEqual(8)
    expect(s.firstWrite.runs).toHaveLength(1)
    const first = s.firstWrite.runs[0]
    expect(first?.connectMs).toBeGreaterThan(0)
    expect(first?.firstWriteMs).toBeGreaterThan(first?.connectMs ?? Infinity)
    expect(first?.bootstrap).toMatch(/^d[123]$/)
    expect(s.send).toMatchObject({ call: MEASURED_CALL.name, errors: 0 })
    expect(s.send.latencyMs.count).toBe(3)
    expect(s.send.latencyMs.p50).toBeGreaterThan(0)
    const change = s.change?.runs[0]
    expect(change?.killed).toMatch(/^m[1-5]$/)
    expect(change?.joined).toBe('s1')
    expect(change?.freshClientMs).toBeGreaterThanOrEqual(change?.connectMs ?? Infinity)
    expect(progress.join('')).toMatch(/change 1\/1/)
  }, 120_000)

  it('parses its options and refuses bad ones', () => {
    expect(parseOptions([])).toEqual({ format: 'json', quick: false, sizes: [20, 50], reps: 5, sends: 200, changes: 3 })
    expect(parseOptions(['--quick', '--markdown'])).toEqual({ format: 'markdown', quick: true, sizes: [12], reps: 2, sends: 20, changes: 1 })
    expect(parseOptions(['--sizes', '30, 60', '--reps', '7', '--sends', '9', '--changes', '0'])).toMatchObject({ sizes: [30, 60], reps: 7, sends: 9, changes: 0 })
    expect(() => parseOptions(['--json', '--markdown'])).toThrow(/exclude/)
    expect(() => parseOptions(['--reps', '0'])).toThrow(/--reps/)
    expect(() => parseOptions(['--reps', '1.5'])).toThrow(/--reps/)
    expect(() => parseOptions(['--sizes', ''])).toThrow(/--sizes/)
    expect(() => parseOptions(['--sizes', '20,x'])).toThrow(/--sizes/)
    // 5 voters + 3 spares (one per change) + a plain node for the bootstrap.
    expect(() => parseOptions(['--sizes', '8'])).toThrow(/too small/)
    expect(parseOptions(['--sizes', '9']).sizes).toEqual([9])
    expect(() => parseOptions(['--bogus'])).toThrow()
  })

  it('--help prints the usage; bad flags exit 2 without running anything', async () => {
    const help = await runBenchCli(cli, ['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toBe(USAGE + '\n')
    const bad = await runBenchCli(cli, ['--sizes', '3'])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/too small/)
  })

  it('summarises with nearest-rank percentiles', () => {
    expect(summarize([])).toEqual({ count: 0, p50: 0, p99: 0, min: 0, max: 0, mean: 0 })
    expect(summarize([5])).toEqual({ count: 1, p50: 5, p99: 5, min: 5, max: 5, mean: 5 })
    // Unsorted input; p50 of 4 is the 2nd smallest; p99 of fewer than 100 is the largest.
    expect(summarize([40, 10, 30, 20])).toEqual({ count: 4, p50: 20, p99: 40, min: 10, max: 40, mean: 25 })
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(summarize(hundred)).toMatchObject({ p50: 50, p99: 99, max: 100 })
    expect(summarize([1.234, 1.26])).toMatchObject({ p50: 1.2, max: 1.3 })
  })

  it('reports JSON and one README column per DHT size', () => {
    const size = (n: number, fresh: number[] | null): SizeResult => ({
      dhtNodes: n,
      plain: n - VOTERS - 3,
      voters: VOTERS,
      spares: 3,
      startup: { totalMs: 9000, nodesMs: 7000, routingTables: { min: 9, p50: 15, max: 19, readyMs: 8000 }, heapMB: 150, rssMB: 300, eventLoopDelayMs: { p50: 10, p99: 120, max: 300 } },
      firstWrite: {
        runs: [{ connectMs: 200, firstWriteMs: 260, bootstrap: 'd3' }, { connectMs: 300, firstWriteMs: 350, bootstrap: 'd1' }],
        ms: summarize([260, 350]),
        connectMs: summarize([200, 300])
      },
      send: { call: MEASURED_CALL.name, latencyMs: summarize([4, 5, 6]), errors: 0 },
      change: fresh === null ? null : { runs: fresh.map(ms => ({ killed: 'm2', joined: 's1', replaceMs: 2500, freshClientMs: ms, connectMs: ms / 2 })), freshClientMs: summarize(fresh), replaceMs: summarize(fresh.map(() => 2500)) },
      cpuSeconds: 12
    })
    const r: GroupBenchResult = {
      bench: 'group',
      date: '2026-12-01T00:00:00.000Z',
      node: 'v20.20.2',
      platform: 'linux-x64',
      cpu: { model: 'Test CPU', count: 2 },
      params: { quick: true, sizes: [20, 50], reps: 2, sends: 3, changes: 1, voters: VOTERS, transport: 'libp2p tcp + noise + yamux on 127.0.0.1, one process', dht: '/vpeer/kad/1.0.0 (kad-dht, k = 20)', provideEveryMs: 10_000, replaceAfterMs: 1000 },
      sizes: [size(20, [400, 600]), size(50, null)]
    }
    expect(JSON.parse(formatResult(r, 'json'))).toEqual(r)
    const md = markdownTable(r)
    expect(formatResult(r, 'markdown')).toBe(md)
    expect(md).toMatch(/QUICK RUN/)
    expect(md).toMatch(/\| figure \| DHT of 20 \| DHT of 50 \|/)
    expect(md).toMatch(/\| client start → first committed write, ms: p50 \/ p99 \(runs\) \| 260 \/ 350 \(2\) \| 260 \/ 350 \(2\) \|/)
    expect(md).toMatch(/\| send latency, ms: p50 \/ p99 .*\| 5 \/ 6 \| 5 \/ 6 \|/)
    // A size without changes shows a dash, not a zero.
    expect(md).toMatch(/a fresh client sees the new voters, ms: p50 \(max, runs\) \| 400 \(600, 2\) \| – \|/)
    const rows = md.split('\n').filter(l => l.startsWith('| ') && !l.startsWith('| figure'))
    for (const row of rows) expect(row.split(' | ')).toHaveLength(3)
  })
})
