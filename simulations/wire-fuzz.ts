/**
 * `npm run fuzz -- --messages 1000000 [--seed N] [--per-seed 20000] [--classes malformed,stranger,member,replay] [--nodes 3]`
 *
 * Message fuzzing of running simulated clusters (src/sim/wire-fuzz.ts): hostile and malformed
 * messages, from members and strangers, while clients keep submitting. `--messages` are spread
 * over consecutive seeds from `--seed`, `--per-seed` per simulated cluster. A failing seed
 * replays alone: `npm run fuzz -- --seed N --messages <per-seed>`.
 *
 * Prints one JSON summary: messages sent by class, dropped at the boundary by reason, slots
 * committed, client operations completed, the violations (with their seeds), the rate.
 * Exit codes: 0 clean, 1 a violation (or an exception that escaped), 2 bad arguments.
 */
import { parseArgs } from 'node:util'
import { FUZZ_CLASSES, SAFE_CLASSES, runWireFuzz } from '../src/sim/wire-fuzz.js'
import type { FuzzClass, FuzzViolation } from '../src/sim/wire-fuzz.js'
import { WIRE_DROP_REASONS } from '../src/vpeer/message-validation.js'
import type { WireDropReason } from '../src/vpeer/message-validation.js'

const HELP = `Usage: npm run fuzz -- [options]

Sends random and mutated messages into running simulated clusters and checks that they keep
committing, agree, and never halt or throw.

Options:
  --messages N   messages to inject in all (default 1000000)
  --seed N       first seed (default 1); seeds N, N+1, … are used in turn
  --per-seed N   messages per simulated cluster (default 20000)
  --classes L    comma-separated classes (default ${SAFE_CLASSES.join(',')})
                 all: ${FUZZ_CLASSES.join(', ')}
                 byzantine: well-formed lies from members; only "no halt, no throw" is checked
                 corefix: attacks only the core can refuse (expected to fail before the core fix)
  --nodes N      voters per cluster (default 3)
  --help         this text

Exit codes: 0 clean, 1 violations, 2 bad arguments.`

function fail (message: string): never {
  process.stderr.write(`${message}\n\n${HELP}\n`)
  process.exit(2)
}

function positiveInt (name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

let args
try {
  args = parseArgs({
    options: {
      messages: { type: 'string' },
      seed: { type: 'string' },
      'per-seed': { type: 'string' },
      classes: { type: 'string' },
      nodes: { type: 'string' },
      help: { type: 'boolean' }
    },
    strict: true
  }).values
} catch (error) {
  fail(error instanceof Error ? error.message : String(error))
}
if (args.help === true) {
  process.stdout.write(`${HELP}\n`)
  process.exit(0)
}
const total = positiveInt('messages', args.messages, 1_000_000)
const firstSeed = positiveInt('seed', args.seed, 1)
const perSeed = positiveInt('per-seed', args['per-seed'], 20_000)
const nodes = positiveInt('nodes', args.nodes, 3)
if (nodes % 2 === 0) fail('--nodes must be odd')
const classes = (args.classes ?? SAFE_CLASSES.join(',')).split(',').map(s => s.trim()).filter(s => s.length > 0)
for (const c of classes) if (!(FUZZ_CLASSES as readonly string[]).includes(c)) fail(`unknown class ${JSON.stringify(c)}`)

// Anything that escapes the simulation is a finding, not a crash of the fuzzer.
const escaped: string[] = []
process.on('uncaughtException', error => { escaped.push(`uncaughtException: ${error.stack ?? error.message}`) })
process.on('unhandledRejection', error => { escaped.push(`unhandledRejection: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`) })

const sent = Object.fromEntries(FUZZ_CLASSES.map(c => [c, 0])) as Record<FuzzClass, number>
const dropped = Object.fromEntries(WIRE_DROP_REASONS.map(r => [r, 0])) as Record<WireDropReason, number>
const violations: Array<FuzzViolation & { seed: number }> = []
const failedSeeds: number[] = []
let commits = 0
let opsOk = 0
let byzantineSafetyFindings = 0
let seeds = 0
const started = Date.now()
for (let done = 0, seed = firstSeed; done < total; seed++) {
  const messages = Math.min(perSeed, total - done)
  const r = await runWireFuzz({ seed, messages, classes: classes as FuzzClass[], nodes })
  seeds++
  done += messages
  for (const c of FUZZ_CLASSES) sent[c] += r.sent[c]
  for (const reason of WIRE_DROP_REASONS) dropped[reason] += r.dropped[reason]
  commits += r.commits
  opsOk += r.opsOk
  byzantineSafetyFindings += r.byzantineSafetyFindings
  if (!r.ok) {
    failedSeeds.push(seed)
    for (const v of r.violations) if (violations.length < 100) violations.push({ seed, ...v })
  }
  process.stderr.write(`seed ${seed}: ${r.ok ? 'ok' : `${r.violations.length} violation(s)`}, ${done}/${total} messages, ${Math.round(done / ((Date.now() - started) / 1000))}/s\n`)
}
for (const e of escaped) violations.push({ seed: -1, kind: 'exception', message: e })
const elapsedMs = Date.now() - started
const attempted = Object.values(sent).reduce((a, b) => a + b, 0)
const summary = {
  command: `npm run fuzz -- ${process.argv.slice(2).join(' ')}`.trim(),
  classes,
  nodes,
  seeds: { first: firstSeed, count: seeds, failed: failedSeeds },
  messages: { requested: total, delivered: attempted, byClass: sent },
  droppedAtBoundary: { total: Object.values(dropped).reduce((a, b) => a + b, 0), byReason: dropped },
  commits,
  clientOpsOk: opsOk,
  ...(classes.includes('byzantine') ? { byzantineSafetyFindings } : {}),
  violations: { count: violations.length, list: violations },
  elapsedMs,
  messagesPerSecond: Math.round(attempted / (elapsedMs / 1000))
}
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
process.exit(violations.length === 0 ? 0 : 1)
