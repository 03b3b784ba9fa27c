import { afterEach, describe, it, expect } from 'vitest'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DEFAULT_REAL_RUNS, parseCli } from '../../../simulations/mttf/args.js'
import { MIN_LAMBDA_R, planGridRealPoints, RUNNER_DEFAULTS } from '../../../simulations/mttf/real-runner.js'
import { formatDuration, parseDuration, parseDurationList } from '../../../simulations/mttf/duration.js'
import { markdownTable, parseRealPoints } from '../../../simulations/mttf/render.js'
import { runStudy } from '../../../simulations/mttf/study.js'
import { cpuSeconds, killAllTrees, killTree, processGroup, runTree, startTree, waitFor } from './process-tree.js'

const ROOT = resolve(import.meta.dirname, '../../..')
const CLI = join(ROOT, 'simulations/mttf/cli.ts')

/** The CLI in a process group of its own: on timeout (or if the test fails) its workers die with it. */
async function runCli (args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const r = await runTree(CLI, args, { cwd: ROOT, env: { ...process.env, CI: '1' }, timeoutMs: 60_000 })
  if (r.timedOut) throw new Error(`sim:mttf ${args.join(' ')} timed out after 60 s (its process tree was killed)`)
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

afterEach(() => { killAllTrees() })

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
    expect(c.realRuns).toBe(DEFAULT_REAL_RUNS)
    expect(parseCli(['--real-runs', '0']).realRuns).toBe(0)
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
      ['--estimator', 'magic'], ['--bias', '1.5'], ['extra-positional'],
      ['--real-runs', '-1'], ['--real-runs', 'x'], ['--seed', '-3'] // real-code seeds must be ≥ 0
    ]
    for (const args of bad) {
      expect(() => parseCli(args), args.join(' ')).toThrow(expect.objectContaining({ code: 'ERR_MTTF_BAD_FLAG' }))
    }
  })
})

