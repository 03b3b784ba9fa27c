import { describe, expect, it } from 'vitest'
import { cli, formatResult, markdownTable, parseOptions, PHASES, USAGE } from '../../bench/net.js'
import type { LoadRow, NetBenchResult } from '../../bench/net.js'
import { runBenchCli } from './bench-cli-run.js'

function sane (row: LoadRow, inflight: number): void {
  expect(row.inflight).toBe(inflight)
  expect(row.errors).toBe(0)
  expect(row.ops).toBeGreaterThan(0)
  expect(row.seconds).toBeGreaterThan(0)
  expect(row.opsPerSec).toBeGreaterThan(0)
  const l = row.latencyMs
  expect(l.count).toBe(row.ops)
  expect(l.p50).toBeGreaterThan(0)
  expect(l.p50).toBeLessThanOrEqual(l.p99)
  expect(l.p99).toBeLessThanOrEqual(l.max)
  // The client and the leader always work; /proc ticks are 10 ms, so a follower may show 0.
  expect(row.cpuSecondsPer1000.client).toBeGreaterThan(0)
  expect(row.cpuSecondsPer1000.perMember).toHaveLength(3)
  expect(row.cpuSecondsPer1000.perMember[0]).toBeGreaterThan(0)
  expect(row.cpuSecondsPer1000.members).toBeCloseTo(row.cpuSecondsPer1000.perMember.reduce((a, x) => a + x, 0), 2)
}

// Structure and sanity only: a smoke run on a shared machine; the figures are never asserted.
describe('bench/net.ts --quick', () => {
  it('runs every phase end to end over real member processes and reports sane figures', async () => {
    const out: string[] = []
    const progress: string[] = []
    const code = await cli(['--quick', '--snapshot-mb', '0.5'], t => out.push(t), t => progress.push(t))
    expect(code).toBe(0)
    const r = JSON.parse(out.join('')) as NetBenchResult
    expect(r.bench).toBe('net')
    expect(r.node).toBe(process.version)
    expect(typeof r.cpu.model).toBe('string')
    expect(r.params).toMatchObject({ quick: true, phases: [...PHASES], members: 3, valueBytes: 128 })
    expect(r.writes.map(w => w.inflight)).toEqual([1, 16, 64])
    r.writes.forEach(w => { sane(w, w.inflight) })
    expect(r.reads).toHaveLength(1)
    sane(r.reads[0] as LoadRow, 16)

    const f = r.failover
    expect(f).not.toBeNull()
    const trials = f?.trials ?? []
    expect(trials).toHaveLength(1)
    for (const t of trials) {
      // The measuring write started after the kill and ended after it started.
      expect(t.writeStartedMs).toBeGreaterThanOrEqual(0)
      expect(t.ms).toBeGreaterThan(t.writeStartedMs)
      expect(t.newLeader).toMatch(/^m[123]$/)
      expect(t.newLeader).not.toBe(t.killed)
      expect(t.catchUpMs).toBeGreaterThan(0)
    }
    expect(f?.ms.p50).toBe(trials[0]?.ms)

    const s = r.snapshot
    expect(s).not.toBeNull()
    // At least the 0.5 MB of large keys, in 64 KiB chunks.
    expect(s?.bytes).toBeGreaterThan(0.5e6)
    expect(s?.chunks).toBe(Math.ceil((s?.bytes ?? 0) / 65536))
    expect(s?.ms).toBeGreaterThan(0)
    expect(s?.mbPerSec).toBeGreaterThan(0)
    expect(s?.killToInstalledMs).toBeGreaterThan(s?.ms ?? 0)

    expect(Object.keys(r.targetsMet).sort()).toEqual(['failoverMs', 'p50Ms1', 'readsPerSec16', 'writesPerSec64'])
    expect(r.etcd.writesPerSec64).toBe(4100)
    // The markdown table: one line per figure, and the CPU table.
    const md = markdownTable(r)
    expect(md).toMatch(/QUICK RUN/)
    expect(md.split('\n').filter(l => l.startsWith('| writes/s at'))).toHaveLength(3)
    expect(md).toMatch(/\| linearizable reads\/s at 16 in flight/)
    expect(md).toMatch(/\| failover after kill -9/)
    expect(md).toMatch(/\| snapshot transfer/)
    expect(md.split('\n').filter(l => /^\| (writes|reads) at \d+ \|/.test(l))).toHaveLength(4)
    expect(formatResult(r, 'markdown')).toBe(md)
    expect(progress.join('')).toMatch(/failover 1\/1/)
  }, 240_000)

  it('parses its options and refuses bad ones', () => {
    expect(parseOptions([])).toMatchObject({ format: 'json', quick: false, phases: [...PHASES], valueBytes: 128, trials: 5, snapshotMB: 16 })
    expect(parseOptions(['--quick', '--markdown', '--phases', 'failover,writes'])).toMatchObject({ format: 'markdown', trials: 1, snapshotMB: 1, phases: ['writes', 'failover'] })
    expect(() => parseOptions(['--phases', 'nope'])).toThrow(/--phases/)
    expect(() => parseOptions(['--json', '--markdown'])).toThrow(/exclude/)
    expect(() => parseOptions(['--trials', '0'])).toThrow(/--trials/)
    expect(() => parseOptions(['--bogus'])).toThrow()
  })

  it('--help prints the usage; bad flags exit 2', async () => {
    const help = await runBenchCli(cli, ['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toBe(USAGE + '\n')
    const bad = await runBenchCli(cli, ['--phases', 'x'])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/unknown phase x/)
  })
})
