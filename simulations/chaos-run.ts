/**
 * A chaos run against real member processes (`npm run chaos`, test/net/chaos.spec.ts).
 *
 * A `ProcessCluster` of `nodes` members on 127.0.0.1 (LevelDB, libp2p), access control on:
 * `clients` worker clients, each with its own fresh identity that the administrator puts on the
 * allow-list, loop random reads, writes and compare-and-sets on a few keys through
 * `VirtualPeerClient`. A nemesis kill -9s members (restarting them from their LevelDB folder)
 * and SIGSTOPs them (often the leader), never more than a minority at once. Every operation is
 * recorded in the simulator's history format (src/sim/lincheck/history.ts); at the end the
 * faults are healed, the workers stop, and the history goes through the project's
 * linearizability checker (register model, one register per key), and the members' applied
 * indexes must converge.
 *
 * Recording, operation by operation (this is what makes the verdict mean something):
 * - `ok`: the client got the group's answer. A cas whose expected value did not match (result
 *   `{ok: false}`) changed nothing; the register format has no "ok, returned false" for cas, so
 *   it is recorded `fail` (did not take effect, which is exact) and, because that loses what the
 *   answer says about the register, the run also checks the history against the KV model
 *   (`kvModel`, where that cas is `ok` with output `{ok: false}`), see `checkChaosHistory`.
 * - `fail`: only errors that are the same for every attempt of the same request at every member
 *   and rule out that the state machine ran it (`DEFINITE_REJECTIONS`).
 * - `info`: everything else — timeouts, aborts, GroupUnreachable, streams that closed — and also
 *   `ERR_ACCESS_REFUSED`: the client retries a submit at other members under one session, so a
 *   refusal from a member that has not applied the allow-list entry yet (one that just
 *   restarted) says nothing about an earlier attempt that a leader may already have proposed.
 *
 * Dropped connections are not injected: see `DROPPED_CONNECTIONS`.
 */
import { writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateIdentity } from '../src/alm/identity.js'
import type { Identity } from '../src/alm/identity.js'
import type { VirtualPeerClient } from '../src/net/client.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'
import { kvModel } from '../src/sim/kv.js'
import type { SimOperation } from '../src/sim/app.js'
import { Prng } from '../src/sim/prng.js'
import { checkHistory, checkModelHistory, formatModelViolation, formatViolation } from '../src/sim/lincheck/index.js'
import type { HistoryEvent, HistoryValue, ModelHistoryEvent } from '../src/sim/lincheck/index.js'
import { CodedError, InvalidArgumentError } from '../src/util/errors.js'
import { ProcessCluster } from './process-cluster.js'
import type { NodeProcess } from './process-cluster.js'

type KvClient = VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>
type OpKind = 'read' | 'write' | 'cas'
type KvOperation = SimOperation<KvCommand, KvQuery>
type KvOutput = KvResult | KvAnswer
export type ModelEvent = ModelHistoryEvent<KvOperation, KvOutput>

/**
 * Why this run cannot drop connections. Checked on the 2-core dev VM (Firecracker, kernel booted
 * with `nomodule`): `unshare -rn` works and gives CAP_NET_ADMIN in a private network namespace,
 * but the kernel knows no queueing discipline (`tc qdisc add … prio|netem|tbf`: "Specified qdisc
 * kind is unknown"), so no tc filter or netem loss, and there is no iptables or nft. Routes
 * work (`ip route add blackhole`), but every member is on 127.0.0.1 and dials from it, so a
 * route cannot cut one member off. Doing it would take a veth pair per member or a userspace
 * TCP proxy in front of each; until then the summary says so instead of pretending.
 */
export const DROPPED_CONNECTIONS = {
  injected: false,
  reason: 'not injected: no packet filter on this machine (kernel without qdiscs, no iptables/nft; unshare -rn works but routes cannot isolate members that share 127.0.0.1)'
} as const

/** Rejections that every attempt of the same request gets and that mean the state machine never ran it. */
const DEFINITE_REJECTIONS = new Set(['ERR_INVALID_ARGUMENT', 'ERR_INVALID_COMMAND', 'ERR_COMMAND_TOO_LARGE'])

/**
 * `fail` (definitely not applied) or `info` (unknown) for an operation that threw. A read never
 * changes anything, but the same rule keeps its counts honest: a timed-out read is unknown.
 */
export function classifyFailure (error: unknown): 'fail' | 'info' {
  return error instanceof CodedError && DEFINITE_REJECTIONS.has(error.code) ? 'fail' : 'info'
}

