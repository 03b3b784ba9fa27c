/**
 * `npm run sim:mttf -- --members 1,3,5,7,9 --peer-mttf 1m,5m,10m,30m,1h,6h,1d --repair 60s \
 *    --dist exp --repair-mode parallel --runs 20000 --seed 1 --out results/`
 *
 * Prints one JSON object (parameters + rows) on stdout; with --out also writes mttf.json,
 * mttf.md and the SVG charts there. Bad flags: message on stderr, exit status 2.
 */
import { readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import cliProgress from 'cli-progress'
import { parseCli, USAGE, type CliConfig } from './args.ts'
import { MttfError } from './errors.ts'
import { parseRealPoints, writeOutputs, type RealCodePoint } from './render.ts'
import { gridSize, runStudy } from './study.ts'

async function main (): Promise<number> {
  let cfg: CliConfig
  try {
    cfg = parseCli(process.argv.slice(2), process.env, process.stderr.isTTY === true)
  } catch (e) {
    if (e instanceof MttfError) {
      process.stderr.write(`sim:mttf: ${e.message}\n${USAGE}\n`)
      return 2
    }
    throw e
  }
  if (cfg.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  let real: RealCodePoint[] | undefined
  if (cfg.real !== undefined) {
    try {
      real = parseRealPoints(JSON.parse(await readFile(cfg.real, 'utf8')))
    } catch (e) {
      process.stderr.write(`sim:mttf: --real ${cfg.real}: ${(e as Error).message}\n`)
      return 2
    }
  }

  const points = gridSize(cfg.grid)
  const bar = cfg.progress
    ? new cliProgress.SingleBar({
      stream: process.stderr,
      format: 'sim:mttf [{bar}] {percentage}% | {value}/{total} grid points | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true
    }, cliProgress.Presets.shades_classic)
    : undefined
  bar?.start(points, 0)
  const t0 = performance.now()
  const rows = runStudy(cfg.grid, cfg.study, bar ? (done) => bar.update(Math.round(done * 100) / 100) : undefined)
  bar?.stop()
  const elapsedS = (performance.now() - t0) / 1000

  const output = {
    parameters: {
      members: cfg.grid.members,
      peerMttfS: cfg.grid.peerMttfS,
      repairS: cfg.grid.repairS,
      dists: cfg.grid.dists,
      repairModes: cfg.grid.repairModes,
      runs: cfg.study.runs,
      seed: cfg.study.seed,
      estimator: cfg.study.estimator,
      failureBias: cfg.study.failureBias ?? null
    },
    notes: [
      'Times are in seconds; lambda is per second. VP fails when ceil(N/2) members are down at once.',
      'dist "uniform" is U(0, R), whose mean is R/2 (not R).',
      'analyticS: exact CTMC mean first-passage time, exponential G only (null otherwise).',
      'estimator "regenerative+is": MTTF = E[cycle] / P(cycle fails), P by importance sampling; "regenerative": same with plain sampling; "direct": mean of simulated lifetimes. CIs are 95 %.'
    ],
    rows
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
  process.stderr.write(`sim:mttf: ${points} grid points in ${elapsedS.toFixed(1)} s\n`)
  if (cfg.out !== undefined) {
    const report = await writeOutputs(output, cfg.out, real)
    for (const f of report.written) process.stderr.write(`sim:mttf: wrote ${f}\n`)
    for (const s of report.skipped) process.stderr.write(`sim:mttf: skipped ${s}\n`)
  }
  return 0
}

main().then(code => { process.exitCode = code }, (e: unknown) => {
  process.stderr.write(`sim:mttf: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exitCode = e instanceof MttfError ? 2 : 1
})
