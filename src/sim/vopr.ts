import { checkHistory } from './lincheck/index.js'
import type { HistoryEvent } from './lincheck/index.js'
import { formatViolation } from './lincheck/index.js'
import { checkModelHistory, formatModelViolation } from './lincheck/sequential.js'
import { describeOperation } from './app.js'
import type { SimApplication, SimOperation } from './app.js'
import type { SequentialModel } from './lincheck/sequential.js'
import type { Violation } from './checkers.js'
import { SimClient } from './client.js'
import { SimCluster } from './cluster.js'
import type { SimClusterOptions, SimMutations } from './cluster.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from './kv.js'
import { ModelClient } from './model-client.js'
import type { AppHistoryEvent } from './model-client.js'
import { Prng } from './prng.js'
import { markCount } from '../util/marks.js'

/** Which faults the safety phase may inject; each seed then draws its own intensities (swarm testing). */

/** Default search budget for an application's model (see `lincheckSteps`). */
const APP_LINCHECK_STEPS = 300_000
export interface FaultSet {
  readonly loss: boolean
  readonly duplication: boolean
  readonly reordering: boolean
  readonly crashes: boolean
  readonly partitions: boolean
  readonly oneWay: boolean
  readonly clockSkew: boolean
  /** Membership changes: members replaced by spares (and back), racing each other. */
  readonly membership: boolean
  /**
   * Half of the crashes strike right after one of the node's persists became durable, before
   * its runtime sends that Ready's messages (the moment an acceptor's durability matters most).
   * Optional and not part of `all`, so that published seeds replay unchanged: `--faults all,persistCrash`.
   */
  readonly persistCrash?: boolean
  /**
   * A crash resets the node's connections and its peers are told (`Transport.onPeerDown`), as
   * libp2p tells the network runtime: followers of a crashed leader campaign at once. Optional
   * and not part of `all`, like persistCrash: `--faults all,peerDown`.
   */
  readonly peerDown?: boolean
}

export const ALL_FAULTS: FaultSet = { loss: true, duplication: true, reordering: true, crashes: true, partitions: true, oneWay: true, clockSkew: true, membership: true }
export const NO_FAULTS: FaultSet = { loss: false, duplication: false, reordering: false, crashes: false, partitions: false, oneWay: false, clockSkew: false, membership: false }

export function parseFaults (spec: string): FaultSet {
  if (spec === 'all' || spec === 'mixed') return ALL_FAULTS
  if (spec === 'none') return NO_FAULTS
  const out: Record<keyof FaultSet, boolean> = { ...NO_FAULTS, persistCrash: false, peerDown: false }
  for (const name of spec.split(',').map(s => s.trim()).filter(s => s.length > 0)) {
    if (name === 'all' || name === 'mixed') { Object.assign(out, ALL_FAULTS); continue }
    if (!(name in out)) throw new Error(`unknown fault "${name}" (known: ${Object.keys(out).join(', ')}, all, none)`)
    out[name as keyof FaultSet] = true
  }
  return out
}

export interface RunOptions {
  readonly seed: number
  /** Cluster size (any count ≥ 1; odd counts are the meaningful ones); by default the seed picks 3 or 5. */
  readonly nodes?: number
  /** α, the pipeline depth and reconfiguration window (PaxosConfig `alpha`); by default the seed picks 1, 4 or 32. */
  readonly alpha?: number
  readonly faults?: FaultSet
  readonly safetyMs?: number
  readonly livenessMs?: number
  readonly clients?: number
  readonly mutations?: SimMutations
  readonly trace?: (line: string) => void
  /**
   * Fault intensity. 'swarm' draws it from the seed; 'nemesis' crashes a node every ~100 ms
   * with short downtimes and loses many messages, which is what it takes for the
   * acceptor-amnesia bugs to show within a few dozen seeds.
   */
  readonly intensity?: 'swarm' | 'nemesis'
  /** Search steps per key for the linearizability checker (deterministic budget; default 2,000,000 for the KV, 300,000 for an `app`). */
  readonly lincheckSteps?: number
  /**
   * Snapshot every this many slots (0 = never) and log slots kept below a snapshot. By default
   * each seed draws them (0, 30 or 200; 5 or 50); fixing them does not change the seed's other draws.
   * Tests of a state machine's `snapshot`/`restore` want snapshots often: say 20 and 5.
   */
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
  /** PaxosConfig `retryJitter` (default true); false replays seeds published before retry jitter existed. */
  readonly retryJitter?: boolean
}

