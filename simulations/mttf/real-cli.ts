/**
 * `npx tsx simulations/mttf/real-cli.ts --members 3,5 --lambda-r 0.5,0.2,0.1 --dist exp --runs 200 --seed 1 --out simulations/results`
 *
 * Issue 4, part 3: many lifetimes of a VP on the real code (simulations/mttf/real.ts) per grid
 * point, in parallel worker processes; mean lifetime with a 95 % CI per point, compared with the
 * model at the same λR. Writes real.json (RealCodePoint format plus the details), real.md, and
 * model-vs-real.svg. Exit status: 0 ok, 1 a run failed (a safety violation), 2 bad flags.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { parseDuration } from './duration.js'
import { MttfError } from './errors.js'
import { REPAIR_DISTS, type RepairDist } from './model.js'
import { fmt, makePoint, reportPoint, RUNNER_DEFAULTS, runRealPoints, type PointReport, type RealPoint, type RunnerConfig } from './real-runner.js'
import { renderCharts } from './render.js'
import { runStudy } from './study.js'

const USAGE = `usage: npx tsx simulations/mttf/real-cli.ts [options]
  --members LIST        VP sizes N (default 3,5)
  --lambda-r LIST       λR values, per-peer failure rate × R (default 0.5,0.2,0.1)
  --dist LIST           exp | fixed | uniform (uniform = U(0,R), mean R/2) (default exp)
  --runs N              lifetimes per point (default 200)
  --seed N              base seed; run i of every point uses seed·100000 + i (default 1)
  --repair DUR          R in virtual time for the runs (default 2s)
  --scale-to DUR        report times as if R were this (default 60s; units of R are also given)
  --horizon-x X         censor a run at X × the model MTTF (exp G with the same mean) (default 8)
  --stall-r X           operational failure: no commit for X·R (default 5)
  --detect-ticks N      replaceAfterTicks (default R/20 in 10 ms ticks)
  --workers N           worker processes (default: CPU count)
  --out DIR             write real.json, real.md, model-vs-real.svg into DIR
  --no-progress         never show the progress bar
  -h, --help`

class FlagError extends Error {
  override readonly name = 'FlagError'
}

interface Config extends RunnerConfig {
  readonly members: number[]
  readonly lambdaR: number[]
  readonly dists: RepairDist[]
  readonly scaleToS: number
  readonly out: string | undefined
}

function numbers (flag: string, text: string, ok: (x: number) => boolean): number[] {
  const xs = text.split(',').map(s => Number(s.trim()))
  for (const x of xs) if (!Number.isFinite(x) || !ok(x)) throw new FlagError(`--${flag}: bad value in ${JSON.stringify(text)}`)
  return [...new Set(xs)]
}

function parse (argv: string[]): Config | 'help' {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        members: { type: 'string' },
        'lambda-r': { type: 'string' },
        dist: { type: 'string' },
        runs: { type: 'string' },
        seed: { type: 'string' },
        repair: { type: 'string' },
        'scale-to': { type: 'string' },
        'horizon-x': { type: 'string' },
        'stall-r': { type: 'string' },
        'detect-ticks': { type: 'string' },
        workers: { type: 'string' },
        out: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true
    }).values
  } catch (e) {
    throw new FlagError((e as Error).message)
  }
  if (values.help === true) return 'help'
  const int = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < min) throw new FlagError(`--${flag} must be an integer ≥ ${min}`)
    return n
  }
  const pos = (flag: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!(n > 0) || !Number.isFinite(n)) throw new FlagError(`--${flag} must be a positive number`)
    return n
  }
  const dur = (flag: string, v: string | undefined, dfltS: number): number => {
    if (v === undefined) return dfltS
    try { return parseDuration(v) } catch (e) { throw new FlagError(`--${flag}: ${(e as MttfError).message}`) }
  }
  const dists = (values.dist ?? 'exp').split(',').map(s => s.trim())
  for (const d of dists) if (!(REPAIR_DISTS as readonly string[]).includes(d)) throw new FlagError(`--dist: ${d} is not one of ${REPAIR_DISTS.join(', ')}`)
  const seed = int('seed', values.seed, 1, 0)
  if (seed > 9e10) throw new FlagError('--seed must be ≤ 9e10 (run seeds are seed·100000 + i)')
  const detect = values['detect-ticks'] === undefined ? undefined : int('detect-ticks', values['detect-ticks'], 0, 3)
  return {
    members: numbers('members', values.members ?? '3,5', x => Number.isInteger(x) && x >= 1 && x <= 9),
    lambdaR: numbers('lambda-r', values['lambda-r'] ?? '0.5,0.2,0.1', x => x > 0 && x <= 10),
    dists: [...new Set(dists)] as RepairDist[],
    runs: int('runs', values.runs, 200, 1),
    seed,
    repairMs: dur('repair', values.repair, RUNNER_DEFAULTS.repairMs / 1000) * 1000,
    scaleToS: dur('scale-to', values['scale-to'], 60),
    horizonX: pos('horizon-x', values['horizon-x'], RUNNER_DEFAULTS.horizonX),
    stallR: pos('stall-r', values['stall-r'], RUNNER_DEFAULTS.stallR),
    detectTicks: detect,
    workers: Math.max(1, int('workers', values.workers, cpus().length, 1)),
    out: values.out,
    progress: values['no-progress'] !== true && process.stderr.isTTY === true && process.env.CI === undefined
  }
}

async function main (): Promise<number> {
  let cfg: Config | 'help'
  try {
    cfg = parse(process.argv.slice(2))
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`real-cli: ${e.message}\n${USAGE}\n`)
      return 2
    }
    throw e
  }
  if (cfg === 'help') {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const points: RealPoint[] = []
  for (const dist of cfg.dists) {
    for (const members of cfg.members) {
      for (const lambdaR of cfg.lambdaR) points.push(makePoint(cfg, members, lambdaR, dist))
    }
  }
  const t0 = performance.now()
  const { results, failure } = await runRealPoints(cfg, points)
  const wallS = (performance.now() - t0) / 1000
  if (failure !== undefined) {
    process.stderr.write(`real-cli: FAILED ${failure}\n`)
    return 1
  }

  // The model at the same points, in the reported (scaled) units: exact for exponential G,
  // Monte Carlo for the others (also what chart 2 draws for them).
  const scale = cfg.scaleToS / (cfg.repairMs / 1000)
  const R = cfg.scaleToS
  const nonExp = cfg.dists.filter(d => d !== 'exp')
  const modelRows = nonExp.length === 0
    ? []
    : runStudy({ members: cfg.members, peerMttfS: cfg.lambdaR.map(l => R / l), repairS: [R], dists: nonExp, repairModes: ['parallel'] }, { runs: 100000, seed: cfg.seed })
  const reports: PointReport[] = points.map((pt, p) => {
    const row = modelRows.find(r => r.members === pt.members && r.dist === pt.dist && Math.abs(r.peerMttfS * pt.lambdaR / R - 1) < 1e-9)
    return reportPoint(cfg, pt, results[p] ?? [], R, row)
  })
  const virtualS = results.flat().reduce((a, r) => a + r.virtualMs, 0) / 1000
  const output = {
    parameters: {
      members: cfg.members,
      lambdaR: cfg.lambdaR,
      dists: cfg.dists,
      runs: cfg.runs,
      seed: cfg.seed,
      virtualRepairS: cfg.repairMs / 1000,
      reportedRepairS: cfg.scaleToS,
      timeScale: scale,
      horizonX: cfg.horizonX,
      stallR: cfg.stallR,
      replaceAfterTicks: results.flat()[0]?.replaceAfterTicks ?? null,
      tickMs: 10,
      wallSeconds: Math.round(wallS * 10) / 10,
      virtualSeconds: Math.round(virtualS),
      workers: cfg.workers,
      command: `npx tsx simulations/mttf/real-cli.ts --members ${cfg.members.join(',')} --lambda-r ${cfg.lambdaR.join(',')} --dist ${cfg.dists.join(',')} --runs ${cfg.runs} --seed ${cfg.seed}` +
        (cfg.repairMs !== RUNNER_DEFAULTS.repairMs ? ` --repair ${cfg.repairMs / 1000}s` : '') + (cfg.horizonX !== RUNNER_DEFAULTS.horizonX ? ` --horizon-x ${cfg.horizonX}` : '') +
        (cfg.stallR !== RUNNER_DEFAULTS.stallR ? ` --stall-r ${cfg.stallR}` : '') + (cfg.detectTicks !== undefined ? ` --detect-ticks ${cfg.detectTicks}` : '')
    },
    notes: [
      `The runs use R = ${cfg.repairMs / 1000} s of virtual time; peerMttfS, repairS, measuredS and ciLowS/ciHighS are scaled by ${scale} to R = ${cfg.scaleToS} s (the model depends on λR only). Fields ending in R are in units of R. Protocol timers (10 ms ticks, 150-300 ms elections, replaceAfterTicks) are not scaled.`,
      'measuredS / realR: structural lifetime (a majority of the newest committed configuration dead), estimator Σ min(T, H) / #failures (total time on test over failures; the sample mean when nothing is censored), 95 % CI by the delta method.',
      'shadowR: the model lifetime on the same failure/repair schedule (a spare counts the instant it appears); pairedRatio = Σ min(real, H) / Σ min(shadow, H) with a paired delta-method CI.',
      'operationalR: time of the last commit before a stall of stallR·R that lasted to the end of the run.',
      'modelWithDelayR: exact CTMC with mean repair E[G] + summary.afterSpareMs (spare appears → it votes).'
    ],
    points: reports
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
  process.stderr.write(`real-cli: ${results.flat().length} runs, ${Math.round(virtualS)} virtual s, in ${wallS.toFixed(1)} s wall with ${cfg.workers} workers\n`)
  if (cfg.out !== undefined) {
    await mkdir(cfg.out, { recursive: true })
    await writeFile(join(cfg.out, 'real.json'), JSON.stringify(output, null, 2) + '\n')
    await writeFile(join(cfg.out, 'real.md'), markdown(output.parameters.command, reports))
    // renderCharts also writes mttf.svg for the model rows; the out dir holds the reference
    // mttf.svg of parts 1–2, so render into a scratch dir and keep only model-vs-real.svg.
    const scratch = await mkdtemp(join(tmpdir(), 'real-cli-'))
    try {
      await renderCharts(modelRows, reports, scratch)
      await copyFile(join(scratch, 'model-vs-real.svg'), join(cfg.out, 'model-vs-real.svg'))
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
    process.stderr.write(`real-cli: wrote ${['real.json', 'real.md', 'model-vs-real.svg'].map(f => join(cfg.out as string, f)).join(', ')}\n`)
  }
  return 0
}

function markdown (command: string, reports: readonly PointReport[]): string {
  const head = '| N | λR | G | model MTTF / R | real code / R (95 % CI) | real / model | same schedules: model / R | paired real / model (95 % CI) | earlier | model, G + delay / R | runs | censored |'
  const sep = '|---:|---:|:--|---:|:--|---:|---:|:--|---:|---:|---:|---:|'
  const body = reports.map(p => {
    const ratio = p.modelR !== null && p.realR.mean !== null ? p.realR.mean / p.modelR : null
    return `| ${p.members} | ${p.lambdaR} | ${p.dist} | ${fmt(p.modelR)} | ${fmt(p.realR.mean)} (${fmt(p.realR.lo)} – ${fmt(p.realR.hi)}) | ${fmt(ratio, 2)} | ${fmt(p.shadowR.mean)} | ${fmt(p.pairedRatio.mean, 3)} (${fmt(p.pairedRatio.lo, 3)} – ${fmt(p.pairedRatio.hi, 3)}) | ${p.summary.earlier} | ${fmt(p.modelWithDelayR)} | ${p.runs} | ${p.summary.censored} |`
  })
  const delays = ['', '| N | λR | G | crashes | of the leader | replacements | detection (ms) | detection, leader crashed (ms) | spare → learner (ms) | spare → voter (ms) | crash → replaced (ms) | idle spare at death | (a)/(b) disagreements | operational / R |', '|---:|---:|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...reports.map(p => `| ${p.members} | ${p.lambdaR} | ${p.dist} | ${p.summary.crashes} | ${p.summary.leaderCrashes} | ${p.summary.replacements} | ${fmt(p.summary.detectionMs)} | ${fmt(p.summary.leaderDetectionMs)} | ${fmt(p.summary.toLearnerMs)} | ${fmt(p.summary.afterSpareMs)} | ${fmt(p.summary.repairMs)} | ${p.summary.idleAtDeath} | ${p.summary.disagreements} | ${fmt(p.operationalR.mean)} |`)]
  return ['# VP lifetime: real code vs model', '', `Generated by \`${command}\`; see simulations/README.md, section 3.`, '', head, sep, ...body, ...delays, ''].join('\n')
}

main().then(code => { process.exitCode = code }, (e: unknown) => {
  process.stderr.write(`real-cli: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exitCode = 1
})
