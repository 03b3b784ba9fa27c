/**
 * Issue 4, part 3: the VP's lifetime measured on the real code. A SimCluster runs the actual
 * Paxos core and VirtualPeer runtime with the automatic replacement policy
 * (src/vpeer/replacement.ts); members crash permanently after exponential lifetimes, and a
 * fresh spare becomes available G after each failure (the model's repair time). The run ends
 * when a majority of the newest committed configuration is dead — from then on the VP can never
 * commit again, because crashes are permanent.
 *
 * Time is scaled: the model depends on λ and R only through λR (MTTF/R is a function of N, λR
 * and the shape of G), so a run uses R of a few virtual seconds, and results are reported in
 * units of R. The runtime's own time constants (10 ms ticks, 150–300 ms elections, detection
 * after `replaceAfterTicks`) are *not* scaled: they are the part of the real repair time the
 * model does not have, and the measurement shows how much they cost.
 *
 * Common random numbers: which node fails when, and when each spare appears, is a schedule
 * (`FailureSchedule`) drawn from its own seeded streams, independent of anything the protocol
 * does. The same schedule also yields the model's lifetime for that seed (`modelLifetimeMs`:
 * the first time fewer than a majority of nodes are alive, i.e. ⌈N/2⌉ failures whose spare has
 * not appeared yet). Since the real configuration always has N voters, and its live voters are
 * a subset of the live nodes, the real VP can die earlier than the model on a seed, never later:
 * real ≤ model per seed, and the paired difference is exactly what the protocol's own delays
 * (detection, catch-up, commits, elections) cost.
 *
 * Issue 10, part 4 (`spareChoice`): the same run with members chosen from a churning population
 * of peers with Weibull lifetimes (population.ts's `ChoiceSchedule`), the policy ranking its
 * candidates with rankSpares by uptime or at random.
 */
import type { NodeId } from '../../src/paxos/types.js'
import type { Violation } from '../../src/sim/checkers.js'
import { SimClient } from '../../src/sim/client.js'
import { SimCluster } from '../../src/sim/cluster.js'
import type { HistoryEvent } from '../../src/sim/lincheck/index.js'
import { rankSpares, type SpareChoice } from '../../src/vpeer/spare-choice.js'
import type { RepairDist } from './model.js'
import { ChoiceSchedule, drawRepair, randomSource, scheduleLifetime, type ScheduleEvent, type VpSchedule } from './population.js'
import { Rng } from './prng.js'

export { drawRepair, type ScheduleEvent } from './population.js'

export type RealRunErrorCode = 'ERR_REAL_BAD_OPTIONS' | 'ERR_REAL_SAFETY' | 'ERR_REAL_INTERNAL'

/** A run that must not be trusted: bad options, a safety checker fired (a protocol bug), or a broken invariant of the harness. */
export class RealRunError extends Error {
  readonly code: RealRunErrorCode
  readonly violations: readonly Violation[]
  constructor (code: RealRunErrorCode, message: string, violations: readonly Violation[] = []) {
    super(message)
    this.name = 'RealRunError'
    this.code = code
    this.violations = violations
  }
}