/** Options of a run of the application's own state machine (see SimApplication). */
export interface AppRunOptions<C, R, Q, A, S> extends RunOptions {
  readonly app: SimApplication<C, R, Q, A, S>
}

export interface RunStats {
  readonly nodes: number
  readonly slots: number
  readonly commandsApplied: number
  readonly commandsChosen: number
  readonly opsOk: number
  readonly opsFailed: number
  readonly opsUnknown: number
  readonly crashes: number
  readonly restarts: number
  readonly partitions: number
  readonly reconfigurations: number
  readonly messagesSent: number
  readonly messagesDropped: number
  readonly virtualMs: number
  readonly lossRate: number
  readonly pipelineMax: number
  /** Snapshot interval drawn for the run (0 = no snapshots). */
  readonly snapshotEverySlots: number
  /** Snapshots received and installed from peers (approximate when runs overlap in one process). */
  readonly snapshotInstalls: number
  readonly lincheck: 'linearizable' | 'violation' | 'undecided'
}

/** `E`: a history event (the KV register history by default; AppHistoryEvent for an application's run). */
export interface RunResult<E = HistoryEvent> {
  readonly seed: number
  readonly ok: boolean
  readonly violations: readonly Violation[]
  readonly stats: RunStats
  readonly history: readonly E[]
}

const GRACE_MS = 2500
const CONVERGE_MS = 6000

/**
 * One simulated run (TigerBeetle's VOPR shape): a safety phase under the seed's faults, then a
 * liveness phase on a healed cluster that must make progress and converge. Every safety checker
 * runs throughout; linearizability is checked on the whole client history at the end.
 *
 * Without `app` it runs the built-in KV store with its register checker. With `app` it runs
 * the application's state machine, its workload, and checks the history against its model.
 * Same options and seed ⇒ same run; `trace` replays it readably.
 */
export async function runSeed (options: RunOptions): Promise<RunResult>
export async function runSeed<C, R, Q, A, S> (options: AppRunOptions<C, R, Q, A, S>): Promise<RunResult<AppHistoryEvent<C, R, Q, A>>>
export async function runSeed<C, R, Q, A, S> (options: RunOptions | AppRunOptions<C, R, Q, A, S>): Promise<RunResult<HistoryEvent> | RunResult<AppHistoryEvent<C, R, Q, A>>> {
  try {
    return 'app' in options ? await runSeedUnguarded(options, appDriver(options.app)) : await runSeedUnguarded(options, KV_DRIVER)
  } catch (error) {
    // An assertion inside the core or runtime: an invariant broke, which is a finding too.
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    return { seed: options.seed, ok: false, violations: [{ kind: 'crash', message, time: -1 }], history: [], stats: EMPTY_STATS }
  }
}

const EMPTY_STATS: RunStats = {
  nodes: 0, slots: 0, commandsApplied: 0, commandsChosen: 0, opsOk: 0, opsFailed: 0, opsUnknown: 0, crashes: 0, restarts: 0, partitions: 0, reconfigurations: 0,
  messagesSent: 0, messagesDropped: 0, virtualMs: 0, lossRate: 0, pipelineMax: 0, snapshotEverySlots: 0, snapshotInstalls: 0, lincheck: 'undecided'
}

/** What differs between the KV run and an application's run: state machine, clients, checker. */
interface Driver<C, R, Q, A, E> {
  readonly cluster: Pick<SimClusterOptions<C, R, Q, A>, 'stateMachine' | 'digest' | 'codec' | 'traceRestores'>
  clients (cluster: SimCluster<C, R, Q, A>, prng: Prng, history: E[], count: number): RunClient[]
  /** The linearizability verdict, with a readable message for a violation. */
  check (history: readonly E[], maxSteps: number): { outcome: RunStats['lincheck'], message?: string }
  /**
   * Search budget unless `lincheckSteps` says otherwise. An application's model is stepped
   * through generic, canonicalised states (several µs a step), the KV register checker far more
   * cheaply; both bound an 'undecided' search to a few seconds (a violation is found long before).
   */
  readonly defaultLincheckSteps: number
  /** Operations invoked at or after `since` that ended without an answer. */
  unavailable (events: readonly E[], since: number): number
}

