/**
 * Issue 10, part 4: which spare to choose. A population of candidate peers that churn on their
 * own — the DHT the VP draws its members from — and the failure/repair schedule of a VP whose
 * members are chosen from it by a policy (`rankSpares`: by observed uptime, or at random).
 *
 * Peer lifetimes are Weibull(shape k, scale η) with η chosen so that the mean lifetime is the
 * given peer MTTF M: η = M / Γ(1 + 1/k). k < 1 is the heavy tail measured in real P2P networks
 * (the hazard falls with age: a peer that has been up long is likely to stay up long); k = 1 is
 * the exponential, memoryless control, under which age tells nothing.
 *
 * Peers arrive as a Poisson process of rate P/M, so the number alive is Poisson(P) at any moment
 * (Little's law, an M/G/∞ queue) and the pool holds peers of every age. The run starts from that
 * stationary state: P ~ Poisson(P) peers, ages iid from the equilibrium density S(a)/M, each
 * with its lifetime conditioned on having reached its age. A chosen peer keeps its own lifetime:
 * picked at age a, it dies at birth + L, i.e. after L − a — never after a fresh draw. That is
 * the whole reason uptime can matter.
 *
 * Pure and seeded. Every random quantity has its own named stream, so for one seed the
 * population (births, lifetimes) and the repair times are the same whatever the policy picks
 * (common random numbers: the paired ratio uptime / random compares the two policies on the same
 * world).
 */
import type { RandomSource } from '../../src/paxos/index.js'
import { rankSpares, type SpareChoice } from '../../src/vpeer/spare-choice.js'
import { MttfError } from './errors.js'
import type { RepairDist } from './model.js'
import { Rng } from './prng.js'

/** One G draw, ms, from the model's distribution with parameter R. */
export function drawRepair (rng: Rng, dist: RepairDist, repairMs: number): number {
  switch (dist) {
    case 'exp': return rng.exp(1 / repairMs)
    case 'fixed': return repairMs
    case 'uniform': return rng.next() * repairMs
  }
}

// ---------------------------------------------------------------------------------------------
// Distributions.

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]

/** Γ(x) for real x > 0 (Lanczos, g = 7: ~15 significant digits on the range used here). */
export function gammaFn (x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new MttfError('ERR_MTTF_BAD_PARAMS', `gammaFn: x must be positive and finite, got ${x}`)
  // Reflection keeps the series in its accurate range.
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gammaFn(1 - x))
  const z = x - 1
  let a = LANCZOS[0] as number
  const t = z + 7.5
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i)
  return Math.sqrt(2 * Math.PI) * Math.pow(t, z + 0.5) * Math.exp(-t) * a
}

/** The Weibull scale η whose mean is `meanMs` at shape k. */
export function weibullScale (shape: number, meanMs: number): number {
  return meanMs / gammaFn(1 + 1 / shape)
}

/** Weibull(k, η) variate by inversion: η·(−ln U)^(1/k). */
export function sampleWeibull (rng: Rng, shape: number, scale: number): number {
  return scale * Math.pow(-Math.log(1 - rng.next()), 1 / shape)
}

/** Standard normal (Box–Muller; the second variate is dropped to keep streams simple). */
function sampleNormal (rng: Rng): number {
  const u = 1 - rng.next()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
}

/** Gamma(α, 1) variate: Marsaglia–Tsang for α ≥ 1, boosted by U^(1/α) below 1. */
export function sampleGamma (rng: Rng, alpha: number): number {
  if (alpha < 1) return sampleGamma(rng, alpha + 1) * Math.pow(1 - rng.next(), 1 / alpha)
  const d = alpha - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const x = sampleNormal(rng)
    const v0 = 1 + c * x
    if (v0 <= 0) continue
    const v = v0 * v0 * v0
    const u = 1 - rng.next()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v
  }
}

/** Poisson(mean) variate by multiplication (Knuth); exact, fine for the pool sizes used (≤ ~500). */
export function samplePoisson (rng: Rng, mean: number): number {
  const limit = Math.exp(-mean)
  let k = 0
  let p = 1 - rng.next()
  while (p > limit) {
    k++
    p *= 1 - rng.next()
  }
  return k
}

/** Adapter: rankSpares' RandomSource on our Rng. */
export function randomSource (rng: Rng): RandomSource {
  return { int: (min, max) => min + Math.floor(rng.next() * (max - min)) }
}

// ---------------------------------------------------------------------------------------------
// The churning population.

export interface PopulationParams {
  readonly seed: number
  /** Weibull shape k (k < 1: heavy tail; 1: exponential). */
  readonly shape: number
  /** Mean peer lifetime M (the peer MTTF), ms. */
  readonly peerMttfMs: number
  /** Mean number of live peers P (arrival rate P / M). */
  readonly poolSize: number
}

export interface PopulationPeer {
  readonly id: string
  /** ms from the start; negative for the peers already up at the start (−age). */
  readonly birthMs: number
  /** birth + the peer's own Weibull lifetime. */
  readonly deathMs: number
}

