import { beforeAll, describe, expect, it } from 'vitest'
import { cli, formatResult, HelpRequested, main, markdownTable, parseOptions, textTable, USAGE, UsageError } from '../../bench/core.js'
import type { BenchResult } from '../../bench/core.js'

// Correctness of the benchmark only: timings depend on the machine and are never asserted.
describe('bench/core.ts --quick', () => {
  let r: BenchResult
  const lines: string[] = []
  beforeAll(() => {
    r = main(['--quick', '--nodes', '3,5'], line => lines.push(line))
  })

  it('reports every case and every replica applied every committed command', () => {
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
  })

  it('--json prints exactly the result object', () => {
    expect(JSON.parse(formatResult(r, 'json'))).toEqual(r)
  })

  it('the default table has one aligned row per case with its medians', () => {
    const text = formatResult(r, 'table')
    expect(text).toBe(textTable(r))
    const out = text.split('\n')
    const header = out.findIndex(l => l.startsWith('nodes'))
    expect(header).toBeGreaterThan(0)
    expect(out[header + 1]).toMatch(/^-+( +-+){6}$/)
    const rows = out.slice(header + 2, header + 2 + r.cases.length)
    // Every row as wide as the header row (aligned columns, right-aligned last column).
    for (const row of rows) expect(row.length).toBe(out[header]?.length)
    r.cases.forEach((c, i) => {
      const cells = (rows[i] ?? '').trim().split(/ {2,}/)
      expect(cells[0]).toBe(String(c.nodes))
      expect(cells[1]).toBe(c.mode === 'batched' ? 'on (≤ 4096)' : 'off')
      expect(cells[2]).toBe(`${Math.round(c.commandsPerSec.median).toLocaleString('en-US')} (${Math.round(c.commandsPerSec.min).toLocaleString('en-US')}–${Math.round(c.commandsPerSec.max).toLocaleString('en-US')})`)
      expect(cells[3]).toBe(Math.round(c.slotsPerSec.median).toLocaleString('en-US'))
      expect(cells[6]).toBe(String(c.messagesPerSlot.median))
    })
    expect(text).toContain('targets: not judged (--quick)')
    expect(text).not.toContain('{')
  })

  it('--markdown prints the README table', () => {
    expect(formatResult(r, 'markdown')).toBe(markdownTable(r))
    expect(markdownTable(r).split('\n').filter(l => l.startsWith('| 3 ') || l.startsWith('| 5 '))).toHaveLength(4)
  })
})

describe('bench/core.ts command line', () => {
  function runCli (argv: string[]): { code: number, out: string, err: string } {
    let out = ''
    let err = ''
    const code = cli(argv, t => { out += t }, t => { err += t })
    return { code, out, err }
  }

  it('prints the table by default and JSON with --json, progress on stderr only', () => {
    const table = runCli(['--quick', '--nodes', '3', '--modes', 'unbatched'])
    expect(table.code).toBe(0)
    expect(table.out).toMatch(/^Core throughput: /)
    expect(table.out).toMatch(/\n {4}3 {2}off /)
    expect(table.err).toMatch(/3 nodes unbatched: warm-up/)
    expect(table.out).not.toMatch(/warm-up/)
    const json = runCli(['--quick', '--nodes', '3', '--modes', 'unbatched', '--json'])
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.out) as BenchResult
    expect(parsed.cases.map(c => `${c.nodes}/${c.mode}`)).toEqual(['3/unbatched'])
  })

  it('--help prints the usage and exits 0; bad flags exit 2 with the usage on stderr', () => {
    expect(runCli(['--help'])).toEqual({ code: 0, out: USAGE + '\n', err: '' })
    for (const bad of [['--nope'], ['--nodes', '0'], ['--modes', 'fast'], ['--json', '--markdown'], ['--seconds', '-1']]) {
      const r = runCli(bad)
      expect(r.code, bad.join(' ')).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toContain(USAGE)
    }
    expect(() => parseOptions(['--help'])).toThrow(HelpRequested)
    expect(() => parseOptions(['--nope'])).toThrow(UsageError)
    expect(parseOptions([]).format).toBe('table')
    expect(parseOptions(['--json']).format).toBe('json')
    expect(parseOptions(['--markdown']).format).toBe('markdown')
  })
})