export function errorCode (error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown'
}

export interface ChaosOptions {
  readonly nodes: number
  readonly clients: number
  /** Seconds of faults and load, before healing. */
  readonly durationS: number
  /** Registers k0 … k(keys-1) (default 3). */
  readonly keys?: number
  readonly seed: number
  /** Write the history here as JSON lines (`npm run lincheck -- FILE` reads it). */
  readonly history?: string
  readonly faults: { readonly kill: boolean, readonly pause: boolean }
  /** Per-operation deadline (default 5000 ms): a worker never waits longer. */
  readonly opTimeoutMs?: number
  /** Wall-clock budget of each linearizability check (default 60 s). */
  readonly checkBudgetMs?: number
  /** Progress lines (nemesis actions, phases). */
  readonly log?: (line: string) => void
  /** Where the temporary cluster folder goes (default the OS temp dir). */
  readonly parentDir?: string
}

export interface OpCounts { ok: number, fail: number, info: number }

export type Verdict =
  | { readonly outcome: 'linearizable' }
  | { readonly outcome: 'not linearizable', readonly report: string }
  | { readonly outcome: 'undecided', readonly reason: string }

export interface ChaosResult {
  /** Linearizable (both checks; the KV-model one may be undecided), converged, and nothing else went wrong. */
  readonly passed: boolean
  readonly seed: number
  readonly nodes: number
  readonly clients: number
  readonly keys: number
  readonly ops: Record<OpKind, OpCounts>
  /** cas answered `{ok: false}` (recorded as `fail` in the register history). */
  readonly casMismatches: number
  /** `fail`/`info` outcomes by error code. */
  readonly errors: Record<string, number>
  readonly faults: {
    readonly kills: number
    readonly pauses: number
    readonly leaderTargeted: number
    readonly droppedConnections: typeof DROPPED_CONNECTIONS
  }
  readonly access: { readonly refusedBeforeAllow: boolean, readonly allowed: number }
  /** Register checker over the history file's contents. */
  readonly verdict: Verdict
  /** KV model checker: the same history with cas `{ok: false}` answers as outputs. */
  readonly casVerdict: Verdict
  readonly converged: boolean
  /** Final applied index per member name (null: no answer). */
  readonly applied: Record<string, number | null>
  /** Times a member became leader (the first election included). */
  readonly elections: number
  /** Changes of the leader's identity among those. */
  readonly leaderChanges: number
  /** Error-level log lines of the members, by message. */
  readonly memberErrors: Record<string, number>
  /** Anything that makes the run fail besides the verdicts (unexpected exits, failed restarts, …). */
  readonly problems: readonly string[]
  readonly events: number
  readonly durationMs: number
}

type KvOp = KvCommand | { readonly f: 'read', readonly key: string }

/**
 * The client history of a run, in two forms: the register history of the JSON-lines format
 * (what `--history` writes and `npm run lincheck` checks) and the same operations against the
 * KV model, where a cas keeps its `{ok: false}` answer. Also the counts of the summary.
 */
export class ChaosHistory {
  readonly register: HistoryEvent[] = []
  readonly model: ModelEvent[] = []
  /** The error code of a completion, by its index in `register` (written to the file, ignored by the checker). */
  readonly notes = new Map<number, string>()
  readonly ops: Record<OpKind, OpCounts> = { read: { ok: 0, fail: 0, info: 0 }, write: { ok: 0, fail: 0, info: 0 }, cas: { ok: 0, fail: 0, info: 0 } }
  /** `fail`/`info` outcomes by error code. */
  readonly errors: Record<string, number> = {}
  /** cas answered `{ok: false}`. */
  casMismatches = 0
  private readonly now: () => number

  /** `now`: the time stamped on events (ms; informational, the order of events is what counts). */
  constructor (now: () => number) {
    this.now = now
  }

