/**
 * `npm run example:sim`: a fault-injection test of an application's own state machine, with a
 * planted bug the simulator finds.
 *
 * The application is a store of named counters; every `add` returns the counter's new value and
 * its version (how many adds it has seen). Its `restore` has the bug of a field added after the
 * snapshot code was written: it forgets the versions. Nothing goes wrong until a replica restarts
 * from a snapshot on its disk, or installs one from a peer, which only crashes and lagging
 * replicas bring about, so an ordinary test never sees it. Each seed runs three or five replicas
 * under loss, duplication, reordering, partitions, crashes with restarts, clock skew and
 * membership changes, with snapshots every 20 slots; the run is checked for agreement, replica
 * equality, durability, liveness, and linearizability against a six-line sequential model.
 *
 *   npm run example:sim                        seeds 1..10 with the bug: finds it, prints the replay command
 *   npm run example:sim -- --seed 1 --trace    replays one seed with a readable trace
 *   npm run example:sim -- --fixed             the same seeds with `restore` fixed: all pass
 *   (or EXAMPLE_FIXED=1 npm run example:sim)
 *
 * Exit codes: 0 every seed passed, 1 a seed failed, 2 bad arguments.
 */
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { StateMachine } from '../src/contracts/index.js'
import { defineApp } from '../src/sim/app.js'
import { runSeed } from '../src/sim/vopr.js'
import type { RunResult } from '../src/sim/vopr.js'
import type { AppHistoryEvent } from '../src/sim/model-client.js'

export interface Add { readonly key: string, readonly add: number }
export interface Get { readonly key: string }
export interface Reading { readonly value: number, readonly version: number }

/** The application's state machine. `forgetVersionsOnRestore` is the planted bug. */
export class Counters implements StateMachine<Add, Reading, Get, Reading> {
  private values = new Map<string, number>()
  private versions = new Map<string, number>()

  constructor (private readonly forgetVersionsOnRestore: boolean) {}

  apply (command: Add): Reading {
    const value = (this.values.get(command.key) ?? 0) + command.add
    const version = (this.versions.get(command.key) ?? 0) + 1
    this.values.set(command.key, value)
    this.versions.set(command.key, version)
    return { value, version }
  }

  query (query: Get): Reading {
    return { value: this.values.get(query.key) ?? 0, version: this.versions.get(query.key) ?? 0 }
  }

  /** Sorted, so equal states give equal bytes (the simulator compares replicas by their snapshot). */
  snapshot (): Uint8Array {
    const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return new TextEncoder().encode(JSON.stringify({ values: sorted(this.values), versions: sorted(this.versions) }))
  }

  restore (bytes: Uint8Array): void {
    const state = JSON.parse(new TextDecoder().decode(bytes)) as { values: Array<[string, number]>, versions: Array<[string, number]> }
    this.values = new Map(state.values)
    if (!this.forgetVersionsOnRestore) this.versions = new Map(state.versions)
  }
}

/** The application as the simulator sees it: state machine, workload, sequential model. */
export function countersApp (options: { readonly fixed: boolean }) {
  return defineApp({
    stateMachine: () => new Counters(!options.fixed),
    // What a client does next, drawn from the seed's PRNG: a read now and then, mostly adds.
    workload: prng => {
      const key = prng.pick(['apples', 'pears'])
      return prng.chance(0.3) ? { read: { key } } : { submit: { key, add: prng.int(1, 10) } }
    },
    // What a counter means, one operation at a time; each key is checked on its own.
    model: {
      name: 'counters',
      init: (): Reading => ({ value: 0, version: 0 }),
      step: (s, op) => {
        if ('read' in op) return [s, s]
        const next = { value: s.value + op.submit.add, version: s.version + 1 }
        return [next, next]
      },
      partition: op => ('read' in op ? op.read.key : op.submit.key)
    }
  })
}

export interface ExampleOptions {
  readonly seeds: readonly number[]
  readonly fixed: boolean
  /** Print the run's trace (one seed). */
  readonly trace: boolean
}

export type ExampleRun = RunResult<AppHistoryEvent<Add, Reading, Get, Reading>>

/** Runs the seeds in order and stops at the first failure; `out` gets the report lines. */
export async function runExample (options: ExampleOptions, out: (line: string) => void): Promise<{ failed: ExampleRun | undefined, passed: number }> {
  const app = countersApp({ fixed: options.fixed })
  let passed = 0
  for (const seed of options.seeds) {
    const result = await runSeed({
      seed,
      app,
      // Snapshots often, so `restore` runs in every seed (by default a seed may draw none).
      snapshotEverySlots: 20,
      logRetentionSlots: 5,
      ...(options.trace ? { trace: out } : {})
    })
    const s = result.stats
    const summary = `${s.nodes} nodes, ${s.slots} slots, ${s.opsOk} ops ok, ${s.crashes} crashes, ${s.partitions} partitions, ${s.snapshotInstalls} snapshot installs`
    if (result.ok) {
      passed++
      out(`seed ${seed}: ok (${summary})`)
      continue
    }
    out(`seed ${seed}: FAILED (${summary})`)
    // One line per kind of violation (replica equality, say, fails at every slot after the first).
    for (const kind of new Set(result.violations.map(v => v.kind))) {
      const all = result.violations.filter(v => v.kind === kind)
      const first = all[0]
      if (first === undefined) continue
      out(`  ${kind}${all.length > 1 ? ` (×${all.length}, first shown)` : ''} at T=${(first.time / 1000).toFixed(3)}: ${first.message}`)
    }
    out(`replay with a readable trace: npm run example:sim -- --seed ${seed} --trace${options.fixed ? ' --fixed' : ''}`)
    return { failed: result, passed }
  }
  out(`${passed} seed(s) passed${options.fixed ? ' (restore fixed)' : ''}`)
  return { failed: undefined, passed }
}

const USAGE = 'usage: npm run example:sim -- [--seeds N] [--first S] [--seed N --trace] [--fixed]'

async function main (): Promise<number> {
  let values
  try {
    values = parseArgs({
      options: {
        seeds: { type: 'string', default: '10' },
        first: { type: 'string', default: '1' },
        seed: { type: 'string' },
        trace: { type: 'boolean', default: false },
        fixed: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      }
    }).values
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n\nRuns a state machine with a planted bug (restore forgets the versions) under the\nsimulator's faults and reports the first failing seed; --fixed runs it without the bug.\n`)
    return 0
  }
  const int = (name: string, text: string): number => {
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`)
    return n
  }
  let seeds: number[]
  try {
    const first = int('first', values.first)
    seeds = values.seed !== undefined ? [int('seed', values.seed)] : Array.from({ length: int('seeds', values.seeds) }, (_, i) => first + i)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`)
    return 2
  }
  const fixed = values.fixed || process.env.EXAMPLE_FIXED === '1'
  const { failed } = await runExample({ seeds, fixed, trace: values.trace }, line => { process.stdout.write(line + '\n') })
  return failed === undefined ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main()
}
