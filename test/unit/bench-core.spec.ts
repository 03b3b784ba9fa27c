import { describe, expect, it } from 'vitest'
import { main } from '../../bench/core.js'

// Correctness of the benchmark only: timings depend on the machine and are never asserted.
describe('bench/core.ts --quick', () => {
  it('reports every case and every replica applied every committed command', () => {
    const lines: string[] = []
    const r = main(['--quick', '--nodes', '3,5'], line => lines.push(line))
    expect(r.bench).toBe('core')
    expect(r.storage).toBe('in-memory, no fsync')
    expect(r.node).toBe(process.version)
    expect(typeof r.cpu.model).toBe('string')
    expect(Number.isNaN(Date.parse(r.date))).toBe(false)
    expect(r.options.quick).toBe(true)
    expect(r.options.commandBytes).toBe(64)
    expect(r.targetsMet).toBeDefined()
    expect(r.cases.map(c => `${c.nodes}/${c.mode}`)).toEqual(['3/batched', '3/unbatched', '5/batched', '5/unbatched'])
    for (const c of r.cases) {
      expect(c.config['alpha']).toBeGreaterThan(0)
      expect(c.config['batchCommandsMax']).toBe(c.mode === 'unbatched' ? 1 : 4096)
      expect(c.runs).toHaveLength(r.options.repeats)
      for (const stat of [c.commandsPerSec, c.slotsPerSec, c.commandsPerCpuSec, c.slotsPerCpuSec, c.avgCommandsPerSlot, c.messagesPerSlot]) {
        expect(stat.min).toBeLessThanOrEqual(stat.median)
        expect(stat.median).toBeLessThanOrEqual(stat.max)
      }
      for (const run of [c.warmup, ...c.runs]) {
        expect(run.replicaAppliedCommands).toHaveLength(c.nodes)
        for (const applied of run.replicaAppliedCommands) expect(applied).toBe(run.commands)
        expect(run.slots).toBeGreaterThan(0)
        if (c.mode === 'unbatched') expect(run.slots).toBe(run.commands)
        else expect(run.slots * 4096).toBeGreaterThanOrEqual(run.commands)
      }
    }
    expect(lines.length).toBeGreaterThan(0)
    // The CLI prints exactly this object; it must survive a JSON round trip.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r)
  })
})