export function validatePopulation (p: PopulationParams): void {
  const bad = (why: string): never => { throw new MttfError('ERR_MTTF_BAD_PARAMS', `population: ${why}`) }
  if (!Number.isSafeInteger(p.seed) || p.seed < 0) bad(`seed must be a non-negative integer, got ${p.seed}`)
  if (!(p.shape >= 0.2 && p.shape <= 5)) bad(`shape must be in [0.2, 5], got ${p.shape}`)
  if (!(p.peerMttfMs > 0) || !Number.isFinite(p.peerMttfMs)) bad(`peerMttfMs must be positive and finite, got ${p.peerMttfMs}`)
  if (!(p.poolSize >= 1 && p.poolSize <= 500)) bad(`poolSize must be in [1, 500], got ${p.poolSize}`)
}

/**
 * Live candidate peers as a function of time. Generated lazily but in a fixed order (the
 * initial pool, then arrivals one by one, each arrival's gap and lifetime drawn together), so
 * the population does not depend on when or how often it is queried. Peers handed out by
 * `take` leave the pool (a member is no longer a candidate).
 */
export class Population {
  readonly scale: number
  private readonly arrivals: Rng
  private readonly ratePerMs: number
  private readonly shape: number
  private alive: PopulationPeer[] = []
  private lookahead: PopulationPeer
  private count = 0
  private nowMs = 0

  /** `minInitial`: at least this many peers at the start (see ChoiceSchedule: N initial members). */
  constructor (p: PopulationParams, minInitial = 0) {
    validatePopulation(p)
    this.shape = p.shape
    this.scale = weibullScale(p.shape, p.peerMttfMs)
    this.ratePerMs = p.poolSize / p.peerMttfMs
    const initial = new Rng(p.seed, 'choice:initial-pool')
    this.arrivals = new Rng(p.seed, 'choice:arrivals')
    // Stationary start. With u = (a/η)^k the equilibrium age density S(a)/M becomes
    // u^(1/k − 1)·e^(−u): u ~ Gamma(1/k). Given age a, P(L > x | L > a) = exp(−(x/η)^k + u), so
    // (L/η)^k = u + Exp(1).
    const n = Math.max(minInitial, samplePoisson(initial, p.poolSize))
    for (let i = 0; i < n; i++) {
      const u = sampleGamma(initial, 1 / p.shape)
      const age = this.scale * Math.pow(u, 1 / p.shape)
      const life = this.scale * Math.pow(u + initial.exp(1), 1 / p.shape)
      this.alive.push({ id: this.nextId(), birthMs: -age, deathMs: life - age })
    }
    this.lookahead = this.drawArrival(0)
  }

  private nextId (): string {
    return `p${this.count++}`
  }

  private drawArrival (afterMs: number): PopulationPeer {
    const birthMs = afterMs + this.arrivals.exp(this.ratePerMs)
    return { id: this.nextId(), birthMs, deathMs: birthMs + sampleWeibull(this.arrivals, this.shape, this.scale) }
  }

  /** The live, not yet taken peers at `atMs` (not before the last query: time only moves forward). */
  available (atMs: number): readonly PopulationPeer[] {
    if (atMs < this.nowMs) throw new MttfError('ERR_MTTF_BAD_PARAMS', `population: time went back from ${this.nowMs} to ${atMs}`)
    this.nowMs = atMs
    while (this.lookahead.birthMs <= atMs) {
      this.alive.push(this.lookahead)
      this.lookahead = this.drawArrival(this.lookahead.birthMs)
    }
    this.alive = this.alive.filter(x => x.deathMs > atMs)
    return this.alive
  }

  /** When the next peer arrives (after the last query). */
  nextArrivalMs (): number {
    return this.lookahead.birthMs
  }

  take (id: string): PopulationPeer {
    const i = this.alive.findIndex(x => x.id === id)
    if (i < 0) throw new MttfError('ERR_MTTF_BAD_PARAMS', `population: ${id} is not available`)
    const [peer] = this.alive.splice(i, 1)
    return peer as PopulationPeer
  }
}

// ---------------------------------------------------------------------------------------------
// The VP's schedule when members are chosen from the population.

/**
 * A node of the VP fails (permanently), or a chosen spare appears. Nodes are numbered in the
 * order the schedule creates them: 0..N−1 the initial members, then one per failure.
 */
export interface ScheduleEvent {
  readonly atMs: number
  readonly kind: 'crash' | 'spare'
  readonly node: number
}

/** What runRealVp and the model consume: the next event, then the next, … */
export interface VpSchedule {
  peek: () => ScheduleEvent
  next: () => ScheduleEvent
}

export interface ChoiceScheduleParams extends PopulationParams {
  readonly members: number
  readonly repairMs: number
  readonly dist: RepairDist
  readonly choice: SpareChoice
}

type Pending = ScheduleEvent | { readonly atMs: number, readonly kind: 'slot' }