interface RunClient {
  readonly ok: number
  readonly failed: number
  readonly unknown: number
  readonly running: boolean
  run (): Promise<void>
  stop (): void
}

const KV_KEYS = ['k1', 'k2', 'k3']

const KV_DRIVER: Driver<KvCommand, KvResult, KvQuery, KvAnswer, HistoryEvent> = {
  cluster: {},
  defaultLincheckSteps: 2_000_000,
  clients: (cluster, prng, history, count) => Array.from({ length: count }, (_, i) => new SimClient(cluster, prng.fork(`c${i}`), history, {
    process: i + 1, keys: KV_KEYS, attemptTimeoutMs: 1000, attempts: 3, thinkMsMax: 40, readRatio: 0.4, casRatio: 0.2
  })),
  check: (history, maxSteps) => {
    const lin = checkHistory(history, { maxSteps })
    return lin.outcome === 'violation' ? { outcome: lin.outcome, message: formatViolation(lin) } : { outcome: lin.outcome }
  },
  unavailable: unavailableOps
}

function appDriver<C, R, Q, A, S> (app: SimApplication<C, R, Q, A, S>): Driver<C, R, Q, A, AppHistoryEvent<C, R, Q, A>> {
  const model = withDefaultDescribe(app.model)
  return {
    cluster: {
      stateMachine: app.stateMachine,
      traceRestores: true,
      ...(app.digest !== undefined ? { digest: app.digest } : {}),
      ...(app.codec !== undefined ? { codec: app.codec } : {})
    },
    defaultLincheckSteps: APP_LINCHECK_STEPS,
    clients: (cluster, prng, history, count) => Array.from({ length: count }, (_, i) => new ModelClient(cluster, prng.fork(`c${i}`), history, app.workload, {
      process: i + 1, attemptTimeoutMs: 1000, attempts: 3, thinkMsMax: 40
    })),
    check: (history, maxSteps) => {
      const lin = checkModelHistory(model, history, { maxSteps })
      return lin.outcome === 'violation' ? { outcome: lin.outcome, message: formatModelViolation(model, lin) } : { outcome: lin.outcome }
    },
    unavailable: (events, since) => {
      const open = new Map<AppHistoryEvent<C, R, Q, A>['process'], number>()
      let stalled = 0
      for (const e of events) {
        if (e.type === 'invoke') { open.set(e.process, e.time); continue }
        const invokedAt = open.get(e.process)
        open.delete(e.process)
        if (invokedAt !== undefined && invokedAt >= since && e.type !== 'ok') stalled++
      }
      return stalled
    }
  }
}

/**
 * The model with operations described as `submit {…}` / `read …` unless it says otherwise.
 * Delegates instead of spreading, so a model written as a class keeps its methods and `this`.
 */
function withDefaultDescribe<S, C, Q, O> (m: SequentialModel<S, SimOperation<C, Q>, O>): SequentialModel<S, SimOperation<C, Q>, O> {
  const { equal, partition, stateKey } = m
  return {
    name: m.name ?? 'model',
    init: () => m.init(),
    step: (state, input) => m.step(state, input),
    describe: input => m.describe?.(input) ?? describeOperation(input),
    ...(equal !== undefined ? { equal: (observed: O, expected: O) => equal.call(m, observed, expected) } : {}),
    ...(partition !== undefined ? { partition: (input: SimOperation<C, Q>) => partition.call(m, input) } : {}),
    ...(stateKey !== undefined ? { stateKey: (state: S) => stateKey.call(m, state) } : {})
  }
}