describe('CLI end to end', () => {
  it('writes JSON, Markdown and SVG for a tiny grid; draws model-vs-real when points are given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-mttf-'))
    try {
      const realFile = join(dir, 'real.json')
      writeFileSync(realFile, JSON.stringify([
        { members: 3, peerMttfS: 3600, repairS: 60, dist: 'exp', measuredS: 40000, ciLowS: 35000, ciHighS: 45000, runs: 50 }
      ]))
      const out = join(dir, 'out')
      const r = await runCli(['--members', '3,5', '--peer-mttf', '10m,1h', '--repair', '60s', '--runs', '2000', '--seed', '7', '--out', out, '--real', realFile, '--real-runs', '0'])
      expect(r.status, r.stderr).toBe(0)
      const json = JSON.parse(r.stdout) as { parameters: { runs: number }, rows: Array<Record<string, unknown>> }
      expect(json.parameters.runs).toBe(2000)
      expect(json.rows).toHaveLength(4)
      expect(json).not.toHaveProperty('real') // --real FILE only draws its points
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

  it('skips model-vs-real.svg without real points, and exits 2 on bad flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-mttf-'))
    try {
      const ok = await runCli(['--members', '3', '--peer-mttf', '1h', '--runs', '500', '--dist', 'fixed', '--out', dir])
      expect(ok.status, ok.stderr).toBe(0)
      expect(existsSync(join(dir, 'mttf.svg'))).toBe(true)
      expect(existsSync(join(dir, 'model-vs-real.svg'))).toBe(false)
      expect(ok.stderr).toContain('skipped model-vs-real.svg')
      // Default --real-runs, but λR = 60 s / 1 h is too small to simulate: skipped, and said so.
      expect(ok.stderr).toMatch(/real code: skipped λR < 0\.05 .*peer MTTF 1 h \(λR = 0\.0167\)/)
      const skippedJson = JSON.parse(ok.stdout) as { real: unknown[], realCode: { skipped: Array<{ members: number, lambdaR?: number }> } }
      expect(skippedJson.real).toEqual([])
      expect(skippedJson.realCode.skipped).toEqual([expect.objectContaining({ members: 3, lambdaR: 0.0166666666667 })])
      const bad = await runCli(['--dist', 'bogus'])
      expect(bad.status).toBe(2)
      expect(bad.stderr).toContain('--dist')
      expect(bad.stdout).toBe('')
      expect((await runCli(['--peer-mttf', '5 minutes'])).status).toBe(2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('CLI --real-runs (real code under the simulator)', () => {
  it('runs the real code, keeps its points in the JSON and mttf.md, draws model-vs-real.svg; --real-runs 0 skips all that', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-mttf-'))
    try {
      const tiny = ['--members', '3', '--peer-mttf', '20s', '--repair', '2s', '--runs', '2000']
      const on = join(dir, 'on')
      const r = await runCli([...tiny, '--real-runs', '2', '--out', on])
      expect(r.status, r.stderr).toBe(0)
      const json = JSON.parse(r.stdout) as { real: Array<Record<string, unknown>>, realCode: { parameters: { runs: number }, skipped: unknown[] } }
      expect(json.real).toHaveLength(1)
      expect(json.real[0]).toMatchObject({ members: 3, peerMttfS: 20, repairS: 2, dist: 'exp', lambdaR: 0.1, runs: 2, modelR: 25 })
      expect(json.real[0]?.measuredS).toBeGreaterThan(0)
      expect(json.realCode.parameters.runs).toBe(2)
      expect(json.realCode.skipped).toEqual([])
      expect(JSON.parse(readFileSync(join(on, 'mttf.json'), 'utf8'))).toEqual(json)
      expect(readFileSync(join(on, 'model-vs-real.svg'), 'utf8')).toContain('real')
      expect(readFileSync(join(on, 'mttf.md'), 'utf8')).toMatch(/## Real code vs model[\s\S]*\| 3 \| 20 s \(0\.1\) \| exp \| 25 \|/)

      const off = join(dir, 'off')
      const r0 = await runCli([...tiny, '--real-runs', '0', '--out', off])
      expect(r0.status, r0.stderr).toBe(0)
      const json0 = JSON.parse(r0.stdout) as Record<string, unknown>
      expect(json0).not.toHaveProperty('real')
      expect(json0).not.toHaveProperty('realCode')
      expect(existsSync(join(off, 'model-vs-real.svg'))).toBe(false)
      expect(readFileSync(join(off, 'mttf.md'), 'utf8')).not.toContain('Real code')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  // Workers hold gigabytes each: a CLI killed mid-run (a test's timeout, a failure) must not
  // leave them running. Two independent guarantees: the test kills the whole process group,
  // and a worker whose parent is gone exits by itself (its IPC channel closes).
  it.skipIf(process.platform !== 'linux')('a CLI killed mid-run leaves no worker behind: killing its process group, or only the CLI itself', async () => {
    // One real-code run at N = 5, λR = 0.05 takes minutes: a worker would be busy long after its parent died.
    const long = ['--members', '5', '--peer-mttf', '40s', '--repair', '2s', '--runs', '2000', '--real-runs', '2']
    for (const how of ['group', 'cli only'] as const) {
      const cli = startTree(CLI, long, { cwd: ROOT, env: { ...process.env, CI: '1' } })
      cli.stdout?.resume()
      cli.stderr?.resume()
      const pgid = cli.pid as number
      try {
        const started = await waitFor(() => processGroup(pgid).some(pid => pid !== pgid), 30_000)
        expect(started, 'the CLI forked its workers').toBe(true)
        const workers = processGroup(pgid).filter(pid => pid !== pgid)
        // Alone, a worker must notice its parent is gone while busy with a run (loading tsx
        // costs about a second of CPU; a run keeps a core busy), not only once the run ends.
        if (how === 'cli only') expect(await waitFor(() => workers.every(pid => cpuSeconds(pid) >= 2.5), 60_000), 'the workers are running their tasks').toBe(true)
        if (how === 'group') killTree(cli)
        else process.kill(pgid, 'SIGKILL')
        const gone = await waitFor(() => processGroup(pgid).length === 0, 15_000)
        expect({ how, workers: workers.length, left: processGroup(pgid) }).toEqual({ how, workers: workers.length, left: [] })
        expect(gone).toBe(true)
      } finally {
        killTree(cli)
      }
    }
  })

  it('plans N ∈ {3, 5} × λR ≥ 0.05 of the default grid and skips the rest, with reasons', () => {
    const grid = parseCli([]).grid
    const plan = planGridRealPoints(grid, RUNNER_DEFAULTS)
    expect(plan.points.map(p => [p.members, p.lambdaR])).toEqual([[3, 1], [3, 0.2], [3, 0.1], [5, 1], [5, 0.2], [5, 0.1]])
    expect(plan.targets.map(t => t.peerMttfS)).toEqual([60, 300, 600, 60, 300, 600])
    const skippedN = plan.skipped.filter(s => s.lambdaR === undefined).map(s => s.members)
    expect(skippedN).toEqual([1, 7, 9])
    const skippedL = plan.skipped.filter(s => s.lambdaR !== undefined)
    expect(skippedL).toHaveLength(2 * 4)
    for (const s of skippedL) expect(s.lambdaR).toBeLessThan(MIN_LAMBDA_R)
    // Grid points with the same λR share one set of runs.
    const shared = planGridRealPoints({ members: [3], peerMttfS: [10, 300], repairS: [2, 60], dists: ['exp'] }, RUNNER_DEFAULTS)
    expect(shared.points.map(p => p.lambdaR)).toEqual([0.2, 6])
    expect(shared.targets.map(t => [t.repairS, t.peerMttfS, t.point])).toEqual([[2, 10, 0], [60, 10, 1], [60, 300, 0]])
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
