/**
 * `npm run chaos -- --nodes 5 --clients 8 --duration 60 --history FILE`
 *
 * Real member processes on 127.0.0.1, random kill -9 and SIGSTOP faults, clients doing
 * read/write/cas through VirtualPeerClient, a history in the simulator's format and the
 * project's linearizability verdict (simulations/chaos-run.ts). Prints a readable summary,
 * then one JSON line. Exit codes: 0 linearizable and converged, 1 otherwise, 2 bad usage.
 */
import { parseArgs } from 'node:util'
import { runChaos } from './chaos-run.js'
import type { ChaosResult } from './chaos-run.js'

const USAGE = `usage: npm run chaos -- [options]

Runs a virtual peer as real member processes on 127.0.0.1 (LevelDB, libp2p), injects faults
(kill -9 and restart, SIGSTOP/SIGCONT, never more than a minority at once) while clients on
the allow-list read, write and compare-and-set a few keys, then heals the group and checks the
client history for linearizability and the members for convergence.

Options:
  --nodes N        member processes (default 5)
  --clients N      worker clients, each with its own identity (default 8)
  --duration S     seconds of faults and load before healing (default 60)
  --keys N         registers k0..k(N-1) (default 3)
  --seed N         seed of the fault and workload choices (default: from the clock, printed)
  --history FILE   write the history as JSON lines (npm run lincheck -- FILE checks it)
  --op-timeout MS  per-operation deadline of the clients (default 5000)
  --no-kill        no kill -9
  --no-pause       no SIGSTOP
  --help           this text

Dropped connections are not injected on this machine (no packet filter; see chaos-run.ts).
Exit codes: 0 linearizable and converged, 1 a check failed, 2 bad usage.`

function usageError (message: string): never {
  process.stderr.write(`chaos: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

function integer (name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) usageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`)
  return n
}

let values
try {
  values = parseArgs({
    options: {
      nodes: { type: 'string' },
      clients: { type: 'string' },
      duration: { type: 'string' },
      keys: { type: 'string' },
      seed: { type: 'string' },
      history: { type: 'string' },
      'op-timeout': { type: 'string' },
      'no-kill': { type: 'boolean' },
      'no-pause': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  }).values
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error))
}
if (values.help === true) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const nodes = integer('nodes', values.nodes, 5, 1)
const clients = integer('clients', values.clients, 8, 1)
const durationS = integer('duration', values.duration, 60, 1)
const keys = integer('keys', values.keys, 3, 1)
const seed = integer('seed', values.seed, Date.now() % 1_000_000_000, 0)
const opTimeoutMs = integer('op-timeout', values['op-timeout'], 5000, 100)
const faults = { kill: values['no-kill'] !== true, pause: values['no-pause'] !== true }

const out = (line: string): void => { process.stdout.write(`${line}\n`) }
out(`chaos: ${nodes} members, ${clients} clients, ${keys} keys, ${durationS} s, seed ${seed}, faults: ${[faults.kill ? 'kill -9' : '', faults.pause ? 'SIGSTOP' : ''].filter(s => s !== '').join(', ') || 'none'}`)

function summary (r: ChaosResult): string {
  const lines: string[] = []
  const pct = (n: number, total: number): string => total === 0 ? '' : ` (${Math.round(100 * n / total)} %)`
  lines.push('', 'operations (ok / fail / info):')
  for (const kind of ['read', 'write', 'cas'] as const) {
    const c = r.ops[kind]
    const total = c.ok + c.fail + c.info
    lines.push(`  ${kind.padEnd(5)} ${String(c.ok).padStart(7)} / ${String(c.fail).padStart(5)} / ${String(c.info).padStart(5)}   ok${pct(c.ok, total)}${kind === 'cas' ? `, ${r.casMismatches} answered {ok:false} (recorded as fail in the history)` : ''}`)
  }
  const errs = Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  lines.push(`  errors: ${errs === '' ? 'none' : errs}`)
  lines.push(`faults: ${r.faults.kills} kill -9, ${r.faults.pauses} SIGSTOP (${r.faults.leaderTargeted} aimed at the leader); dropped connections ${r.faults.droppedConnections.reason}`)
  lines.push(`access: a client off the allow-list was ${r.access.refusedBeforeAllow ? 'refused' : 'NOT refused'}; ${r.access.allowed} worker identities allowed`)
  lines.push(`leadership: ${r.elections} elections won, ${r.leaderChanges} leader changes`)
  lines.push(`convergence: ${r.converged ? 'all members applied through' : 'NOT converged:'} ${r.converged ? String(Object.values(r.applied)[0]) : JSON.stringify(r.applied)}`)
  const errorsLogged = Object.entries(r.memberErrors)
  if (errorsLogged.length > 0) lines.push(`member error logs: ${errorsLogged.map(([m, c]) => `${JSON.stringify(m)} ×${c}`).join(', ')}`)
  const show = (name: string, v: ChaosResult['verdict']): void => {
    if (v.outcome === 'linearizable') lines.push(`${name}: linearizable`)
    else if (v.outcome === 'undecided') lines.push(`${name}: undecided within the budget (${v.reason})`)
    else lines.push(`${name}: NOT LINEARIZABLE\n${v.report}`)
  }
  show(`history (${r.events} events, register model per key)`, r.verdict)
  show('cas answers (KV model)', r.casVerdict)
  for (const p of r.problems) lines.push(`problem: ${p}`)
  lines.push(`${r.passed ? 'PASS' : 'FAIL'} in ${(r.durationMs / 1000).toFixed(1)} s`)
  return lines.join('\n')
}

try {
  const result = await runChaos({ nodes, clients, durationS, keys, seed, faults, opTimeoutMs, ...(values.history !== undefined ? { history: values.history } : {}), log: out })
  out(summary(result))
  if (values.history !== undefined) out(`history written to ${values.history} (npm run lincheck -- ${values.history})`)
  const { verdict, casVerdict, ...rest } = result
  out(JSON.stringify({ ...rest, verdict: verdict.outcome, casVerdict: casVerdict.outcome }))
  process.exitCode = result.passed ? 0 : 1
} catch (error) {
  process.stderr.write(`chaos failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
}