export interface RealRunOptions {
  readonly seed: number
  /** N, voters at the start (and the size the replacement policy keeps). */
  readonly members: number
  /** Mean of every node's exponential time to (permanent) failure, virtual ms. */
  readonly peerMttfMs: number
  /** R: mean of G for exp and fixed, upper bound for uniform(0, R) — as in the model. */
  readonly repairMs: number
  readonly dist: RepairDist
  /** Runtime tick, ms (default 10: the production setting the election timeouts assume). */
  readonly tickMs?: number
  /** Stop (censored) if the VP is still alive this long after the failure clocks start. */
  readonly horizonMs: number
  /** A voter silent this many ticks is suspected dead (default: R/20, at least 6 ticks). */
  readonly replaceAfterTicks?: number
  /** How often the leader re-evaluates the policy, ticks (default 2). */
  readonly checkEveryTicks?: number
  /** Operational failure: no command committed for this long (default 20·R). */
  readonly stallMs?: number
  /** Concurrent clients (default 3). */
  readonly clients?: number
  /** Client think time is uniform in [0, thinkMsMax] (default 100: ~25 writes/s per client). */
  readonly thinkMsMax?: number
  /** Network loss rate (default 0: the study is about crashes, not about a lossy network). */
  readonly lossRate?: number
  /** α, the pipeline depth (default: the core's 32). */
  readonly pipelineMax?: number
  /**
   * Snapshot every this many slots, keeping logRetentionSlots of log behind it (defaults 1000 and
   * 200, far below the runtime's 10 000 / 1000, so that in runs of a few minutes a new learner
   * usually catches up by snapshot transfer rather than by replaying the whole log, as it would
   * in a long-lived VP).
   */
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
  /** Let the first leader be elected before the failure clocks start, ms (default 1000). */
  readonly warmupMs?: number
  /** Observation step: configurations and commits are sampled this often, ms (default 10). */
  readonly pollMs?: number
  /**
   * Issue 10, part 4: members come from a churning population of candidate peers with Weibull
   * lifetimes, chosen by `rankSpares` (see population.ts), instead of each spare being a fresh
   * node with an exponential lifetime. Absent: the exponential model of part 3.
   */
  readonly spareChoice?: SpareChoiceOptions
  readonly trace?: (line: string) => void
}

export interface SpareChoiceOptions {
  readonly choice: SpareChoice
  /** Weibull shape k of every peer's lifetime (mean: peerMttfMs). */
  readonly shape: number
  /** Mean number of live candidate peers. */
  readonly poolSize: number
}

/** What happened to one replaced voter, virtual ms relative to the events named. */
export interface ReplacementRecord {
  readonly removed: NodeId
  readonly added: NodeId
  /** The removed voter's crash → it left the configuration (the real repair time). */
  readonly repairMs: number | undefined
  /** The spare that took its place appeared → it votes (detection wait, catch-up, two commits, α). */
  readonly afterSpareMs: number | undefined
  /** The spare appeared → it was a learner. */
  readonly toLearnerMs: number | undefined
}

export type Disagreement =
  | { readonly kind: 'commit-after-structural-death', readonly atMs: number }
  | { readonly kind: 'stall-while-structurally-alive', readonly fromMs: number, readonly forMs: number }

export interface CrashRecord {
  readonly id: NodeId
  /** ms after the failure clocks started. */
  readonly atMs: number
  /** What the node was in the newest committed configuration when it crashed. */
  readonly role: 'voter' | 'learner' | 'spare'
  readonly wasLeader: boolean
}

export interface RealRunResult {
  readonly seed: number
  readonly members: number
  /** (a) Structural: failure clocks start → a majority of the newest configuration is dead. */
  readonly lifetimeMs: number | undefined
  readonly censored: boolean
  /**
   * The model's lifetime on the same failure/repair schedule (≥ lifetimeMs). Never censored in
   * the exponential study; with `spareChoice` it is computed up to 4 × the horizon only (heavy
   * tails), and `modelCensored` says whether it got there.
   */
  readonly modelLifetimeMs: number
  readonly modelCensored?: boolean
  /**
   * (b) Operational: failure clocks start → the last commit before a stall of ≥ stallMs that
   * lasts to the end of the run. Undefined when censored (the run never stalled that long).
   */
  readonly operationalMs: number | undefined
  readonly disagreements: readonly Disagreement[]
  /** Permanent crashes (voters, learners and idle spares alike), in order. */
  readonly crashes: readonly CrashRecord[]
  /** Crashes of the node that was leader at that moment. */
  readonly leaderFailures: number
  /** Completed replaceVoter changes. */
  readonly replacements: readonly ReplacementRecord[]
  /** Crash of a voter → the leader's status shows it silent for > replaceAfterTicks, ms. */
  readonly detectionMs: readonly number[]
  /** The same, only for voters that were the leader when they crashed (an election comes first). */
  readonly leaderDetectionMs: readonly number[]
  /** Spares that appeared (one per failure, G after it). */
  readonly sparesAdded: number
  /** Live nodes outside the voters (learners catching up, spares not yet used) when the VP died. */
  readonly idleLiveAtDeath: number
  /** Client operations that returned ok (writes and CAS). */
  readonly commits: number
  /** Commands in chosen slots (client commands and membership changes). */
  readonly commandsChosen: number
  readonly slots: number
  readonly replaceAfterTicks: number
  readonly stallMs: number
  /** The newest committed configuration's voters, and how many of them are alive, at the end. */
  readonly finalVoters: readonly NodeId[]
  readonly finalLiveVoters: number
  /** Virtual ms simulated in total (warm-up and the operational check included). */
  readonly virtualMs: number
}

