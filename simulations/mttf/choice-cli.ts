/**
 * `npm run sim:mttf:choice -- --out simulations/results`
 *
 * Issue 10, part 4: VP MTTF when members are chosen from a churning population with Weibull
 * lifetimes, by uptime (the policy) or at random (the baseline): the model over a grid, then the
 * real code (Paxos core + VirtualPeer runtime + the replacement policy ranking its candidates with
 * rankSpares) under the simulator on a smaller grid, both policies on the same seeds. JSON on
 * stdout; with --out, choice.json, choice.md and choice.svg. Exit status: 0 ok, 1 a run failed
 * (a safety violation), 2 bad flags.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CHOICE_USAGE, parseChoiceCli, type ChoiceConfig } from './choice-args.js'
import { CHOICES, choiceChartSpec, choiceMarkdown, realPoint, runModelGrid, type ChoiceOutput, type RealRow } from './choice-study.js'
import { MttfError } from './errors.js'
import { RUNNER_DEFAULTS, runRealPoints, type RealPoint } from './real-runner.js'
import { specToSvg } from './render.js'

const NOTES = [
  'Peer lifetimes are Weibull(k) with mean M = R / λR; peers arrive as a Poisson process keeping a mean of `pool` live candidates; the run starts from the stationary pool. A chosen peer keeps its own lifetime (it dies at birth + L, not after a fresh draw).',
  'Initial members: the first N of the policy\'s ranking of the pool at time 0. Each failure of a VP node opens a slot G later; the slot takes the first peer of rankSpares(live pool, policy) (uptime: exact age; random: shuffled).',
  'Times are in units of R. MTTF: Σ min(T, cap) / #failures with a delta-method 95 % CI (the sample mean when nothing is censored). uptime / random: paired over the same seeds (same population, same repair draws), Σ min(T_uptime, cap) / Σ min(T_random, cap).',
  'Model: the schedule alone (a chosen spare is a member the instant it appears). Real code: the same schedules driving SimCluster (real Paxos core, VirtualPeer runtime, replacement policy whose candidates() is rankSpares over the live nodes), so each real lifetime has its model twin (real ≤ model).',
  'chosen member: mean age and mean remaining life of the members chosen (initial ones included), in units of M.'
]

async function main (): Promise<number> {
  let cfg: ChoiceConfig | 'help'
  try {
    cfg = parseChoiceCli(process.argv.slice(2), process.env, process.stderr.isTTY === true)
  } catch (e) {
    if (e instanceof MttfError) {
      process.stderr.write(`sim:mttf:choice: ${e.message}\n${CHOICE_USAGE}\n`)
      return 2
    }
    throw e
  }
  if (cfg === 'help') {
    process.stdout.write(CHOICE_USAGE + '\n')
    return 0
  }
  const t0 = performance.now()
  const modelLambdaR = [...new Set([...cfg.lambdaR, ...cfg.modelLambdaR])].sort((a, b) => b - a)
  const model = runModelGrid({ members: cfg.members, lambdaR: modelLambdaR, shapes: cfg.shapes, poolSize: cfg.poolSize, dist: cfg.dist }, { runs: cfg.modelRuns, seed: cfg.seed, capX: cfg.capX })
  const modelS = (performance.now() - t0) / 1000
  process.stderr.write(`sim:mttf:choice: model, ${model.length} points × ${cfg.modelRuns} seeds × 2 policies, in ${modelS.toFixed(1)} s\n`)

  // Real-code points: (N, λR, k) × policy. The horizon is common to both policies (paired
  // estimates truncate both at it) and scaled on the longer-lived one's model MTTF.
  const keys: Array<{ members: number, lambdaR: number, shape: number, horizonMs: number }> = []
  const points: RealPoint[] = []
  if (cfg.runs > 0) {
    for (const members of cfg.members) {
      for (const lambdaR of cfg.lambdaR) {
        for (const shape of cfg.shapes) {
          const row = model.find(r => r.members === members && r.lambdaR === lambdaR && r.shape === shape)
          const longest = Math.max(row?.uptime.mttfR?.mean ?? 0, row?.random.mttfR?.mean ?? 0, row?.expModelR ?? 0)
          const horizonMs = cfg.horizonX * longest * cfg.repairMs
          keys.push({ members, lambdaR, shape, horizonMs })
          for (const choice of CHOICES) {
            points.push({ members, lambdaR, dist: cfg.dist, horizonMs, options: { spareChoice: { choice, shape, poolSize: cfg.poolSize }, clients: cfg.clients, thinkMsMax: cfg.thinkMs } })
          }
        }
      }
    }
  }
  const t1 = performance.now()
  const { results, failure } = await runRealPoints(cfg, points)
  const realS = (performance.now() - t1) / 1000
  if (failure !== undefined) {
    process.stderr.write(`sim:mttf:choice: FAILED ${failure}\n`)
    return 1
  }
  const real: RealRow[] = keys.map((k, i) => realPoint({ members: k.members, lambdaR: k.lambdaR, shape: k.shape, poolSize: cfg.poolSize, dist: cfg.dist }, k.horizonMs, cfg.repairMs,
    results[2 * i] ?? [], results[2 * i + 1] ?? []))
  const virtualS = results.flat().reduce((a, r) => a + r.virtualMs, 0) / 1000
  const output: ChoiceOutput = {
    parameters: {
      members: cfg.members,
      shapes: cfg.shapes,
      lambdaR: cfg.lambdaR,
      modelLambdaR,
      poolSize: cfg.poolSize,
      dist: cfg.dist,
      runs: cfg.runs,
      modelRuns: cfg.modelRuns,
      seed: cfg.seed,
      virtualRepairS: cfg.repairMs / 1000,
      horizonX: cfg.horizonX,
      capX: cfg.capX,
      stallR: cfg.stallR,
      clients: cfg.clients,
      thinkMs: cfg.thinkMs,
      workers: cfg.workers,
      modelSeconds: Math.round(modelS * 10) / 10,
      realSeconds: Math.round(realS * 10) / 10,
      realLifetimes: results.flat().length,
      virtualSeconds: Math.round(virtualS),
      command: commandLine(cfg)
    },
    notes: NOTES,
    model,
    real
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
  process.stderr.write(`sim:mttf:choice: real code, ${results.flat().length} lifetimes, ${Math.round(virtualS)} virtual s, in ${realS.toFixed(1)} s wall with ${cfg.workers} workers\n`)
  if (cfg.out !== undefined) {
    await mkdir(cfg.out, { recursive: true })
    await writeFile(join(cfg.out, 'choice.json'), JSON.stringify(output, null, 2) + '\n')
    await writeFile(join(cfg.out, 'choice.md'), choiceMarkdown(output))
    await writeFile(join(cfg.out, 'choice.svg'), await specToSvg(choiceChartSpec(model, real)))
    process.stderr.write(`sim:mttf:choice: wrote ${['choice.json', 'choice.md', 'choice.svg'].map(x => join(cfg.out as string, x)).join(', ')}\n`)
  }
  return 0
}

function commandLine (cfg: ChoiceConfig): string {
  const parts = [`npm run sim:mttf:choice -- --members ${cfg.members.join(',')} --shapes ${cfg.shapes.join(',')} --lambda-r ${cfg.lambdaR.join(',')}`,
    `--model-lambda-r ${cfg.modelLambdaR.join(',')} --pool ${cfg.poolSize} --runs ${cfg.runs} --model-runs ${cfg.modelRuns} --seed ${cfg.seed}`]
  if (cfg.dist !== 'exp') parts.push(`--dist ${cfg.dist}`)
  if (cfg.repairMs !== RUNNER_DEFAULTS.repairMs) parts.push(`--repair ${cfg.repairMs / 1000}s`)
  if (cfg.horizonX !== 6) parts.push(`--horizon-x ${cfg.horizonX}`)
  if (cfg.capX !== 2000) parts.push(`--cap-x ${cfg.capX}`)
  if (cfg.stallR !== 2) parts.push(`--stall-r ${cfg.stallR}`)
  if (cfg.clients !== 1) parts.push(`--clients ${cfg.clients}`)
  if (cfg.thinkMs !== 200) parts.push(`--think-ms ${cfg.thinkMs}`)
  return parts.join(' ')
}

main().then(code => { process.exitCode = code }, (e: unknown) => {
  process.stderr.write(`sim:mttf:choice: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exitCode = 1
})
