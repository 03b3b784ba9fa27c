import { describe, expect, it } from 'vitest'
import { HelpRequested, UsageError, main, markdownTable, parseOptions } from '../../bench/snapshots.js'

// Structure and internal consistency only: the figures are what the bench is for, never asserted
// (except what the snapshot rule guarantees whatever the machine: the bounded lag and log).
describe('bench/snapshots.ts --quick', () => {
  it('reports an off and an on run per storage with consistent figures', async () => {
    const lines: string[] = []
    const r = await main(['--quick', '--slots', '2000', '--every', '250', '--retention', '100', '--storage', 'memory,level', '--markdown'], line => lines.push(line))
    expect(r.bench).toBe('snapshots')
    expect(r.node).toBe(process.version)
    expect(r.options.repeats).toBe(1)
    expect(r.runs.map(x => `${x.storage}/${x.snapshots}`)).toEqual(['memory/false', 'memory/true', 'level/false', 'level/true'])
    for (const run of r.runs) {
      expect(run.commands).toBe(2000)
      expect(run.slots).toBeGreaterThanOrEqual(2000)
      expect(run.slotsPerSec).toBeGreaterThan(0)
      expect(run.settled).toBe(true)
      expect(run.heap.peakBytes).toBeGreaterThan(0)
      if (run.snapshots) {
        expect(run.everySlots).toBe(250)
        expect(Math.min(...run.snapshotsDuringBurst)).toBeGreaterThanOrEqual(2000 / 250 - 2)
        expect(run.maxLag).toBeLessThanOrEqual(2 * 250 + 1024)
        expect(run.finalLag).toBeLessThan(250)
        expect(run.settleMs).not.toBeNull()
        expect(run.maxLogEntries).toBeLessThan(2000)
      } else {
        expect(run.settleMs).toBeNull()
        expect(run.maxLogEntries).toBeGreaterThanOrEqual(2000)
      }
    }
    expect(r.summary.map(s => s.storage)).toEqual(['memory', 'level'])
    expect(lines.join('\n')).toContain(markdownTable(r))
  })

  it('--help and bad flags', () => {
    expect(() => parseOptions(['--help'])).toThrow(HelpRequested)
    expect(() => parseOptions(['--slots', '0'])).toThrow(UsageError)
    expect(() => parseOptions(['--storage', 'disk'])).toThrow(UsageError)
    expect(() => parseOptions(['--nope'])).toThrow(UsageError)
    expect(parseOptions([]).slots).toBe(100_000)
  })
})