export interface ScheduleParams {
  readonly seed: number
  readonly members: number
  readonly peerMttfMs: number
  readonly repairMs: number
  readonly dist: RepairDist
}

/**
 * The failure/repair schedule of one seed, independent of the protocol: every node lives an
 * Exp(mean peerMttfMs) time from the moment it appears; each failure makes a spare appear G
 * later. Failure and repair draws come from separate streams, so the same seed gives the same
 * failure times for every repair distribution (common random numbers across dists too).
 */
export class FailureSchedule implements VpSchedule {
  private readonly failures: Rng
  private readonly repairs: Rng
  private readonly pending: ScheduleEvent[] = []
  private nextNode: number
  private readonly p: ScheduleParams

  constructor (p: ScheduleParams) {
    this.p = p
    this.failures = new Rng(p.seed, 'real:failures')
    this.repairs = new Rng(p.seed, 'real:repairs')
    this.nextNode = p.members
    for (let i = 0; i < p.members; i++) this.pending.push({ atMs: this.failures.exp(1 / p.peerMttfMs), kind: 'crash', node: i })
  }

  /** The next event, without consuming it. */
  peek (): ScheduleEvent {
    let best = this.pending[0] as ScheduleEvent
    for (const e of this.pending) if (e.atMs < best.atMs) best = e
    return best
  }

  /** Consumes the next event and draws what it causes (a spare's arrival, or its failure). */
  next (): ScheduleEvent {
    const e = this.peek()
    this.pending.splice(this.pending.indexOf(e), 1)
    if (e.kind === 'crash') {
      this.pending.push({ atMs: e.atMs + drawRepair(this.repairs, this.p.dist, this.p.repairMs), kind: 'spare', node: this.nextNode++ })
    } else {
      this.pending.push({ atMs: e.atMs + this.failures.exp(1 / this.p.peerMttfMs), kind: 'crash', node: e.node })
    }
    return e
  }
}

/**
 * The model's lifetime on this seed's schedule: a spare counts as a member the instant it
 * appears (no detection, no catch-up), so the VP dies the first time fewer than a majority of
 * nodes are alive — the model of simulations/mttf with parallel repair. Pure and cheap.
 */
export function modelLifetimeMs (p: ScheduleParams): number {
  return scheduleLifetime(new FailureSchedule(p), p.members).lifetimeMs
}

/** The schedule of a run: part 3's exponential one, or part 4's member choice from a population. */
function makeSchedule (o: RealRunOptions): VpSchedule {
  const params: ScheduleParams = { seed: o.seed, members: o.members, peerMttfMs: o.peerMttfMs, repairMs: o.repairMs, dist: o.dist }
  return o.spareChoice === undefined ? new FailureSchedule(params) : new ChoiceSchedule({ ...params, ...o.spareChoice })
}

interface ConfigView { readonly epoch: number, readonly voters: readonly NodeId[], readonly learners: readonly NodeId[] }

/** The newest committed configuration any live node knows (highest epoch). */
function newestConfig (cluster: SimCluster): ConfigView | undefined {
  let best: ConfigView | undefined
  for (const id of cluster.upIds()) {
    const c = cluster.peer(id)?.status().configuration
    if (c !== undefined && (best === undefined || c.epoch > best.epoch)) best = c
  }
  return best
}

