/**
 * `npm run demo:sim`: one simulated virtual peer you can watch.
 *
 * Five real `VirtualPeer`s (the same runtime the libp2p build will use) run Multi-Paxos over a
 * seeded simulated network, disks and clocks, while recording clients write, cas and read a
 * small key-value store. A scripted fault schedule shows the interesting cases early (the leader
 * crashes, a minority is cut off, the leader ends up on the minority side, messages are lost in
 * bursts, a node restarts and catches up), then the seed draws random faults, and the last
 * seconds are a healed liveness phase. Every safety checker runs throughout; linearizability
 * and convergence are judged at the end.
 *
 * Same seed ⇒ same narration: the simulation never reads a real clock. Wall-clock time is used
 * only to pace the output (`--speed`), between slices of virtual time.
 */
import { writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { parseArgs, styleText } from 'node:util'
import { formatBallot } from '../src/paxos/ballot.js'
import type { NodeId } from '../src/paxos/types.js'
import type { Violation, ViolationKind } from '../src/sim/checkers.js'
import { SimClient } from '../src/sim/client.js'
import { SimCluster } from '../src/sim/cluster.js'
import { checkHistory, formatViolation } from '../src/sim/lincheck/index.js'
import type { HistoryEvent } from '../src/sim/lincheck/index.js'
import type { Prng } from '../src/sim/prng.js'
import { parseFaults } from '../src/sim/vopr.js'
import type { FaultSet } from '../src/sim/vopr.js'

export interface DemoOptions {
  readonly seed: number
  readonly nodes: number
  /** Virtual seconds of the run proper (draining and convergence come after). */
  readonly seconds: number
  /** Virtual seconds per real second; Infinity runs as fast as possible. */
  readonly speed: number
  readonly faults: FaultSet
  readonly quiet: boolean
  readonly history: string | undefined
}

/** Where the demo writes; tests pass a collector, the script passes stdout. */
export interface DemoIo {
  /** One line of output, without the newline. */
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  /** Colour and the default speed depend on whether a person is watching. */
  readonly isTTY: boolean
  readonly env: Readonly<Record<string, string | undefined>>
}

const USAGE = `usage: npm run demo:sim -- [options]

Runs a simulated virtual peer under faults and narrates it.
  --seed N             run seed (default 1); same seed, same run
  --nodes N            members (default 5)
  --seconds S          virtual seconds (default 30; the last ~5 are a healed liveness phase)
  --speed X|max        virtual seconds per real second (default 5 on a terminal, max otherwise)
  --faults all|none|L  fault kinds, L a comma list of: loss, duplication, reordering, crashes,
                       partitions, oneWay, clockSkew (default all)
  --history FILE       write the client history as JSON lines (check with npm run lincheck -- FILE)
  --quiet              print only the summary
Exit codes: 0 every verdict passed, 1 a verdict failed, 2 bad options`

class UsageError extends Error {
  readonly code = 'ERR_DEMO_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

function intOption (flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(text)}`)
  const n = Number(text)
  if (n < min || n > max) throw new UsageError(`${flag} must be in [${min}, ${max}], got ${n}`)
  return n
}

export function parseDemoArgs (argv: readonly string[], io: Pick<DemoIo, 'isTTY' | 'env'>): DemoOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string', default: '1' },
      nodes: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '30' },
      speed: { type: 'string' },
      faults: { type: 'string', default: 'all' },
      history: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) return 'help'
  const seconds = Number(values.seconds)
  if (!(seconds >= 1 && seconds <= 3600)) throw new UsageError(`--seconds must be in [1, 3600], got ${JSON.stringify(values.seconds)}`)
  // A person at a terminal wants to watch; a pipe, a file or CI wants the result now.
  const watching = io.isTTY && (io.env.CI === undefined || io.env.CI === '')
  let speed = watching ? 5 : Infinity
  if (values.speed !== undefined) {
    speed = ['max', 'inf', 'infinity', '0'].includes(values.speed.toLowerCase()) ? Infinity : Number(values.speed)
    if (!(speed > 0)) throw new UsageError(`--speed must be a positive number or "max", got ${JSON.stringify(values.speed)}`)
  }
  let faults: FaultSet
  try {
    faults = parseFaults(values.faults)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  return {
    seed: intOption('--seed', values.seed, 0, Number.MAX_SAFE_INTEGER),
    nodes: intOption('--nodes', values.nodes, 1, 9),
    seconds,
    speed,
    faults,
    quiet: values.quiet,
    history: values.history
  }
}

// ---------------------------------------------------------------------------------------------

type Style = Parameters<typeof styleText>[0]

const KEYS = ['k1', 'k2', 'k3']
const SLICE_MS = 100
/** After healing, elections and restarts need a moment before every operation must succeed. */
const GRACE_MS = 2500
/** How long clients may take to finish their last operation, and replicas to converge, after the end. */
const DRAIN_MS = 6000
const CONVERGE_MS = 12000

interface Action {
  readonly at: number
  readonly seq: number
  readonly run: () => Promise<void> | void
}

interface ScriptStep {
  readonly at: number
  /** Returns false when the step cannot happen yet (say, no leader); it is retried next slice. */
  readonly run: () => Promise<boolean> | boolean
}

interface Verdict {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** The run itself: cluster, clients, faults, narration. One instance per run. */
class Demo {
  readonly cluster: SimCluster
  readonly history: HistoryEvent[] = []
  private readonly o: DemoOptions
  private readonly io: DemoIo
  private readonly color: boolean
  private readonly clients: SimClient[]
  private readonly prng: Prng
  private readonly livenessMs: number
  /** Faults stop here; from here on the cluster is healed. */
  private readonly faultEnd: number
  private readonly endMs: number
  private readonly actions: Action[] = []
  private actionSeq = 0
  private readonly roles = new Map<NodeId, string>()
  /** Each node's pending "caught up" report after a restart: the slot it must reach. */
  private readonly catchUp = new Map<NodeId, { target: number, since: number }>()
  /** Generation counters, so a heal scheduled for an old partition does not end a newer one. */
  private partitionGen = 0
  private lossGen = 0
  private netState = 'ok'
  private lossRate = 0
  private readonly blocked = new Set<string>()
  private lastChosen = 0
  private lastViolations = 0
  readonly counts = { elections: 0, partitions: 0, lossBursts: 0, oneWay: 0 }
  readonly leaders: NodeId[] = []

  constructor (options: DemoOptions, io: DemoIo) {
    this.o = options
    this.io = io
    this.color = io.isTTY && (io.env.NO_COLOR === undefined || io.env.NO_COLOR === '')
    const f = options.faults
    this.cluster = new SimCluster({
      seed: options.seed,
      nodes: options.nodes,
      // Background noise the protocol must shrug off; loss comes in scripted and random bursts.
      network: { lossRate: 0, duplicateRate: f.duplication ? 0.01 : 0, reorderRate: f.reordering ? 0.05 : 0 },
      clockSkew: f.clockSkew ? 0.05 : 0
    })
    this.prng = this.cluster.prng.fork('demo-faults')
    const clientPrng = this.cluster.prng.fork('clients')
    this.clients = Array.from({ length: 5 }, (_, i) => new SimClient(this.cluster, clientPrng.fork(`c${i}`), this.history, {
      process: i + 1, keys: KEYS, attemptTimeoutMs: 500, attempts: 3, thinkMsMax: 40, readRatio: 0.4, casRatio: 0.2
    }))
    const totalMs = Math.round(options.seconds * 1000)
    this.livenessMs = Math.min(5000, Math.max(2500, totalMs / 4))
    this.faultEnd = Math.max(0, totalMs - this.livenessMs)
    this.endMs = totalMs
  }

  // --- output -------------------------------------------------------------------------------

  private paint (style: Style, text: string): string {
    return this.color ? styleText(style, text, { validateStream: false }) : text
  }

  private stamp (): string {
    return this.paint('gray', `[${(this.cluster.scheduler.now() / 1000).toFixed(2).padStart(5)}s]`)
  }

  /** One narrated event. */
  say (text: string): void {
    if (!this.o.quiet) this.io.out(`${this.stamp()} ${text}`)
  }

  private set (ids: readonly NodeId[]): string {
    return `{${ids.join(',')}}`
  }

  // --- the run ------------------------------------------------------------------------------

  async run (): Promise<void> {
    const c = this.cluster
    const f = this.o.faults
    const kinds = Object.entries(f).filter(([, on]) => on).map(([k]) => k)
    const all = kinds.length === Object.keys(f).length
    this.say(this.paint('bold', `virtual peer of ${plural(this.o.nodes, 'member')} ${this.set(c.ids)}, seed ${this.o.seed}, ${this.o.seconds} s virtual`) +
      `, faults: ${all ? 'all' : kinds.length === 0 ? 'none' : kinds.join(' ')}`)
    this.say(this.paint('gray', '· every second: leader │ commands committed/s │ client ops │ members up ● down ○ │ network │ safety checker'))
    await c.start()
    for (const id of c.ids) this.attach(id)
    const loops = this.clients.map(async client => { await client.run() })
    const script = this.script()
    const realStart = performance.now()
    let nextRandom = this.nextRandomFault(Math.min(17_500, this.faultEnd))
    let healed = false

    while (c.scheduler.now() < this.endMs) {
      if (!healed && c.scheduler.now() >= this.faultEnd) {
        healed = true
        await this.healAll()
      }
      const now = c.scheduler.now()
      const sliceEnd = Math.min(this.endMs, (Math.floor(now / SLICE_MS) + 1) * SLICE_MS)
      // Stop exactly at the next fault so its narration carries its own time, not the slice's.
      const nextAction = this.actions[0]?.at ?? Infinity
      const stop = Math.max(now, Math.min(sliceEnd, nextAction, nextRandom, this.faultEnd > now ? this.faultEnd : Infinity))
      await c.scheduler.runUntilAsync(stop)
      await this.runDueActions()
      if (!healed && c.scheduler.now() >= this.faultEnd) {
        healed = true
        await this.healAll()
      }
      if (!healed) {
        while (script[0] !== undefined && script[0].at <= c.scheduler.now()) {
          if (!(await script[0].run())) break
          script.shift()
        }
        if (c.scheduler.now() >= nextRandom) {
          await this.randomFault()
          nextRandom = this.nextRandomFault(c.scheduler.now())
        }
      }
      this.checkSafetySoFar()
      if (c.scheduler.now() === sliceEnd) {
        if (sliceEnd % 1000 === 0) this.status()
        if (Number.isFinite(this.o.speed)) {
          // Pace only between slices: the simulation itself never sees real time.
          const due = sliceEnd / this.o.speed - (performance.now() - realStart)
          if (due > 0) await sleep(due)
        }
      }
    }

    this.say(this.paint('bold', '── end: clients stop; every replica must converge ──'))
    for (const client of this.clients) client.stop()
    // Let every client finish the operation it is in, so none is cut off by the end of the run.
    while (this.clients.some(cl => cl.running) && c.scheduler.now() < this.endMs + DRAIN_MS) {
      await c.scheduler.runUntilAsync(c.scheduler.now() + 50)
    }
    this.converged = await this.waitForConvergence(this.endMs + CONVERGE_MS)
    c.haltAll()
    await c.scheduler.runUntilAsync(c.scheduler.now() + 1)
    await Promise.all(loops)
  }

  converged: { ok: boolean, detail: string } = { ok: false, detail: 'not reached' }

  /** The scripted part of the schedule: each interesting case once, early, then the seed takes over. */
  private script (): ScriptStep[] {
    const c = this.cluster
    const f = this.o.faults
    const n = c.ids.length
    const minority = Math.floor((n - 1) / 2)
    const steps: ScriptStep[] = []
    if (f.crashes) {
      steps.push({
        at: 2000,
        run: () => {
          const leader = c.leader()
          if (leader === undefined) return false
          this.crash(leader, 'the leader')
          this.later(2500, () => this.restart(leader))
          return true
        }
      })
    }
    if (f.partitions && minority >= 1) {
      steps.push({
        at: 6000,
        run: () => {
          const leader = c.leader()
          if (leader === undefined) return false
          const cut = c.ids.filter(id => id !== leader).slice(-minority)
          this.later(2000, this.partition(cut, `a minority is cut off; leader ${leader} keeps a majority`))
          return true
        }
      }, {
        at: 9500,
        run: () => {
          const leader = c.leader()
          if (leader === undefined) return false
          const side = [leader, ...c.ids.filter(id => id !== leader).slice(0, minority - 1)]
          this.later(3000, this.partition(side, `leader ${leader} is on the minority side`))
          return true
        }
      })
    }
    if (f.loss) {
      steps.push({ at: 13_000, run: () => { this.lossBurst(0.3, 1500); return true } })
    }
    if (f.crashes && minority >= 1) {
      steps.push({
        at: 15_000,
        run: () => {
          const leader = c.leader()
          if (leader === undefined) return false
          // As many followers as the group can lose and still decide: it must keep committing.
          const victims = c.upIds().filter(id => id !== leader).slice(0, minority)
          victims.forEach((id, i) => { this.crash(id, i === victims.length - 1 ? `${victims.length} of ${n} down, a majority remains` : '') })
          this.later(2000, async () => { for (const id of victims) await this.restart(id) })
          return true
        }
      })
    }
    return steps.filter(s => s.at < this.faultEnd)
  }

  /** After the script, one random fault every ~1.2 s (slow enough to follow). */
  private nextRandomFault (from: number): number {
    const f = this.o.faults
    if (!(f.crashes || f.partitions || f.oneWay || f.loss)) return Infinity
    const at = from + 300 + this.prng.exponential(1200)
    return at < this.faultEnd ? at : Infinity
  }

  private async randomFault (): Promise<void> {
    const c = this.cluster
    const f = this.o.faults
    const n = c.ids.length
    const options: Array<() => Promise<void> | void> = []
    const down = c.ids.length - c.upIds().length
    // Keep a majority up: a viewer should see the group ride out the faults it is built to
    // survive; losing quorum on purpose is the VOPR's business (npm run sim).
    if (f.crashes && down < Math.floor((n - 1) / 2)) {
      options.push(() => {
        const id = this.prng.pick(c.upIds())
        this.crash(id, c.leader() === id ? 'the leader' : '')
        this.later(500 + this.prng.exponential(1500), () => this.restart(id))
      })
    }
    if (f.partitions && n >= 2) {
      options.push(() => {
        const ids = [...c.ids]
        this.prng.shuffle(ids)
        const side = ids.slice(0, this.prng.int(1, Math.floor(n / 2) + 1))
        const heal = this.partition(side, '')
        this.later(800 + this.prng.exponential(1500), heal)
      })
    }
    if (f.oneWay && n >= 2) {
      options.push(() => {
        const from = this.prng.pick(c.ids)
        const to = this.prng.pick(c.ids.filter(id => id !== from))
        this.blockOneWay(from, to, 500 + this.prng.exponential(1500))
      })
    }
    if (f.loss) options.push(() => { this.lossBurst(this.prng.pick([0.1, 0.2, 0.3]), 800 + this.prng.exponential(1000)) })
    if (options.length === 0) return
    await this.prng.pick(options)()
  }

  // --- faults, each narrated ----------------------------------------------------------------

  private later (delayMs: number, run: () => Promise<void> | void): void {
    const at = this.cluster.scheduler.now() + delayMs
    // Anything due after the faults end is moot: the liveness phase heals and restarts everything.
    if (at >= this.faultEnd) return
    this.actions.push({ at, seq: this.actionSeq++, run })
    this.actions.sort((a, b) => a.at - b.at || a.seq - b.seq)
  }

  private async runDueActions (): Promise<void> {
    for (;;) {
      const next = this.actions[0]
      if (next === undefined || next.at > this.cluster.scheduler.now()) return
      this.actions.shift()
      await next.run()
    }
  }

  private crash (id: NodeId, why: string): void {
    if (!this.cluster.isUp(id)) return
    this.cluster.crash(id)
    this.roles.set(id, 'down')
    this.catchUp.delete(id)
    this.say(`${this.paint('red', `✗ ${id} crashed`)}${why === '' ? '' : ` (${why})`}`)
  }

  private async restart (id: NodeId): Promise<void> {
    const c = this.cluster
    if (c.isUp(id)) return
    await c.restart(id)
    this.attach(id)
    const target = c.checker.highestChosen()
    const applied = c.peer(id)?.applied ?? 0
    const behind = target - applied
    this.say(`${this.paint('green', `↻ ${id} restarted`)} from its disk, ${behind === 0 ? 'up to date' : `${plural(behind, 'slot')} behind`}`)
    if (applied < target) this.catchUp.set(id, { target, since: c.scheduler.now() })
  }

  /** Cuts the network in two; returns the heal for this very partition (a no-op once a newer one replaced it). */
  private partition (side: readonly NodeId[], why: string): () => void {
    const c = this.cluster
    const rest = c.ids.filter(id => !side.includes(id))
    c.network.partition([side, rest])
    const gen = ++this.partitionGen
    this.counts.partitions++
    this.netState = `${this.set(side)}|${this.set(rest)}`
    this.say(`${this.paint('yellow', `⚡ partition ${this.set(side)} | ${this.set(rest)}`)}${why === '' ? '' : ` (${why})`}`)
    return () => {
      if (gen !== this.partitionGen) return
      // One group of everyone lifts the partition but keeps any one-way blocks (network.heal would not).
      c.network.partition([c.ids])
      this.netState = 'ok'
      this.say(this.paint('green', '✓ partition healed'))
    }
  }

  private blockOneWay (from: NodeId, to: NodeId, ms: number): void {
    const key = `${from}→${to}`
    if (this.blocked.has(key)) return
    this.cluster.network.blockOneWay(from, to)
    this.blocked.add(key)
    this.counts.oneWay++
    this.say(this.paint('yellow', `⇸ ${from} can no longer reach ${to} (one-way block)`))
    this.later(ms, () => {
      this.cluster.network.unblockOneWay(from, to)
      this.blocked.delete(key)
      this.say(this.paint('green', `✓ ${from} → ${to} restored`))
    })
  }

  private lossBurst (rate: number, ms: number): void {
    this.cluster.network.setFaults({ lossRate: rate })
    this.lossRate = rate
    this.counts.lossBursts++
    const gen = ++this.lossGen
    this.say(this.paint('yellow', `≈ message loss burst: ${Math.round(rate * 100)}% of messages dropped`))
    this.later(ms, () => {
      if (gen !== this.lossGen) return
      this.cluster.network.setFaults({ lossRate: 0 })
      this.lossRate = 0
      this.say(this.paint('green', '✓ message loss back to 0%'))
    })
  }

  private async healAll (): Promise<void> {
    const c = this.cluster
    this.actions.length = 0
    c.network.heal()
    c.network.setFaults({ lossRate: 0, duplicateRate: 0, reorderRate: 0 })
    this.blocked.clear()
    this.netState = 'ok'
    this.lossRate = 0
    this.say(this.paint('bold', '── liveness phase: network healed, every node back; the group must make progress ──'))
    for (const id of c.ids) await this.restart(id)
    this.liveFrom = c.scheduler.now() + Math.min(GRACE_MS, this.livenessMs / 2)
    this.firstLiveOp = this.history.length
  }

  liveFrom = Infinity
  firstLiveOp = 0

  // --- watching -----------------------------------------------------------------------------

  /** Listens to a peer instance (a restart makes a new one, so this runs again then). */
  private attach (id: NodeId): void {
    const c = this.cluster
    const peer = c.peer(id)
    if (peer === undefined) return
    this.roles.set(id, peer.status().role)
    peer.addEventListener('leader', () => {
      if (c.peer(id) !== peer) return
      const s = peer.status()
      const before = this.roles.get(id)
      this.roles.set(id, s.role)
      if (s.role === 'leader' && before !== 'leader') {
        this.counts.elections++
        this.leaders.push(id)
        this.say(this.paint(['bold', 'cyan'], `★ ${id} is leader (ballot ${formatBallot(s.ballot)})`))
      } else if (before === 'leader' && s.role !== 'leader') {
        const why = s.leader !== undefined && s.leader !== id ? `${s.leader} leads at ballot ${formatBallot(s.ballot)}` : 'lost contact with a majority'
        this.say(this.paint('magenta', `↓ ${id} stepped down (${why})`))
      }
    })
    peer.addEventListener('applied', () => {
      const wait = this.catchUp.get(id)
      if (wait === undefined || c.peer(id) !== peer || peer.applied < wait.target) return
      this.catchUp.delete(id)
      const took = (c.scheduler.now() - wait.since) / 1000
      this.say(this.paint('green', `⇡ ${id} caught up to slot ${wait.target} in ${took.toFixed(2)} s`))
    })
  }

  private checkSafetySoFar (): void {
    const v = this.cluster.checker.violations
    for (; this.lastViolations < v.length; this.lastViolations++) {
      const x = v[this.lastViolations] as Violation
      this.say(this.paint(['bold', 'red'], `‼ SAFETY VIOLATION ${x.kind}: ${x.message}`))
    }
  }

  /** The once-per-virtual-second status line. */
  private status (): void {
    const c = this.cluster
    const chosen = c.checker.highestChosen()
    let commands = 0
    for (let s = this.lastChosen + 1; s <= chosen; s++) commands += c.checker.chosenAt(s)?.commands.length ?? 0
    const slots = chosen - this.lastChosen
    this.lastChosen = chosen
    const leader = c.leader()
    const members = c.ids.map(id => !c.isUp(id) ? this.paint('red', '○') : id === leader ? this.paint(['bold', 'green'], '●') : '●').join('')
    const t = this.totals()
    const v = c.checker.violations
    const safety = v[0] === undefined ? this.paint('green', 'safety: ok') : this.paint(['bold', 'red'], `safety: ✗ ${v[0].kind}`)
    const net = [
      this.netState,
      ...(this.lossRate > 0 ? [`loss ${Math.round(this.lossRate * 100)}%`] : []),
      ...(this.blocked.size > 0 ? [`${this.blocked.size} one-way`] : [])
    ].filter(x => x !== 'ok' || (this.lossRate === 0 && this.blocked.size === 0)).join(', ')
    const sep = this.paint('gray', ' │ ')
    const line = [
      `leader ${leader === undefined ? this.paint('yellow', '—  ') : leader.padEnd(3)}`,
      // Slots/s only when batching makes it differ from commands/s, to keep the line short.
      `${String(commands).padStart(4)} cmd/s${commands - slots > slots / 10 ? ` (${slots} slots)` : ''}`,
      `ops ${t.ok} ok ${t.failed} failed ${t.unknown} unknown`,
      members,
      `net ${net}`,
      safety
    ].join(sep)
    this.say(this.paint('dim', '·') + ' ' + line)
  }

  private async waitForConvergence (deadline: number): Promise<{ ok: boolean, detail: string }> {
    const c = this.cluster
    for (;;) {
      const applied = c.ids.map(id => c.peer(id)?.applied ?? -1)
      const target = c.checker.highestChosen()
      const digests = new Set(c.ids.map(id => c.digest(id)))
      if (applied.every(a => a >= target) && new Set(applied).size === 1 && digests.size === 1) {
        return { ok: true, detail: `${c.ids.length === 1 ? 'the replica' : `all ${c.ids.length} replicas`} applied slot ${target} and ${c.ids.length === 1 ? 'holds its' : 'hold the same'} state` }
      }
      if (c.scheduler.now() >= deadline) {
        return { ok: false, detail: `replicas did not converge: ${c.ids.map((id, i) => `${id}@${applied[i]}`).join(' ')}, highest chosen ${target}` }
      }
      await c.scheduler.runUntilAsync(c.scheduler.now() + 100)
    }
  }

  /**
   * Client outcomes from the history. A cas whose expected value did not match is a `fail`
   * event too, but it is an answer, not an outage, so it is counted apart from the failures.
   */
  totals (): { ok: number, failed: number, unknown: number, casMismatch: number } {
    for (; this.tallied < this.history.length; this.tallied++) {
      const e = this.history[this.tallied] as HistoryEvent
      const t = this.tally
      if (e.type === 'ok') t.ok++
      else if (e.type === 'info') t.unknown++
      else if (e.type === 'fail' && e.f === 'cas') t.casMismatch++
      else if (e.type === 'fail') t.failed++
    }
    return { ...this.tally }
  }

  private tallied = 0
  private readonly tally = { ok: 0, failed: 0, unknown: 0, casMismatch: 0 }

  /** Operations invoked after the heal (plus grace) that got no answer: the liveness failures. */
  stalledOps (): number {
    const open = new Map<HistoryEvent['process'], HistoryEvent>()
    let stalled = 0
    for (const e of this.history.slice(this.firstLiveOp)) {
      if (e.type === 'invoke') { open.set(e.process, e); continue }
      const inv = open.get(e.process)
      open.delete(e.process)
      if (inv === undefined || inv.time < this.liveFrom) continue
      // A failed cas may be a plain mismatch, which is an answer; anything else is unavailability.
      if (e.type === 'info' || (e.type === 'fail' && e.f !== 'cas')) stalled++
    }
    return stalled
  }

  paintVerdict (v: Verdict, width: number): string {
    const mark = v.ok ? this.paint('green', '✓') : this.paint(['bold', 'red'], '✗')
    return `  ${mark} ${v.name.padEnd(width)} ${v.ok ? v.detail : this.paint('red', v.detail)}`
  }

  bold (text: string): string {
    return this.paint('bold', text)
  }
}

const SAFETY_KINDS: ReadonlyArray<{ kind: ViolationKind, ok: string }> = [
  { kind: 'agreement', ok: 'no slot was applied with two different values' },
  { kind: 'validity', ok: 'every applied command was proposed by a client' },
  { kind: 'integrity', ok: 'each replica applied slots in order, each command at most once' },
  { kind: 'replica-equality', ok: 'replicas at the same slot held the same state' }
]

/** Runs the demo; returns the exit code. */
export async function main (argv: readonly string[], io: DemoIo = processIo()): Promise<number> {
  let options: DemoOptions
  try {
    const parsed = parseDemoArgs(argv, io)
    if (parsed === 'help') { io.out(USAGE); return 0 }
    options = parsed
  } catch (error) {
    io.err(`demo: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }

  const demo = new Demo(options, io)
  const c = demo.cluster
  let crash: string | undefined
  try {
    await demo.run()
  } catch (error) {
    // An assertion inside the core or runtime: an invariant broke, which is a finding too.
    crash = error instanceof Error ? (error.stack ?? error.message) : String(error)
  }

  const verdicts: Verdict[] = []
  for (const { kind, ok } of SAFETY_KINDS) {
    const found = c.checker.violations.filter(v => v.kind === kind)
    const first = found[0]
    verdicts.push(first === undefined
      ? { name: kind, ok: true, detail: ok }
      : { name: kind, ok: false, detail: `${found.length} violation(s); first at ${(first.time / 1000).toFixed(2)} s: ${first.message}` })
  }
  const lin = checkHistory(demo.history, { maxSteps: 2_000_000 })
  const operations = demo.history.filter(e => e.type === 'invoke').length
  verdicts.push({
    name: 'linearizability',
    ok: lin.outcome === 'linearizable',
    detail: lin.outcome === 'linearizable'
      ? `${operations} client operations form a linearizable history`
      : lin.outcome === 'violation' ? formatViolation(lin) : `undecided within the search budget (key ${JSON.stringify(lin.key)})`
  })
  const stalled = demo.stalledOps()
  verdicts.push({
    name: 'liveness',
    ok: crash === undefined && demo.converged.ok && stalled === 0,
    detail: !demo.converged.ok
      ? demo.converged.detail
      : stalled > 0 ? `${stalled} operation(s) invoked after healing got no answer` : `${demo.converged.detail}; every operation after healing answered`
  })
  if (crash !== undefined) verdicts.push({ name: 'runtime', ok: false, detail: crash })

  if (options.history !== undefined) {
    await writeFile(options.history, demo.history.map(e => JSON.stringify(e)).join('\n') + '\n')
  }

  const t = demo.totals()
  const chosen = c.checker.highestChosen()
  let commands = 0
  for (let s = 1; s <= chosen; s++) commands += c.checker.chosenAt(s)?.commands.length ?? 0
  const allOk = verdicts.every(v => v.ok)
  const distinct = [...new Set(demo.leaders)]
  const out = io.out
  out('')
  out(demo.bold(`summary — seed ${options.seed}, ${plural(options.nodes, 'member')}, ${options.seconds} s virtual`))
  out(`  committed     ${chosen} slots, ${commands} commands`)
  out(`  client ops    ${t.ok} ok, ${t.failed} failed (no answer), ${t.unknown} unknown outcome, ${t.casMismatch} cas refused (value had changed)`)
  out(`  faults        ${plural(c.crashes, 'crash', 'crashes')}, ${plural(c.restarts, 'restart')}, ${plural(demo.counts.partitions, 'partition')}, ` +
    `${plural(demo.counts.lossBursts, 'loss burst')}, ${plural(demo.counts.oneWay, 'one-way block')}`)
  out(`  leaders       ${plural(demo.counts.elections, 'election')}${distinct.length > 0 ? ` (${distinct.join(', ')})` : ''}`)
  out(`  verdicts`)
  const width = Math.max(...verdicts.map(v => v.name.length))
  for (const v of verdicts) out(demo.paintVerdict(v, width))
  if (options.history !== undefined) out(`  history       ${demo.history.length} events written to ${options.history}`)
  out(allOk ? demo.bold('all checks passed') : demo.bold(`FAILED — replay with: npm run demo:sim -- --seed ${options.seed} --nodes ${options.nodes} --seconds ${options.seconds}`))
  return allOk ? 0 : 1
}

function plural (n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

function processIo (): DemoIo {
  // `npm run demo | head` closes the pipe early; that is the reader being done, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })
  return {
    out: line => { process.stdout.write(line + '\n') },
    err: line => { process.stderr.write(line + '\n') },
    isTTY: process.stdout.isTTY === true,
    env: process.env
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}