/**
 * The schedule of one seed under a member-choice policy, independent of the protocol:
 *
 * * the N initial members are the first N of `rankSpares(pool at time 0, choice)` — the same
 *   policy that picks replacements also formed the group (the initial pool is Poisson(P) but
 *   at least N: at P = 20 the floor changes a draw with probability ≈ 1e-6 for N = 5);
 * * each failure of a VP node (voter, learner or a spare not yet used, as in `FailureSchedule`)
 *   opens a slot G later — G, the model's repair time, is the time to find and bring in a spare;
 * * when a slot opens, the policy ranks the live pool by `rankSpares` (uptime = now − birth; the
 *   simulator's uptimes are exact) and the first one becomes a VP node; an empty pool postpones
 *   the slot to the next arrival;
 * * a VP node crashes at its own death time (birth + its Weibull lifetime).
 */
export class ChoiceSchedule implements VpSchedule {
  readonly population: Population
  /** Every choice so far (the initial members included): count, Σ age and Σ remaining life at the choice, ms. */
  readonly choices = { count: 0, ageMs: 0, remainingMs: 0 }
  private readonly repairs: Rng
  private readonly pick: RandomSource
  private readonly pending: Pending[] = []
  private readonly peers: PopulationPeer[] = []
  private readonly p: ChoiceScheduleParams

  constructor (p: ChoiceScheduleParams) {
    if (!Number.isInteger(p.members) || p.members < 1) throw new MttfError('ERR_MTTF_BAD_PARAMS', `members must be a positive integer, got ${p.members}`)
    if (!(p.repairMs > 0) || !Number.isFinite(p.repairMs)) throw new MttfError('ERR_MTTF_BAD_PARAMS', `repairMs must be positive and finite, got ${p.repairMs}`)
    if (p.choice !== 'uptime' && p.choice !== 'random') throw new MttfError('ERR_MTTF_BAD_PARAMS', `unknown choice ${String(p.choice)}`)
    this.p = p
    this.population = new Population(p, p.members)
    this.repairs = new Rng(p.seed, 'choice:repairs')
    this.pick = randomSource(new Rng(p.seed, 'choice:pick'))
    this.peers.push(...this.choose(0, p.members))
    this.peers.forEach((peer, node) => { this.pending.push({ atMs: peer.deathMs, kind: 'crash', node }) })
  }

  /** The population peer behind schedule node `node` (its birth gives its uptime at any time). */
  peer (node: number): PopulationPeer {
    const peer = this.peers[node]
    if (peer === undefined) throw new MttfError('ERR_MTTF_BAD_PARAMS', `schedule: node ${node} does not exist yet`)
    return peer
  }

  private choose (atMs: number, count: number): PopulationPeer[] {
    const pool = this.population.available(atMs)
    const ranked = rankSpares(pool.map(x => ({ id: x.id, uptimeMs: atMs - x.birthMs })), this.p.choice, this.pick)
    const chosen = ranked.slice(0, count).map(id => this.population.take(id))
    for (const c of chosen) {
      this.choices.count++
      this.choices.ageMs += atMs - c.birthMs
      this.choices.remainingMs += c.deathMs - atMs
    }
    return chosen
  }

  peek (): ScheduleEvent {
    for (;;) {
      let best = this.pending[0] as Pending
      for (const e of this.pending) if (e.atMs < best.atMs) best = e
      if (best.kind !== 'slot') return best
      // Every earlier event is consumed, so the pool seen here is the pool at best.atMs.
      const i = this.pending.indexOf(best)
      const [chosen] = this.choose(best.atMs, 1)
      if (chosen === undefined) {
        this.pending[i] = { atMs: this.population.nextArrivalMs(), kind: 'slot' }
      } else {
        const node = this.peers.length
        this.peers.push(chosen)
        this.pending[i] = { atMs: best.atMs, kind: 'spare', node }
      }
    }
  }

  next (): ScheduleEvent {
    const e = this.peek()
    this.pending.splice(this.pending.indexOf(e), 1)
    if (e.kind === 'crash') this.pending.push({ atMs: e.atMs + drawRepair(this.repairs, this.p.dist, this.p.repairMs), kind: 'slot' })
    else this.pending.push({ atMs: this.peer(e.node).deathMs, kind: 'crash', node: e.node })
    return e
  }
}

export interface ScheduleLifetime {
  /** ms; equal to the cap when censored. */
  readonly lifetimeMs: number
  readonly censored: boolean
  /** Spares that appeared before the end. */
  readonly spares: number
}

/**
 * The model's lifetime on a schedule: a spare is a member the instant it appears (no detection,
 * no catch-up), so the VP dies the first time fewer than a majority of its nodes are alive —
 * the model of simulations/mttf with parallel repair. Censored at `capMs`.
 */
export function scheduleLifetime (schedule: VpSchedule, members: number, capMs = Infinity): ScheduleLifetime {
  const majority = Math.floor(members / 2) + 1
  let live = members
  let spares = 0
  for (;;) {
    if (schedule.peek().atMs > capMs) return { lifetimeMs: capMs, censored: true, spares }
    const e = schedule.next()
    if (e.kind === 'spare') spares++
    live += e.kind === 'crash' ? -1 : 1
    if (live < majority) return { lifetimeMs: e.atMs, censored: false, spares }
  }
}