  /**
   * Runs one operation (`run` performs it and returns what the group answered) and records
   * its invoke and completion. Events are pushed in the order this process observes them,
   * which is consistent with real time: a completion recorded before an invoke really did
   * complete before that invoke was sent.
   */
  async record (process: number, op: KvOp, run: () => Promise<KvOutput>): Promise<'ok' | 'fail' | 'info'> {
    const value: HistoryValue = op.f === 'read' ? null : op.f === 'write' ? op.value : [op.expected, op.value]
    const input: KvOperation = op.f === 'read' ? { read: { key: op.key } } : { submit: op }
    this.register.push({ process, type: 'invoke', f: op.f, key: op.key, value, time: this.now() })
    this.model.push({ process, type: 'invoke', input, time: this.now() })
    let output: KvOutput
    try {
      output = await run()
    } catch (error) {
      const time = this.now()
      const outcome = classifyFailure(error)
      const code = errorCode(error)
      this.errors[code] = (this.errors[code] ?? 0) + 1
      this.notes.set(this.register.length, code)
      this.register.push({ process, type: outcome, f: op.f, key: op.key, value, time })
      this.model.push({ process, type: outcome, time })
      this.ops[op.f][outcome]++
      return outcome
    }
    const time = this.now()
    this.model.push({ process, type: 'ok', output, time })
    this.ops[op.f].ok++
    if (op.f === 'read') {
      this.register.push({ process, type: 'ok', f: 'read', key: op.key, value: output as KvAnswer, time })
    } else if ((output as KvResult).ok) {
      this.register.push({ process, type: 'ok', f: op.f, key: op.key, value, time })
    } else {
      // Only a cas answers {ok: false}: it changed nothing (see the module comment).
      this.casMismatches++
      this.notes.set(this.register.length, 'cas-mismatch')
      this.register.push({ process, type: 'fail', f: op.f, key: op.key, value, time })
    }
    return 'ok'
  }

  /** The register checker over the register history, and the KV model checker over the model one. */
  check (budgetMs: number): { verdict: Verdict, casVerdict: Verdict } {
    const r = checkHistory(this.register, { timeBudgetMs: budgetMs })
    const verdict: Verdict = r.outcome === 'linearizable'
      ? r
      : r.outcome === 'violation'
        ? { outcome: 'not linearizable', report: formatViolation(r) }
        : { outcome: 'undecided', reason: `key ${JSON.stringify(r.key)}: ${r.reason}` }
    const m = checkModelHistory(kvModel, this.model, { timeBudgetMs: budgetMs })
    const casVerdict: Verdict = m.outcome === 'linearizable'
      ? m
      : m.outcome === 'violation'
        ? { outcome: 'not linearizable', report: formatModelViolation(kvModel, m) }
        : { outcome: 'undecided', reason: `key ${JSON.stringify(m.partition)}: ${m.reason}` }
    return { verdict, casVerdict }
  }

  /** The register history as JSON lines; failed completions carry their error code in `error`. */
  text (): string {
    return this.register.map((e, i) => {
      const note = this.notes.get(i)
      return JSON.stringify({ process: e.process, type: e.type, f: e.f, key: e.key, value: e.value, time: e.time, ...(note !== undefined ? { error: note } : {}) })
    }).join('\n') + '\n'
  }
}