async function runSeedUnguarded<C, R, Q, A, E> (options: RunOptions, driver: Driver<C, R, Q, A, E>): Promise<RunResult<E>> {
  const swarm = new Prng(options.seed).fork('swarm')
  const faults = options.faults ?? ALL_FAULTS
  const nodes = options.nodes ?? (swarm.chance(0.5) ? 3 : 5)
  const nemesis = options.intensity === 'nemesis'
  const lossRate = faults.loss ? (nemesis ? 0.2 : swarm.pick([0, 0.01, 0.05, 0.1, 0.2, 0.3])) : 0
  // Drawn even when fixed, so the seed's later draws stay the same.
  const drawnAlpha = swarm.pick([1, 4, 32])
  const pipelineMax = options.alpha ?? drawnAlpha
  // Snapshots and compaction, drawn from a stream of their own so the other draws stay as they were.
  const snapshotPrng = new Prng(options.seed).fork('snapshots')
  const snapshotEverySlots = options.snapshotEverySlots ?? snapshotPrng.pick([0, 30, 200])
  const logRetentionSlots = options.logRetentionSlots ?? snapshotPrng.pick([5, 50])
  const installsBefore = markCount('vpeer: snapshot installed from a peer')
  let injector: FaultInjector<C, R, Q, A> | undefined
  const cluster: SimCluster<C, R, Q, A> = new SimCluster<C, R, Q, A>({
    ...driver.cluster,
    seed: options.seed,
    nodes,
    spares: faults.membership ? 2 : 0,
    network: {
      lossRate,
      duplicateRate: faults.duplication ? swarm.float() * 0.05 : 0,
      reorderRate: faults.reordering ? swarm.float() * 0.1 : 0,
      peerDownNotices: faults.peerDown === true
    },
    clockSkew: faults.clockSkew ? swarm.float() * 0.2 : 0,
    paxos: { alpha: pipelineMax, batchCommandsMax: swarm.pick([1, 8, 4096]), ...(options.retryJitter !== undefined ? { retryJitter: options.retryJitter } : {}) },
    snapshotEverySlots,
    logRetentionSlots,
    ...(faults.persistCrash === true ? { crashAfterPersist: (id: string) => injector?.crashAfterPersist(id) ?? false } : {}),
    ...(options.mutations !== undefined ? { mutations: options.mutations } : {}),
    ...(options.trace !== undefined ? { trace: options.trace } : {})
  })
  const safetyMs = options.safetyMs ?? 8000
  const livenessMs = options.livenessMs ?? 5000
  const history: E[] = []
  const clients = driver.clients(cluster, cluster.prng.fork('clients'), history, options.clients ?? 5)

  await cluster.start()
  const loops = clients.map(async c => { await c.run() })
  injector = new FaultInjector(cluster, cluster.prng.fork('faults'), faults, nemesis)
  injector.start(safetyMs)
  await cluster.scheduler.runUntilAsync(safetyMs)

  // Liveness phase: heal everything, bring every node back, and demand progress.
  cluster.trace('--- liveness phase: network healed, every node restarted ---')
  injector.stop()
  await injector.settle()
  cluster.network.heal()
  cluster.network.setFaults({ lossRate: 0, duplicateRate: 0, reorderRate: 0 })
  for (const id of cluster.ids) await cluster.restart(id)
  const liveFrom = cluster.scheduler.now() + GRACE_MS
  const firstLiveOp = history.length
  await cluster.scheduler.runUntilAsync(safetyMs + livenessMs)
  for (const c of clients) c.stop()
  // Let every client finish the operation it is in, so none is cut off by the end of the run.
  while (clients.some(c => c.running) && cluster.scheduler.now() < safetyMs + livenessMs + CONVERGE_MS) {
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 50)
  }
  const converged = await waitForConvergence(cluster, safetyMs + livenessMs + 2 * CONVERGE_MS)
  cluster.haltAll()
  await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 1)
  await Promise.all(loops)
  await injector.settleReconfigs()

  const violations = [...cluster.checker.violations]
  if (!converged.ok) violations.push({ kind: 'liveness', message: converged.message, time: cluster.scheduler.now() })
  const stalled = driver.unavailable(history.slice(firstLiveOp), liveFrom)
  if (stalled > 0) violations.push({ kind: 'liveness', message: `${stalled} operation(s) invoked after the cluster healed did not complete`, time: cluster.scheduler.now() })
  // An application's model is stepped through generic, canonicalised states (several µs a step);
  // the built-in register checker is far cheaper per step. Both budgets bound an 'undecided'
  // search to a few seconds; a violation is usually found long before.
  const lin = driver.check(history, options.lincheckSteps ?? driver.defaultLincheckSteps)
  if (lin.outcome === 'violation') violations.push({ kind: 'linearizability', message: lin.message ?? 'not linearizable', time: cluster.scheduler.now() })

  const net = cluster.network.stats()
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    history,
    stats: {
      nodes,
      slots: cluster.checker.highestChosen(),
      commandsApplied: cluster.checker.commandsApplied,
      commandsChosen: cluster.checker.commandsChosen,
      opsOk: clients.reduce((n, c) => n + c.ok, 0),
      opsFailed: clients.reduce((n, c) => n + c.failed, 0),
      opsUnknown: clients.reduce((n, c) => n + c.unknown, 0),
      crashes: cluster.crashes,
      restarts: cluster.restarts,
      partitions: injector.partitions,
      reconfigurations: injector.reconfigs,
      messagesSent: net.sent,
      messagesDropped: net.dropped + net.droppedPartition + net.droppedDown,
      virtualMs: Math.round(cluster.scheduler.now()),
      lossRate,
      pipelineMax,
      snapshotEverySlots,
      snapshotInstalls: markCount('vpeer: snapshot installed from a peer') - installsBefore,
      lincheck: lin.outcome
    }
  }
}