function validate (o: RealRunOptions): void {
  const bad = (why: string): never => { throw new RealRunError('ERR_REAL_BAD_OPTIONS', why) }
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) bad(`seed must be a non-negative integer, got ${o.seed}`)
  if (!Number.isInteger(o.members) || o.members < 1) bad(`members must be a positive integer, got ${o.members}`)
  for (const [k, v] of [['peerMttfMs', o.peerMttfMs], ['repairMs', o.repairMs], ['horizonMs', o.horizonMs]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) bad(`${k} must be positive and finite, got ${v}`)
  }
  if (o.dist !== 'exp' && o.dist !== 'fixed' && o.dist !== 'uniform') bad(`unknown dist ${String(o.dist)}`)
  const c = o.spareChoice
  if (c !== undefined) {
    if (c.choice !== 'uptime' && c.choice !== 'random') bad(`unknown spare choice ${String(c.choice)}`)
    if (!(c.shape >= 0.2 && c.shape <= 5)) bad(`spareChoice.shape must be in [0.2, 5], got ${c.shape}`)
    if (!(c.poolSize >= 1 && c.poolSize <= 500)) bad(`spareChoice.poolSize must be in [1, 500], got ${c.poolSize}`)
  }
}

/**
 * One lifetime of a VP on the real code. Deterministic per options (same seed ⇒ same result).
 * Throws RealRunError('ERR_REAL_SAFETY') if any safety checker fired.
 */