export async function runChaos (options: ChaosOptions): Promise<ChaosResult> {
  validate(options)
  const keys = Array.from({ length: options.keys ?? 3 }, (_, i) => `k${i}`)
  const opTimeoutMs = options.opTimeoutMs ?? 5000
  const log = options.log ?? (() => {})
  const started = performance.now()
  const now = (): number => Math.round((performance.now() - started) * 1000) / 1000
  const history = new ChaosHistory(now)
  const stamp = (): string => `${(now() / 1000).toFixed(1).padStart(6)}s`
  const problems: string[] = []
  const prng = new Prng(options.seed)

  const cluster = await ProcessCluster.create({ members: options.nodes, ...(options.parentDir !== undefined ? { parentDir: options.parentDir } : {}) })
  const clients: KvClient[] = []
  // Aborted in `finally` too, so that an exception mid-run never leaves a worker looping on a closed client.
  const stopWorkers = new AbortController()
  const stopNemesis = new AbortController()
  let nemesisDone: Promise<void> = Promise.resolve()
  let workers: Array<Promise<void>> = []
  try {
    log(`${stamp()} cluster ${cluster.dir}: starting ${options.nodes} members`)
    await cluster.startAll()
    const admin = await cluster.client<KvCommand, KvResult, KvQuery, KvAnswer>({ attemptTimeoutMs: 1500, deadlineMs: 30_000 })
    clients.push(admin)
    const first = await admin.whenLeader({ signal: AbortSignal.timeout(30_000) })
    log(`${stamp()} leader ${nameOf(cluster, first.leader)}`)

    // Access control: a fresh identity is refused until the administrator allows it.
    const identities: Identity[] = await Promise.all(Array.from({ length: options.clients }, async () => await generateIdentity()))
    const workerClients = await Promise.all(identities.map(async identity => await cluster.client<KvCommand, KvResult, KvQuery, KvAnswer>({ identity, attemptTimeoutMs: 1500, deadlineMs: opTimeoutMs })))
    clients.push(...workerClients)
    let refusedBeforeAllow = false
    try {
      await workerClients[0]?.read({ key: keys[0] as string }, { signal: AbortSignal.timeout(10_000) })
      problems.push('a client not on the allow-list was served')
    } catch (error) {
      if (errorCode(error) === 'ERR_ACCESS_REFUSED') refusedBeforeAllow = true
      else problems.push(`a client not on the allow-list got ${errorCode(error)} instead of ERR_ACCESS_REFUSED`)
    }
    for (const c of workerClients) await admin.allow(c.id, { signal: AbortSignal.timeout(30_000) })
    log(`${stamp()} allowed ${workerClients.length} worker clients (a stranger was ${refusedBeforeAllow ? '' : 'NOT '}refused first)`)

    // Workers and nemesis run for durationS.
    workers = workerClients.map(async (client, index) => {
      await worker({ client, index, keys, prng: prng.fork(`worker${index}`), history, opTimeoutMs, stop: stopWorkers.signal })
    })
    const nemesisState: NemesisState = { kills: 0, pauses: 0, leaderTargeted: 0, faulty: new Set(), killed: new Set(), actions: new Set() }
    nemesisDone = nemesis({ cluster, admin, prng: prng.fork('nemesis'), faults: options.faults, state: nemesisState, stop: stopNemesis.signal, log: line => { log(`${stamp()} ${line}`) }, problems })
    await sleep(options.durationS * 1000)

    // Heal: no new faults, the ones in progress end (SIGCONT, restart), then anything left over.
    stopNemesis.abort()
    await nemesisDone
    for (const n of cluster.nodes) {
      if (n.paused) await cluster.signal(n.name, 'SIGCONT')
      if (!cluster.running(n.name)) {
        if (!nemesisState.killed.has(n.name)) problems.push(`${n.name} exited without being killed: ${n.stderr.slice(-1000)}`)
        try { await cluster.start(n.name, { timeoutMs: 60_000 }) } catch (error) { problems.push(`restart of ${n.name} at heal failed: ${(error as Error).message}`) }
      }
    }
    log(`${stamp()} healed: every member running; stopping the workers`)
    stopWorkers.abort()
    await Promise.all(workers)

    // Final reads on the healed group: they constrain the checker most (every write before them must show).
    for (const key of keys) {
      await history.record(options.clients, { f: 'read', key }, async () => await admin.read({ key }, { signal: AbortSignal.timeout(30_000) }))
    }

    const convergence = await converge(cluster, admin, 30_000)
    if (!convergence.converged) problems.push(`members did not converge: applied ${JSON.stringify(convergence.applied)}`)
    for (const n of cluster.nodes) {
      if (!cluster.running(n.name)) problems.push(`${n.name} is not running at the end: ${n.stderr.slice(-1000)}`)
    }
    log(`${stamp()} ${convergence.converged ? 'converged' : 'NOT converged'}: applied ${JSON.stringify(convergence.applied)}; checking ${history.register.length} events`)

    if (options.history !== undefined) await writeFile(options.history, history.text())
    const budgetMs = options.checkBudgetMs ?? 60_000
    const { verdict, casVerdict } = history.check(budgetMs)
    const leadership = leadershipOf(cluster.nodes)
    const memberErrors: Record<string, number> = {}
    for (const n of cluster.nodes) {
      for (const line of n.logs) if (line.level >= 50) memberErrors[line.msg] = (memberErrors[line.msg] ?? 0) + 1
    }
    const passed = verdict.outcome === 'linearizable' && casVerdict.outcome !== 'not linearizable' && convergence.converged && problems.length === 0
    return {
      passed,
      seed: options.seed,
      nodes: options.nodes,
      clients: options.clients,
      keys: keys.length,
      ops: history.ops,
      casMismatches: history.casMismatches,
      errors: history.errors,
      faults: { kills: nemesisState.kills, pauses: nemesisState.pauses, leaderTargeted: nemesisState.leaderTargeted, droppedConnections: DROPPED_CONNECTIONS },
      access: { refusedBeforeAllow, allowed: workerClients.length },
      verdict,
      casVerdict,
      converged: convergence.converged,
      applied: convergence.applied,
      elections: leadership.elections,
      leaderChanges: leadership.changes,
      memberErrors,
      problems,
      events: history.register.length,
      durationMs: Math.round(performance.now() - started)
    }
  } finally {
    stopNemesis.abort()
    stopWorkers.abort()
    // The nemesis first: a restart it has scheduled must not spawn a member after close().
    await nemesisDone
    await Promise.all(clients.map(async c => { await c.close().catch(() => {}) }))
    await Promise.all(workers)
    await cluster.close()
  }
}

