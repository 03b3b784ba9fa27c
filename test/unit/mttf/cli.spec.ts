import { describe, it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseCli } from '../../../simulations/mttf/args.ts'
import { formatDuration, parseDuration, parseDurationList } from '../../../simulations/mttf/duration.ts'
import { markdownTable, parseRealPoints } from '../../../simulations/mttf/render.ts'
import { runStudy } from '../../../simulations/mttf/study.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const CLI = join(ROOT, 'simulations/mttf/cli.ts')

function runCli (args: string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 60_000
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('duration parser', () => {
  it('parses every unit and plain seconds', () => {
    expect(parseDuration('500ms')).toBeCloseTo(0.5, 12)
    expect(parseDuration('60s')).toBe(60)
    expect(parseDuration('5m')).toBe(300)
    expect(parseDuration('1h')).toBe(3600)
    expect(parseDuration('6h')).toBe(21600)
    expect(parseDuration('1d')).toBe(86400)
    expect(parseDuration('2w')).toBe(1209600)
    expect(parseDuration('42')).toBe(42)
    expect(parseDuration('1.5h')).toBe(5400)
    expect(parseDurationList('1m, 5m,1h')).toEqual([60, 300, 3600])
  })

  it('rejects junk with ERR_MTTF_BAD_DURATION', () => {
    for (const bad of ['', 'h', '1x', '-5s', '1 h 2', '5mm', 'abc', '1e999']) {
      expect(() => parseDuration(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_DURATION' }))
    }
    expect(() => parseDurationList('1m,,2m')).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_DURATION' }))
  })

  it('formats human units', () => {
    expect(formatDuration(0.25)).toBe('250 ms')
    expect(formatDuration(90)).toBe('1.5 min')
    expect(formatDuration(39000)).toBe('11 h')
    expect(formatDuration(3.2 * 365.25 * 86400)).toBe('3.2 y')
    expect(formatDuration(5.9e14)).toBe('1.9e7 y')
  })
})

describe('CLI flags', () => {
  it('defaults to the issue-4 grid', () => {
    const c = parseCli([])
    expect(c.grid.members).toEqual([1, 3, 5, 7, 9])
    expect(c.grid.peerMttfS).toEqual([60, 300, 600, 1800, 3600, 21600, 86400])
    expect(c.grid.repairS).toEqual([60])
    expect(c.grid.dists).toEqual(['exp'])
    expect(c.grid.repairModes).toEqual(['parallel'])
    expect(c.study).toMatchObject({ runs: 20000, seed: 1, estimator: 'regenerative' })
    expect(c.progress).toBe(false) // stderr is not a TTY here
  })

  it('progress bar only on a TTY without CI', () => {
    expect(parseCli([], {}, true).progress).toBe(true)
    expect(parseCli([], { CI: 'true' }, true).progress).toBe(false)
    expect(parseCli(['--no-progress'], {}, true).progress).toBe(false)
  })

  it('bad flags throw ERR_MTTF_BAD_FLAG', () => {
    const bad = [
      ['--bogus'], ['--members', '3,x'], ['--members', '0'], ['--peer-mttf', '1y'], ['--repair', '0s'],
      ['--dist', 'normal'], ['--repair-mode', 'lazy'], ['--runs', '1'], ['--runs', '1e3'], ['--seed', 'abc'],
      ['--estimator', 'magic'], ['--bias', '1.5'], ['extra-positional']
    ]
    for (const args of bad) {
      expect(() => parseCli(args), args.join(' ')).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_FLAG' }))
    }
  })
})

describe('CLI end to end', () => {
  it('writes JSON, Markdown and SVG for a tiny grid; draws model-vs-real when points are given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-mttf-'))
    try {
      const realFile = join(dir, 'real.json')
      writeFileSync(realFile, JSON.stringify([
        { members: 3, peerMttfS: 3600, repairS: 60, dist: 'exp', measuredS: 40000, ciLowS: 35000, ciHighS: 45000, runs: 50 }
      ]))
      const out = join(dir, 'out')
      const r = runCli(['--members', '3,5', '--peer-mttf', '10m,1h', '--repair', '60s', '--runs', '2000', '--seed', '7', '--out', out, '--real', realFile])
      expect(r.status, r.stderr).toBe(0)
      const json = JSON.parse(r.stdout) as { parameters: { runs: number }, rows: Array<Record<string, unknown>> }
      expect(json.parameters.runs).toBe(2000)
      expect(json.rows).toHaveLength(4)
      for (const row of json.rows) {
        for (const k of ['members', 'peerMttfS', 'lambda', 'repairS', 'dist', 'repairMode', 'analyticS', 'mcS', 'ciLowS', 'ciHighS', 'estimator', 'cycles']) {
          expect(row, k).toHaveProperty(k)
        }
      }
      expect(JSON.parse(readFileSync(join(out, 'mttf.json'), 'utf8'))).toEqual(json)
      expect(readFileSync(join(out, 'mttf.md'), 'utf8')).toContain('| N | peer MTTF |')
      const svg = readFileSync(join(out, 'mttf.svg'), 'utf8')
      expect(svg.startsWith('<svg')).toBe(true)
      expect(svg).toContain('VP MTTF')
      expect(readFileSync(join(out, 'model-vs-real.svg'), 'utf8')).toContain('real')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('skips model-vs-real.svg without real points, and exits 2 on bad flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-mttf-'))
    try {
      const ok = runCli(['--members', '3', '--peer-mttf', '1h', '--runs', '500', '--dist', 'fixed', '--out', dir])
      expect(ok.status, ok.stderr).toBe(0)
      expect(existsSync(join(dir, 'mttf.svg'))).toBe(true)
      expect(existsSync(join(dir, 'model-vs-real.svg'))).toBe(false)
      expect(ok.stderr).toContain('skipped model-vs-real.svg')
      const bad = runCli(['--dist', 'bogus'])
      expect(bad.status).toBe(2)
      expect(bad.stderr).toContain('--dist')
      expect(bad.stdout).toBe('')
      expect(runCli(['--peer-mttf', '5 minutes']).status).toBe(2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('render helpers', () => {
  it('validates real-code points', () => {
    expect(parseRealPoints({ points: [{ members: 3, peerMttfS: 60, repairS: 60, dist: 'fixed', measuredS: 1, ciLowS: 0, ciHighS: 2, runs: 5 }] })[0]?.repairMode).toBe('parallel')
    expect(() => parseRealPoints([{ members: 3 }])).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_REAL_POINTS' }))
    expect(() => parseRealPoints('nope')).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_REAL_POINTS' }))
  })

  it('markdown table has one line per row, analytic shown only for exp', () => {
    const rows = runStudy({ members: [3], peerMttfS: [3600], repairS: [60], dists: ['exp', 'uniform'], repairModes: ['parallel'] }, { runs: 500, seed: 1 })
    const md = markdownTable(rows).split('\n')
    expect(md).toHaveLength(4)
    expect(md[3]).toContain('uniform(0,R)')
    expect(md[3]).toContain('| — |')
  })
})