export async function runRealVp (o: RealRunOptions): Promise<RealRunResult> {
  validate(o)
  const tickMs = o.tickMs ?? 10
  // Detection R/20 keeps it small against G (the model has none), but well above the 30 ms
  // heartbeat so a live voter is never suspected.
  const replaceAfterTicks = o.replaceAfterTicks ?? Math.max(6, Math.round(o.repairMs / 20 / tickMs))
  const stallMs = o.stallMs ?? 20 * o.repairMs
  const pollMs = o.pollMs ?? 10
  // Set once the failure clocks start (t0): the schedule node behind each cluster node gives its
  // uptime, which the policy ranks candidates by.
  let t0 = 0
  const birthOf = new Map<NodeId, number>()
  const choice = o.spareChoice
  const policyRandom = randomSource(new Rng(o.seed, 'real:policy'))
  const cluster: SimCluster = new SimCluster({
    seed: o.seed,
    nodes: o.members,
    tickMs,
    network: { lossRate: o.lossRate ?? 0 },
    snapshotEverySlots: o.snapshotEverySlots ?? 1000,
    logRetentionSlots: o.logRetentionSlots ?? 200,
    ...(o.pipelineMax !== undefined ? { paxos: { alpha: o.pipelineMax } } : {}),
    replacement: {
      replaceAfterTicks,
      checkEveryTicks: o.checkEveryTicks ?? 2,
      // Only spares that have appeared (and are alive) can be handed out: this is where G enters.
      // With a member-choice policy the pool is ranked exactly as the runtime would rank the DHT's
      // candidates: rankSpares by uptime (exact here), or shuffled.
      candidates: choice === undefined
        ? () => cluster.upIds()
        : () => {
            const now = s.now() - t0
            return rankSpares(cluster.upIds().map(id => {
              const birth = birthOf.get(id)
              return { id, uptimeMs: birth === undefined ? undefined : now - birth }
            }), choice.choice, policyRandom)
          }
    },
    ...(o.trace !== undefined ? { trace: o.trace } : {})
  })
  const s = cluster.scheduler
  const history: HistoryEvent[] = []
  const clientPrng = cluster.prng.fork('mttf:clients')
  const clients = Array.from({ length: o.clients ?? 3 }, (_, i) => new SimClient(cluster, clientPrng.fork(`c${i}`), history, {
    process: i + 1, keys: ['k1', 'k2', 'k3'], attemptTimeoutMs: 1000, attempts: 3, thinkMsMax: o.thinkMsMax ?? 100, readRatio: 0, casRatio: 0.2
  }))

  await cluster.start()
  const loops = clients.map(async c => { await c.run() })
  await s.runUntilAsync(s.now() + (o.warmupMs ?? 1000))
  t0 = s.now()
  const horizonAt = t0 + o.horizonMs
  const schedule = makeSchedule(o)
  // Schedule node k ↔ cluster node: the bootstrap voters, then spares in the order they appear.
  const idOf = new Map<number, NodeId>(cluster.bootstrapVoters.map((id, i) => [i, id]))
  const births = schedule instanceof ChoiceSchedule ? schedule : undefined
  for (const [k, id] of idOf) if (births !== undefined) birthOf.set(id, births.peer(k).birthMs)

  const crashes: CrashRecord[] = []
  const crashedAt = new Map<NodeId, number>()
  const appearedAt = new Map<NodeId, number>()
  const learnerAt = new Map<NodeId, number>()
  const detectedAt = new Map<NodeId, number>()
  const records: ReplacementRecord[] = []
  let leaderFailures = 0
  let sparesAdded = 0

  let config = newestConfig(cluster)
  let lastChosen = cluster.checker.commandsChosen
  let lastCommitAt = s.now()
  let longestStall: { fromMs: number, forMs: number } | undefined
  let deathAt: number | undefined
  // Lifetimes are reported on the schedule's clock (exact event times, so that real and model
  // lifetimes that end at the same crash compare equal, not off by a rounding error).
  let deathAtMs: number | undefined
  let stepCrashAtMs: number | undefined
  let idleLiveAtDeath = 0

  /** Samples the world after each step: configurations, replacements, detection, commits. */
  const observe = (): void => {
    const now = s.now()
    const chosen = cluster.checker.commandsChosen
    if (chosen !== lastChosen) {
      lastChosen = chosen
      lastCommitAt = now
    }
    if (deathAt === undefined && now - lastCommitAt >= stallMs && (longestStall === undefined || now - lastCommitAt > longestStall.forMs)) {
      longestStall = { fromMs: lastCommitAt - t0, forMs: now - lastCommitAt }
    }
    const next = newestConfig(cluster)
    if (next !== undefined && config !== undefined && next.epoch !== config.epoch) {
      for (const l of next.learners) if (!learnerAt.has(l)) learnerAt.set(l, now)
      const before = config.voters
      const added = next.voters.filter(v => !before.includes(v))
      const removed = before.filter(v => !next.voters.includes(v))
      // The policy replaces one voter at a time (replaceVoter), so these pair up one to one.
      for (let i = 0; i < Math.min(added.length, removed.length); i++) {
        const a = added[i] as NodeId
        const r = removed[i] as NodeId
        const crashed = crashedAt.get(r)
        const appeared = appearedAt.get(a)
        const learner = learnerAt.get(a)
        records.push({
          removed: r,
          added: a,
          repairMs: crashed !== undefined ? now - crashed : undefined,
          afterSpareMs: appeared !== undefined ? now - appeared : undefined,
          toLearnerMs: appeared !== undefined && learner !== undefined ? learner - appeared : undefined
        })
      }
    }
    if (next !== undefined) config = next
    const leader = cluster.leader()
    const ls = leader !== undefined ? cluster.peer(leader)?.status() : undefined
    if (ls !== undefined) {
      for (const p of ls.peers) {
        if (crashedAt.has(p.id) && !detectedAt.has(p.id) && ls.configuration.voters.includes(p.id) && ls.ticks - p.lastHeardTick > replaceAfterTicks) detectedAt.set(p.id, now)
      }
    }
    // (a) Structural death. With no live node at all nothing is known: the VP is dead too.
    if (deathAt === undefined) {
      const voters = config?.voters ?? []
      const live = voters.filter(v => cluster.isUp(v)).length
      if (config === undefined || live < Math.floor(voters.length / 2) + 1) {
        deathAt = now
        deathAtMs = stepCrashAtMs ?? now - t0
        idleLiveAtDeath = cluster.upIds().filter(id => !voters.includes(id)).length
      }
    }
  }

  while (deathAt === undefined && s.now() < horizonAt) {
    await s.runUntilAsync(Math.min(s.now() + pollMs, horizonAt, t0 + schedule.peek().atMs))
    const now = s.now()
    stepCrashAtMs = undefined
    while (t0 + schedule.peek().atMs <= now) {
      const e = schedule.next()
      if (e.kind === 'crash') {
        const id = idOf.get(e.node)
        if (id === undefined) throw new RealRunError('ERR_REAL_INTERNAL', `schedule: node ${e.node} crashes before it appeared`)
        const wasLeader = cluster.leader() === id
        if (wasLeader) leaderFailures++
        const role = config?.voters.includes(id) === true ? 'voter' : config?.learners.includes(id) === true ? 'learner' : 'spare'
        cluster.crash(id)
        crashedAt.set(id, now)
        crashes.push({ id, atMs: e.atMs, role, wasLeader })
        stepCrashAtMs = e.atMs
        cluster.trace(`mttf: ${id} failed for good`)
      } else {
        // The model's repair: a fresh spare becomes available G after a failure.
        const id = await cluster.addSpare()
        idOf.set(e.node, id)
        if (births !== undefined) birthOf.set(id, births.peer(e.node).birthMs)
        sparesAdded++
        appearedAt.set(id, now)
      }
    }
    observe()
  }
  const censored = deathAt === undefined

  // (b) Operational check: keep the clients writing until nothing has been committed for
  // stallMs. A structurally dead VP must not commit again, beyond commands already chosen and
  // still being applied: a grace of a few polls and fsyncs.
  const disagreements: Disagreement[] = []
  if (longestStall !== undefined) disagreements.push({ kind: 'stall-while-structurally-alive', ...longestStall })
  let operationalMs: number | undefined
  if (deathAt !== undefined) {
    const grace = 5 * pollMs + 50
    let reported = false
    while (s.now() < lastCommitAt + stallMs) {
      await s.runUntilAsync(Math.min(s.now() + 100, lastCommitAt + stallMs))
      observe()
      if (!reported && lastCommitAt > deathAt + grace) {
        disagreements.push({ kind: 'commit-after-structural-death', atMs: lastCommitAt - t0 })
        reported = true
      }
    }
    operationalMs = lastCommitAt - t0
  }

  const finalConfig = config
  const end = s.now()
  for (const c of clients) c.stop()
  cluster.haltAll()
  await s.runUntilAsync(s.now() + 1)
  await Promise.all(loops)

  if (cluster.checker.violations.length > 0) {
    const v = cluster.checker.violations
    throw new RealRunError('ERR_REAL_SAFETY', `seed ${o.seed}: safety violation: ${v.map(x => `${x.kind}: ${x.message}`).join(' | ')}`, v)
  }
  const detectionMs: number[] = []
  const leaderDetectionMs: number[] = []
  for (const [id, t] of detectedAt) {
    const c = crashedAt.get(id)
    if (c !== undefined) detectionMs.push(t - c)
    if (c !== undefined && crashes.some(x => x.id === id && x.wasLeader)) leaderDetectionMs.push(t - c)
  }
  const finalVoters = finalConfig?.voters ?? []
  // The model on the same schedule. Heavy tails make it occasionally very long: cap it where it
  // no longer matters (every estimator truncates at the horizon).
  const shadow = scheduleLifetime(makeSchedule(o), o.members, o.spareChoice === undefined ? Infinity : 4 * o.horizonMs)
  return {
    seed: o.seed,
    members: o.members,
    lifetimeMs: deathAtMs,
    censored,
    modelLifetimeMs: shadow.lifetimeMs,
    ...(o.spareChoice !== undefined ? { modelCensored: shadow.censored } : {}),
    operationalMs,
    disagreements,
    crashes,
    leaderFailures,
    replacements: records,
    detectionMs,
    leaderDetectionMs,
    sparesAdded,
    idleLiveAtDeath,
    commits: clients.reduce((n, c) => n + c.ok, 0),
    commandsChosen: cluster.checker.commandsChosen,
    slots: cluster.checker.highestChosen(),
    replaceAfterTicks,
    stallMs,
    finalVoters,
    finalLiveVoters: finalVoters.filter(v => !crashedAt.has(v)).length,
    virtualMs: end
  }
}

