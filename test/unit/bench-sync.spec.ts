import { describe, expect, it } from 'vitest'
import { appendTargets, cli, fmtBytes, formatPaperTable, judgeDefault, KiB, MiB, PAPER_CASES, paperLimit, parseOptions, parseSs, sizes, tcpDelta, USAGE } from '../../bench/sync.js'
import type { Measurement, SyncBenchResult } from '../../bench/sync.js'
import { runBenchCli } from './bench-cli-run.js'

describe('bench/sync.ts', () => {
  // Three real vpeer processes, tiny files: structure and sanity, never speed.
  it('--quick runs S1–S6 end to end on three processes', async () => {
    const { code, out, err } = await runBenchCli(cli, ['--quick'])
    expect(code).toBe(0)
    const r = JSON.parse(out) as SyncBenchResult
    expect(r).toMatchObject({ bench: 'sync', mode: 'default', params: { quick: true, rescanMs: 500 }, paperCases: [] })
    expect(r.scenarios.map(s => s.id)).toEqual(['S1', 'S2', 'S3', 'S4', 'S5', 'S6'])
    for (const s of r.scenarios) {
      expect(s.error, s.id).toBeNull()
      expect(s.measured?.wallMs, s.id).toBeGreaterThan(0)
      expect(s.measured?.landedMs, s.id).toBeLessThanOrEqual(s.measured?.wallMs ?? 0)
      // Quick runs judge nothing.
      for (const t of s.targets) expect(t.met).toBeNull()
    }
    const [s1, s2, s3, , s5, s6] = r.scenarios
    // Every receiver got the whole data set through the exchange, at least once.
    expect(s1?.measured?.traffic.exchangeBytes).toBeGreaterThanOrEqual(s1?.mustDeliverBytes ?? Infinity)
    expect(s1?.measured?.traffic.originUploadBytes).toBeGreaterThan(0)
    expect(s2?.measured?.traffic.exchangeBytes).toBeGreaterThanOrEqual(s2?.mustDeliverBytes ?? Infinity)
    // Nothing changed: no chunk moved.
    expect(s3?.measured?.traffic.blocksFetched).toBe(0)
    expect(s3?.measured?.traffic.exchangeBytes).toBe(0)
    // A 4 KiB edit of a 1 MiB file moves a few chunks, not the file: at most the two chunks
    // around the edit (64 KiB at most each; random data may give maximal ones) to each of the two
    // receivers, each chunk possibly twice (the endgame asks two holders), plus frame headers.
    expect(s5?.measured?.traffic.exchangeBytes).toBeLessThan(2 * 2 * 2 * (64 * KiB + 256))
    expect(s6?.measured?.conflict).toMatchObject({ copies: 1, bothVersionsSurvive: true })
    expect(err).toMatch(/QUICK RUN/)
    expect(err).toMatch(/\| S6 /)
  }, 90_000)

  it('parses its options and refuses bad ones', () => {
    expect(parseOptions([])).toEqual({ mode: 'default', quick: false, only: undefined, scale: 1, rescanMs: 500, out: undefined })
    expect(parseOptions(['--paper', '--only', '2.2', '--scale', '0.1'])).toMatchObject({ mode: 'paper', only: '2.2', scale: 0.1 })
    expect(() => parseOptions(['--only', '2.2'])).toThrow(/--paper/)
    expect(() => parseOptions(['--scale', '0.1'])).toThrow(/--paper/)
    expect(() => parseOptions(['--paper', '--only', '4.1'])).toThrow(/no case 4.1/)
    expect(() => parseOptions(['--paper', '--scale', '0'])).toThrow(/--scale/)
    expect(() => parseOptions(['--paper', '--scale', '2'])).toThrow(/--scale/)
    expect(() => parseOptions(['--paper', '--quick'])).toThrow(/--quick/)
    expect(() => parseOptions(['--rescan-ms', '10'])).toThrow(/--rescan-ms/)
    expect(() => parseOptions(['--bogus'])).toThrow()
  })

  it('--help prints the usage; bad flags exit 2', async () => {
    const help = await runBenchCli(cli, ['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toBe(USAGE + '\n')
    expect((await runBenchCli(cli, ['--scale', '0.5'])).code).toBe(2)
  })

  it('computes the paper\'s physical limit as the shared notes do', () => {
    const bps = 3e6
    const sz = (b: number): number => b
    const limitOf = (id: string): ReturnType<typeof paperLimit> => {
      const k = PAPER_CASES.find(c => c.id === id)
      if (k === undefined) throw new Error(id)
      return paperLimit(k.need(sz), k.unique(sz), bps)
    }
    // Second scenario, case 1: each receiver needs 100 MiB: 100 × 8 × 1.048576 / 3 ≈ 279.6 s.
    expect(limitOf('2.1').seconds).toBeCloseTo(100 * 8 * 1.048576 / 3, 6)
    expect(limitOf('1.1').seconds).toBeCloseTo(10 * 8 * 1.048576 / 3, 6)
    // C3 and C4 each lack F1 and F2.
    expect(limitOf('1.2')).toMatchObject({ bound: 'receive', bytes: 20 * MiB })
    expect(limitOf('1.5')).toMatchObject({ bytes: 10 * MiB })
    // C1 lacks ten 1 MiB appends; the others eight.
    expect(limitOf('2.2')).toMatchObject({ bound: 'receive', host: 'C1', bytes: 10 * MiB })
    expect(limitOf('3.1').bytes).toBe(20 * 500 * KiB)
    expect(limitOf('1.4')).toEqual({ bytes: 0, seconds: 0, bound: 'none', host: null })
    // A sole holder's upload bounds when it exceeds every receiver's need.
    expect(paperLimit({ B: 5 }, { A: 50 }, 8)).toEqual({ bytes: 50, seconds: 50, bound: 'upload', host: 'A' })
    // Scaling the sizes scales the limit.
    const k = PAPER_CASES.find(c => c.id === '2.1')
    if (k === undefined) throw new Error('2.1')
    expect(paperLimit(k.need(b => b / 10), k.unique(b => b / 10), bps).seconds).toBeCloseTo(limitOf('2.1').seconds / 10, 6)
  })

  it('spreads the appends two files per host, each file once', () => {
    expect([2, 3, 4, 5, 6].map(i => appendTargets(i, 10))).toEqual([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]])
    expect([2, 3].map(i => appendTargets(i, 4))).toEqual([[1, 2], [3, 4]])
  })

  it('counts TCP bytes of the hosts\' connections only, and closed ones', () => {
    const ss = [
      '0      0      127.0.0.1:53086 127.0.0.1:40249',
      '\t bbr wscale:10,10 bytes_sent:1000 bytes_acked:1001 segs_out:5',
      '0      0      127.0.0.1:40249 127.0.0.1:53086',
      '\t bbr bytes_received:1000 segs_out:2',
      '0      0      127.0.0.1:22 127.0.0.1:5555',
      '\t bytes_sent:999999',
      ''
    ].join('\n')
    const a = parseSs(ss, new Set([40249]))
    expect([...a]).toEqual([['127.0.0.1:53086 127.0.0.1:40249', 1000], ['127.0.0.1:40249 127.0.0.1:53086', 0]])
    const b = new Map([['127.0.0.1:53086 127.0.0.1:40249', 1500], ['x y', 70]])
    expect(tcpDelta(a, b)).toEqual({ bytes: 570, closed: 1 })
  })

  it('judges the targets of a full run', () => {
    const s = sizes(false)
    const m = (over: Partial<Measurement> & { exchange?: number, origin?: number | null, blocks?: number }): Measurement => ({
      wallMs: 1000, landedMs: 900, passMs: 50, revision: 3,
      traffic: { exchangeBytes: over.exchange ?? 0, originUploadBytes: over.origin ?? null, blocksFetched: over.blocks ?? 0, sentByHost: {}, tcpBytes: null, otherBytes: null, tcpConnectionsClosed: 0 },
      ...over
    })
    expect(judgeDefault('S1', m({ wallMs: 2000, origin: 150 * MiB }), s, false).map(t => t.met)).toEqual([true, true])
    expect(judgeDefault('S1', m({ wallMs: 2400, origin: 201 * MiB }), s, false).map(t => t.met)).toEqual([false, false])
    expect(judgeDefault('S2', m({ exchange: 52.5 * MiB }), s, false).map(t => t.met)).toEqual([true, true])
    expect(judgeDefault('S2', m({ exchange: 52.6 * MiB }), s, false)[1]?.met).toBe(false)
    expect(judgeDefault('S3', m({ passMs: 90 }), s, false).map(t => t.met)).toEqual([true, true])
    expect(judgeDefault('S3', m({ passMs: 90, blocks: 1, exchange: 100 }), s, false)[1]?.met).toBe(false)
    expect(judgeDefault('S5', m({ exchange: 47 * KiB }), s, false)[0]?.met).toBe(false)
    expect(judgeDefault('S6', m({ conflict: { copies: 1, bothVersionsSurvive: true, copyPath: 'x' } }), s, false)[0]?.met).toBe(true)
    expect(judgeDefault('S6', m({ conflict: { copies: 2, bothVersionsSurvive: true, copyPath: null } }), s, false)[0]?.met).toBe(false)
    expect(judgeDefault('S1', null, s, false).map(t => t.met)).toEqual([null, null])
  })

  it('prints the paper table with the scale and each case against its limit', () => {
    const r = {
      bench: 'sync', date: '2026-12-01T00:00:00.000Z', node: 'v20', platform: 'linux-x64', cpu: { model: 'Test CPU', count: 2 }, mode: 'paper',
      params: { quick: false, rescanMs: 500, scale: 0.1, only: '1.1', shape: '3 Mbit/s', transport: 't' },
      scenarios: [],
      paperCases: [{
        id: '1.1', title: 'two hosts only', hosts: ['C1', 'C2'], paper: { seconds: 56, trafficMiB: 10 },
        limit: { bytes: MiB, seconds: 2.796, bound: 'receive', host: 'C2' }, mustDeliverBytes: MiB,
        measured: { wallMs: 3100, landedMs: 3000, passMs: 10, revision: 2, traffic: { exchangeBytes: 1.1 * MiB, originUploadBytes: MiB, blocksFetched: 60, sentByHost: {}, tcpBytes: 1.2 * MiB, otherBytes: 0.1 * MiB, tcpConnectionsClosed: 0 } },
        error: null, overLimit: 3.1 / 2.796, targetMet: false
      }]
    } satisfies SyncBenchResult
    const table = formatPaperTable(r)
    expect(table).toMatch(/SCALE 0\.1 \(file and append sizes × scale/)
    expect(table).toContain('| 1.1 | two hosts only | 3.10 s | 56 s | 2.8 s (receive C2 1.0 MiB) | 1.11 | MISSED | 1.1 MiB | 1.0 MiB | 10 MiB | 1.2 MiB |')
    expect(fmtBytes(1.5 * MiB)).toBe('1.5 MiB')
  })
})