function validate (o: ChaosOptions): void {
  const int = (name: string, v: number | undefined, min: number): void => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${v}`)
  }
  int('nodes', o.nodes, 1)
  int('clients', o.clients, 1)
  int('keys', o.keys, 1)
  int('seed', o.seed, 0)
  int('opTimeoutMs', o.opTimeoutMs, 1)
  if (!Number.isFinite(o.durationS) || o.durationS <= 0) throw new InvalidArgumentError(`durationS must be positive, got ${o.durationS}`)
}

function nameOf (cluster: ProcessCluster, id: string | undefined): string {
  if (id === undefined) return 'none'
  return cluster.nodes.find(n => n.id === id)?.name ?? id
}

// ---------------------------------------------------------------------------------------------
// Workers

interface WorkerContext {
  readonly client: KvClient
  readonly index: number
  readonly keys: readonly string[]
  readonly prng: Prng
  readonly history: ChaosHistory
  readonly opTimeoutMs: number
  readonly stop: AbortSignal
}

/** One client process: one operation at a time until `stop`; never throws. */
async function worker (w: WorkerContext): Promise<void> {
  // Written values are unique across the run, so a read names the one write it saw.
  let counter = 0
  const lastSeen = new Map<string, number | null>()
  while (!w.stop.aborted) {
    const key = w.prng.pick(w.keys)
    const r = w.prng.float()
    const signal = AbortSignal.timeout(w.opTimeoutMs)
    let outcome: 'ok' | 'fail' | 'info'
    if (r < 0.4) {
      outcome = await w.history.record(w.index, { f: 'read', key }, async () => {
        const v = await w.client.read({ key }, { signal })
        lastSeen.set(key, v)
        return v
      })
    } else {
      const value = w.index * 1_000_000 + ++counter
      const command: KvCommand = r < 0.7 ? { f: 'write', key, value } : { f: 'cas', key, expected: lastSeen.get(key) ?? null, value }
      outcome = await w.history.record(w.index, command, async () => {
        const result = await w.client.submit(command, { signal })
        if (result.ok) lastSeen.set(key, value)
        return result
      })
    }
    // An error that came back at once (a refusal, a closed stream) must not become a busy loop.
    if (outcome !== 'ok') await sleep(w.prng.int(20, 100))
  }
}

// ---------------------------------------------------------------------------------------------
// Nemesis

interface NemesisState {
  kills: number
  pauses: number
  leaderTargeted: number
  /** Members killed or paused right now (a killed one until its restart has completed). */
  readonly faulty: Set<string>
  /** Members the nemesis killed at least once (any other exit is a crash). */
  readonly killed: Set<string>
  readonly actions: Set<Promise<void>>
}

interface NemesisContext {
  readonly cluster: ProcessCluster
  readonly admin: KvClient
  readonly prng: Prng
  readonly faults: ChaosOptions['faults']
  readonly state: NemesisState
  readonly stop: AbortSignal
  readonly log: (line: string) => void
  readonly problems: string[]
}

/**
 * Every 1–4 s (seeded choices, real time) one fault on one member while fewer than a minority
 * are faulty: the leader for 60 % of the pauses and 30 % of the kills (a paused leader that
 * wakes up still believing it leads is the classic way to serve a stale read), else anyone. Each enabled kind is used once before the choice
 * becomes random, so even a short run injects every kind. Resolves when `stop` fired and the
 * faults in progress have ended (paused members continued, killed ones restarted).
 */
async function nemesis (n: NemesisContext): Promise<void> {
  const kinds = (['kill', 'pause'] as const).filter(k => n.faults[k])
  const minority = Math.floor((n.cluster.nodes.length - 1) / 2)
  const firstRound = [...kinds]
  for (let i = firstRound.length - 1; i > 0; i--) {
    const j = n.prng.int(0, i + 1)
    ;[firstRound[i], firstRound[j]] = [firstRound[j] as typeof kinds[number], firstRound[i] as typeof kinds[number]]
  }
  let gapMs = n.prng.int(500, 1500)
  while (kinds.length > 0 && minority > 0) {
    try { await sleep(gapMs, undefined, { signal: n.stop }) } catch { break }
    gapMs = n.prng.int(1000, 4000)
    if (n.state.faulty.size >= minority) continue
    const kind = firstRound.shift() ?? n.prng.pick(kinds)
    const healthy = n.cluster.nodes.filter(x => !n.state.faulty.has(x.name) && n.cluster.running(x.name))
    if (healthy.length === 0) continue
    let target = n.prng.pick(healthy)
    const wantLeader = n.prng.chance(kind === 'pause' ? 0.6 : 0.3)
    const leader = await leaderOf(n.admin).catch(() => undefined)
    if (n.stop.aborted) break
    const leaderNode = healthy.find(x => x.id === leader)
    if (wantLeader && leaderNode !== undefined) { target = leaderNode; n.state.leaderTargeted++ }
    const tag = `${target.name}${target.id === leader ? ' (leader)' : ''}`
    n.state.faulty.add(target.name)
    const action = kind === 'kill' ? kill(n, target, tag, n.prng.int(500, 3001)) : pause(n, target, tag, n.prng.int(1000, 3001))
    const tracked = action.catch((error: unknown) => { n.problems.push(`${kind} of ${target.name}: ${(error as Error).message}`) })
      .finally(() => { n.state.faulty.delete(target.name); n.state.actions.delete(tracked) })
    n.state.actions.add(tracked)
  }
  await Promise.all([...n.state.actions])
}

async function kill (n: NemesisContext, target: NodeProcess, tag: string, downMs: number): Promise<void> {
  n.state.killed.add(target.name)
  await n.cluster.kill(target.name)
  n.state.kills++
  n.log(`kill -9 ${tag}; restart in ${downMs} ms`)
  await sleep(downMs)
  const t = performance.now()
  await n.cluster.start(target.name, { timeoutMs: 60_000 })
  n.log(`restarted ${target.name} from its LevelDB folder (${Math.round(performance.now() - t)} ms to start)`)
}

async function pause (n: NemesisContext, target: NodeProcess, tag: string, pausedMs: number): Promise<void> {
  await n.cluster.signal(target.name, 'SIGSTOP')
  n.state.pauses++
  n.log(`SIGSTOP ${tag} for ${pausedMs} ms`)
  await sleep(pausedMs)
  await n.cluster.signal(target.name, 'SIGCONT')
  n.log(`SIGCONT ${target.name}`)
}

async function leaderOf (admin: KvClient): Promise<string | undefined> {
  return (await admin.info({ signal: AbortSignal.timeout(2000) })).leader
}

// ---------------------------------------------------------------------------------------------
// End of run

/**
 * Waits until every member answers with the same applied index twice in a row, 500 ms apart
 * (no client writes any more, so a still-moving index means someone is catching up).
 */
async function converge (cluster: ProcessCluster, admin: KvClient, timeoutMs: number): Promise<{ converged: boolean, applied: Record<string, number | null> }> {
  const deadline = Date.now() + timeoutMs
  let previous: string | undefined
  let applied: Record<string, number | null> = {}
  while (Date.now() < deadline) {
    applied = Object.fromEntries(await Promise.all(cluster.nodes.map(async n => {
      const view = await admin.info({ member: n.id, signal: AbortSignal.timeout(2000) }).catch(() => undefined)
      return [n.name, view?.applied ?? null] as const
    })))
    const values = Object.values(applied)
    const same = values.every(v => v !== null && v === values[0])
    const text = JSON.stringify(applied)
    if (same && text === previous) return { converged: true, applied }
    previous = same ? text : undefined
    await sleep(500)
  }
  return { converged: false, applied }
}

/** From the members' logs: how often a member became leader, and how often the leader changed. */
export function leadershipOf (nodes: readonly NodeProcess[]): { elections: number, changes: number } {
  const won: Array<{ time: number, node: string }> = []
  for (const n of nodes) {
    for (const line of n.logs) {
      if (line.msg === 'leadership changed' && line.role === 'leader') won.push({ time: typeof line.time === 'number' ? line.time : 0, node: n.name })
    }
  }
  won.sort((a, b) => a.time - b.time)
  let changes = 0
  for (let i = 1; i < won.length; i++) if (won[i]?.node !== won[i - 1]?.node) changes++
  return { elections: won.length, changes }
}