// ---------------------------------------------------------------------------------------------
// Estimators over many runs of one grid point (pure; the CLI and the tests use them).

const Z95 = 1.959963984540054

export interface Estimate {
  readonly mean: number
  readonly lo: number
  readonly hi: number
}

/**
 * Ratio estimator Σx/Σy with a delta-method 95 % CI: Var(r̂) ≈ Var(x − r·y) / (n·ȳ²).
 * With y ≡ 1 it is the sample mean with the usual CLT interval. Undefined if Σy = 0.
 */
export function ratioEstimate (xs: readonly number[], ys: readonly number[]): Estimate | undefined {
  const n = xs.length
  let sx = 0
  let sy = 0
  for (let i = 0; i < n; i++) { sx += xs[i] as number; sy += ys[i] as number }
  if (n === 0 || sy === 0) return undefined
  const r = sx / sy
  if (n < 2) return { mean: r, lo: r, hi: r }
  let ss = 0
  for (let i = 0; i < n; i++) { const d = (xs[i] as number) - r * (ys[i] as number); ss += d * d }
  const ybar = sy / n
  const half = Z95 * Math.sqrt(ss / (n - 1) / n) / ybar
  return { mean: r, lo: Math.max(0, r - half), hi: r + half }
}

const mean = (xs: readonly number[]): number | undefined => xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length