/** Ops invoked at or after `since` that ended without an answer (info, or a failed read/write). */
function unavailableOps (events: readonly HistoryEvent[], since: number): number {
  const open = new Map<HistoryEvent['process'], HistoryEvent>()
  let stalled = 0
  for (const e of events) {
    if (e.type === 'invoke') { open.set(e.process, e); continue }
    const inv = open.get(e.process)
    open.delete(e.process)
    if (inv === undefined || inv.time < since) continue
    // A failed cas may be a plain mismatch, which is an answer; anything else is unavailability.
    if (e.type === 'info' || (e.type === 'fail' && e.f !== 'cas')) stalled++
  }
  return stalled
}

async function waitForConvergence<C, R, Q, A> (cluster: SimCluster<C, R, Q, A>, deadline: number): Promise<{ ok: boolean, message: string }> {
  for (;;) {
    // Members of the newest configuration must converge; spares and removed nodes need not.
    const ids = cluster.memberIds()
    const applied = ids.map(id => cluster.peer(id)?.applied ?? -1)
    const target = cluster.checker.highestChosen()
    const digests = new Set(ids.map(id => cluster.digest(id)))
    if (applied.every(a => a >= target) && new Set(applied).size === 1 && digests.size === 1) return { ok: true, message: '' }
    if (cluster.scheduler.now() >= deadline) {
      const states = digests.size > 1 ? `; their states differ (${digests.size} distinct)` : ''
      return { ok: false, message: `replicas did not converge after healing: applied ${ids.map((id, i) => `${id}=${applied[i]}`).join(' ')}, highest chosen ${target}${states}` }
    }
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 100)
  }
}

/**
 * Draws faults from the seed during the safety phase: crashes with restarts after a random
 * downtime, symmetric partitions, one-way blocks and loss-rate changes.
 */
class FaultInjector<C, R, Q, A> {
  partitions = 0
  reconfigs = 0
  private readonly pendingReconfigs: Array<Promise<void>> = []
  private readonly cluster: SimCluster<C, R, Q, A>
  private readonly prng: Prng
  private readonly faults: FaultSet
  private running = false
  private readonly restarts: Array<Promise<void>> = []
  private readonly intervalMs: number
  private readonly downtimeMs: number
  /** persistCrash: its own stream (the other faults draw as before), and the nodes armed to crash after their next persist. */
  private readonly persistPrng: Prng
  private readonly armed = new Set<string>()

  constructor (cluster: SimCluster<C, R, Q, A>, prng: Prng, faults: FaultSet, nemesis: boolean) {
    this.cluster = cluster
    this.prng = prng
    this.faults = faults
    this.intervalMs = nemesis ? 80 : prng.pick([100, 250, 500])
    this.downtimeMs = nemesis ? 150 : 800
    this.persistPrng = prng.fork('persist-crash')
  }

  /** SimCluster asks after each durable persist of `id`: crash there (and restart later)? */
  crashAfterPersist (id: string): boolean {
    if (!this.running || !this.armed.delete(id)) return false
    const c = this.cluster
    c.scheduler.after(this.persistPrng.exponential(this.downtimeMs), () => {
      if (this.running) this.restarts.push(c.restart(id))
    }, 'restart')
    return true
  }

  start (untilMs: number): void {
    this.running = true
    const step = (): void => {
      if (!this.running || this.cluster.scheduler.now() >= untilMs) return
      this.inject()
      this.cluster.scheduler.after(this.prng.exponential(this.intervalMs), step, 'fault')
    }
    this.cluster.scheduler.after(this.prng.exponential(this.intervalMs), step, 'fault')
  }

  stop (): void {
    this.running = false
  }

  async settle (): Promise<void> {
    await Promise.all(this.restarts)
  }

  /** Every reconfiguration attempt has settled (they all end: applied, rejected, aborted or halted). */
  async settleReconfigs (): Promise<void> {
    await Promise.all(this.pendingReconfigs)
  }

  /**
   * Asks a random live node to replace a random voter by a random non-voter. Attempts race
   * (the epoch compare-and-set decides) and may target crashed or partitioned nodes.
   */
  private replaceSomeVoter (): void {
    const c = this.cluster
    const members = new Set(c.memberIds())
    const up = c.upIds().filter(id => members.has(id))
    if (up.length === 0) return
    const via = c.peer(this.prng.pick(up))
    if (via === undefined) return
    const config = via.status().configuration
    const outsiders = c.ids.filter(id => !config.voters.includes(id))
    if (outsiders.length === 0) return
    const remove = this.prng.pick(config.voters)
    const add = this.prng.pick(outsiders)
    c.trace(`reconfigure via ${via.id}: replace ${remove} by ${add} (expects epoch ${config.epoch})`)
    this.reconfigs++
    const ctl = new AbortController()
    const timer = c.scheduler.after(4000, () => { ctl.abort() }, 'reconfigure-timeout')
    this.pendingReconfigs.push(via.reconfigure({ kind: 'replaceVoter', remove, add }, { signal: ctl.signal }).then(
      cfg => { c.trace(`epoch ${cfg.epoch}: voters {${cfg.voters.join(',')}}`) },
      () => { /* a lost race, a timeout or a crash: the outcome is in the log either way */ }
    ).finally(() => { c.scheduler.cancel(timer) }))
  }

  private inject (): void {
    const c = this.cluster
    const r = this.prng.float()
    if (r < 0.35 && this.faults.crashes) {
      const up = c.upIds()
      if (up.length === 0) return
      if (this.faults.persistCrash === true && this.persistPrng.chance(0.5)) {
        const id = this.persistPrng.pick(up)
        this.armed.add(id)
        c.trace(`${id} will crash right after its next persist`)
        return
      }
      const id = this.prng.pick(up)
      c.crash(id)
      const downtime = this.prng.exponential(this.downtimeMs)
      c.scheduler.after(downtime, () => {
        if (this.running) this.restarts.push(c.restart(id))
      }, 'restart')
    } else if (r < 0.55 && this.faults.partitions) {
      const ids = [...c.ids]
      this.prng.shuffle(ids)
      const cut = this.prng.int(1, ids.length)
      c.network.partition([ids.slice(0, cut), ids.slice(cut)])
      this.partitions++
      c.trace(`partition {${ids.slice(0, cut).join(',')}} | {${ids.slice(cut).join(',')}}`)
      c.scheduler.after(this.prng.exponential(1200), () => {
        if (!this.running) return
        c.network.heal()
        c.trace('network healed')
      }, 'heal')
    } else if (r < 0.7 && this.faults.oneWay) {
      const from = this.prng.pick(c.ids)
      const to = this.prng.pick(c.ids)
      if (from !== to) {
        c.network.blockOneWay(from, to)
        c.trace(`block ${from} → ${to}`)
        c.scheduler.after(this.prng.exponential(1000), () => { c.network.unblockOneWay(from, to) }, 'unblock')
      }
    } else if (r < 0.8 && this.faults.membership) {
      this.replaceSomeVoter()
    } else if (r < 0.9 && this.faults.loss) {
      const lossRate = this.prng.pick([0, 0.05, 0.1, 0.3])
      c.network.setFaults({ lossRate })
      c.trace(`loss rate ${lossRate}`)
    }
  }
}