export interface PointSummary {
  readonly runs: number
  /** Runs still alive at the horizon. */
  readonly censored: number
  /**
   * Real-code mean lifetime, ms: total time on test / number of VP failures, i.e.
   * Σ min(Tᵢ, H) / #{Tᵢ ≤ H} — the exponential MLE under censoring, and exactly the sample mean
   * when nothing is censored. Undefined if no run failed.
   */
  readonly real: Estimate | undefined
  /** Same estimator for the operational lifetime (b) (last commit before the final stall). */
  readonly operational: Estimate | undefined
  /** The model's lifetime on the same schedules (plain mean; never censored). */
  readonly model: Estimate | undefined
  /** Paired ratio real/model on the same schedules, both truncated at H (Σ min(Lr,H) / Σ min(Lm,H)). */
  readonly ratio: Estimate | undefined
  /** Runs in which the real VP died before the model did on the same schedule. */
  readonly earlier: number
  readonly disagreements: number
  readonly crashes: number
  readonly leaderCrashes: number
  readonly replacements: number
  /** Means over every observed event of the kind, ms. */
  readonly detectionMs: number | undefined
  readonly leaderDetectionMs: number | undefined
  readonly afterSpareMs: number | undefined
  readonly toLearnerMs: number | undefined
  readonly repairMs: number | undefined
  /** Runs in which some live node was not (yet) a voter when the VP died. */
  readonly idleAtDeath: number
}

export function summarize (results: readonly RealRunResult[], horizonMs: number): PointSummary {
  const trunc = (x: number): number => Math.min(x, horizonMs)
  const real = ratioEstimate(results.map(r => trunc(r.lifetimeMs ?? horizonMs)), results.map(r => r.censored ? 0 : 1))
  const operational = ratioEstimate(results.map(r => trunc(r.operationalMs ?? horizonMs)), results.map(r => r.operationalMs === undefined ? 0 : 1))
  const model = ratioEstimate(results.map(r => r.modelLifetimeMs), results.map(() => 1))
  const ratio = ratioEstimate(results.map(r => trunc(r.lifetimeMs ?? horizonMs)), results.map(r => trunc(r.modelLifetimeMs)))
  const reps = results.flatMap(r => r.replacements)
  const defined = (xs: ReadonlyArray<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined)
  return {
    runs: results.length,
    censored: results.filter(r => r.censored).length,
    real,
    operational,
    model,
    ratio,
    earlier: results.filter(r => r.lifetimeMs !== undefined && r.lifetimeMs < r.modelLifetimeMs).length,
    disagreements: results.filter(r => r.disagreements.length > 0).length,
    crashes: results.reduce((n, r) => n + r.crashes.length, 0),
    leaderCrashes: results.reduce((n, r) => n + r.leaderFailures, 0),
    replacements: reps.length,
    detectionMs: mean(results.flatMap(r => r.detectionMs)),
    leaderDetectionMs: mean(results.flatMap(r => r.leaderDetectionMs)),
    afterSpareMs: mean(defined(reps.map(x => x.afterSpareMs))),
    toLearnerMs: mean(defined(reps.map(x => x.toLearnerMs))),
    repairMs: mean(defined(reps.map(x => x.repairMs))),
    idleAtDeath: results.filter(r => r.idleLiveAtDeath > 0).length
  }
}
