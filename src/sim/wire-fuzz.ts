/**
 * Message fuzzing of a running simulated cluster (issue 7 §2): while clients keep submitting,
 * random and mutated messages are delivered to the members' transport handlers, as members
 * and as strangers. Everything is drawn from one seeded Prng, so a failure replays from its seed.
 *
 * Classes of injected messages, and what each must leave intact:
 * - `malformed`: invalid by construction (garbage shapes, wrong types, NaN, 6.5, −1, Infinity,
 *   values over their bounds, lone surrogates, prototype tricks, getters, throwing Proxies,
 *   the exact messages of issue 7, and invalid mutations of messages captured from the
 *   cluster's own traffic), from members and strangers. Each one must be dropped at the trust
 *   boundary (checked message by message).
 * - `stranger`: well-formed messages with wild values from ids that are in no configuration.
 * - `member`: well-formed messages from members that a crash-fault protocol tolerates: requests
 *   with any range, replies to nothing, stale or forged-owner ballots, commit indexes up to 1e12
 *   in messages that are not the leader's.
 * - `replay`: messages captured from the cluster's traffic, re-delivered from their real sender
 *   to any member (late, duplicated, misdirected).
 * For these four the whole safety and liveness contract holds: each well-formed one passes the
 * boundary, the cluster keeps committing, the SafetyChecker and the linearizability checker find
 * nothing, no replica halts, no exception escapes, genuine traffic is never dropped.
 *
 * - `byzantine`: well-formed lies from members (forged values and votes under the sender's own
 *   ballot, transfers, forged commit indexes). Paxos tolerates crashes, not lies, so agreement
 *   is not expected; what must hold is that no replica halts and no exception escapes. (Keeping
 *   non-members out is the transport's job; this class is run on its own.)
 * - `corefix`: attacks from issue 7 that only the core can refuse, held to the full contract:
 *   a stranger's unsolicited catch-up reply, a forged reconfiguration in one, a heartbeatAck with
 *   commitIndex 1e12, and a stranger's rounds at MAX_ROUND. The same lies from members (an
 *   accept for slot 1e9 under the sender's own ballot, a prepare or reject at MAX_ROUND) cost
 *   liveness by design — a member that lies can depose leaders and exhaust rounds — so they are
 *   `byzantine` draws: the core survives them (no halt, no throw), see test/sim/hostile-core.spec.ts.
 */
import { checkHistory, formatViolation } from './lincheck/index.js'
import type { HistoryEvent } from './lincheck/index.js'
import { SimClient } from './client.js'
import { SimCluster } from './cluster.js'
import type { KvPeer } from './cluster.js'
import { Prng } from './prng.js'
import type { Ballot, Command, LogEntry, NodeId, PaxosMessage, Slot, Value } from '../paxos/index.js'
import { reconfigCommand } from '../paxos/index.js'
import type { Transport } from '../contracts/index.js'
import type { WireMessage } from '../vpeer/snapshot-transfer.js'
import { MAX_ID_BYTES, MAX_ROUND, MAX_SLOT, WIRE_DROP_REASONS } from '../vpeer/message-validation.js'
import type { WireDropReason } from '../vpeer/message-validation.js'
import { markCount } from '../util/marks.js'

export type FuzzClass = 'malformed' | 'stranger' | 'member' | 'replay' | 'byzantine' | 'corefix'
export const FUZZ_CLASSES: readonly FuzzClass[] = ['malformed', 'stranger', 'member', 'replay', 'byzantine', 'corefix']
/** The classes the cluster must survive with its whole contract intact today. */
export const SAFE_CLASSES: readonly FuzzClass[] = ['malformed', 'stranger', 'member', 'replay']

export interface WireFuzzOptions {
  readonly seed: number
  /** Messages to inject (spread evenly over `fuzzMs`). */
  readonly messages: number
  readonly classes?: readonly FuzzClass[]
  readonly nodes?: number
  /** Virtual ms of fuzzing (default: messages / 4, at least 2000: four messages per ms). */
  readonly fuzzMs?: number
  readonly clients?: number
  /** Crash and restart a random follower every this many ms (0 = never; default 1500). */
  readonly crashEveryMs?: number
  readonly trace?: (line: string) => void
}

export type FuzzViolationKind =
  | 'safety' | 'linearizability' | 'liveness' | 'halt' | 'exception' | 'undropped' | 'valid-dropped' | 'genuine-dropped'

export interface FuzzViolation {
  readonly kind: FuzzViolationKind
  readonly message: string
}

export interface WireFuzzResult {
  readonly seed: number
  readonly ok: boolean
  readonly violations: readonly FuzzViolation[]
  /** Messages delivered to a live member's transport handler, by class. */
  readonly sent: Record<FuzzClass, number>
  /** Messages dropped at the boundary during the run, by reason. */
  readonly dropped: Record<WireDropReason, number>
  /** Slots chosen during the run. */
  readonly commits: number
  readonly opsOk: number
  readonly virtualMs: number
  /** Safety-checker findings in a byzantine run (informational: lies may break agreement). */
  readonly byzantineSafetyFindings: number
}

const KEYS = ['k1', 'k2', 'k3']
const STRANGERS = ['evil', 'x', 'n99', 'mallory', '12D3KooWStrangerPeerIdXXXXXXXXXXXXXXXXXXXXXXXXXXXXX']
const WARMUP_MS = 800
const SETTLE_MS = 3000
/** A window of this many virtual ms without any new chosen slot during fuzzing is a liveness failure. */
const PROGRESS_WINDOW_MS = 2500
const CAPTURE_MAX = 512

interface Captured { readonly from: NodeId, readonly to: NodeId, readonly message: WireMessage }

/**
 * Watches every node's transport: remembers the handler each incarnation registered (to deliver
 * injected messages to it) and the last messages sent (to replay and mutate).
 */
class Tap {
  readonly handlers = new Map<NodeId, (from: NodeId, message: unknown) => void>()
  readonly captured: Captured[] = []
  private next = 0

  wrap = (id: NodeId, inner: Transport<WireMessage>): Transport<WireMessage> => ({
    send: (to, message) => {
      const c = { from: id, to, message }
      if (this.captured.length < CAPTURE_MAX) this.captured.push(c)
      else this.captured[this.next++ % CAPTURE_MAX] = c
      inner.send(to, message)
    },
    onMessage: handler => {
      const h = handler as (from: NodeId, message: unknown) => void
      this.handlers.set(id, h)
      const off = inner.onMessage(handler)
      return () => {
        if (this.handlers.get(id) === h) this.handlers.delete(id)
        off()
      }
    }
  })
}

/** What the generators know about the cluster when they draw a message. */
interface View {
  readonly members: readonly NodeId[]
  readonly leader: NodeId | undefined
  /** The highest promised ballot of any live member. */
  readonly ballot: Ballot
  readonly commit: Slot
}

export async function runWireFuzz (options: WireFuzzOptions): Promise<WireFuzzResult> {
  const classes = options.classes ?? SAFE_CLASSES
  const byzantine = classes.includes('byzantine')
  const tap = new Tap()
  const cluster = new SimCluster({
    seed: options.seed,
    nodes: options.nodes ?? 3,
    wrapTransport: tap.wrap,
    snapshotEverySlots: 60,
    logRetentionSlots: 10,
    ...(options.trace !== undefined ? { trace: options.trace } : {})
  })
  const prng = cluster.prng.fork('wire-fuzz')
  const gen = new Generators(prng.fork('messages'))
  const violations: FuzzViolation[] = []
  const violate = (kind: FuzzViolationKind, message: string): void => {
    if (violations.length < 50) violations.push({ kind, message })
  }
  const sent = Object.fromEntries(FUZZ_CLASSES.map(c => [c, 0])) as Record<FuzzClass, number>
  const dropsBefore = Object.fromEntries(WIRE_DROP_REASONS.map(r => [r, markCount(`wire: ${r} dropped`)])) as Record<WireDropReason, number>
  const droppedTotalBefore = markCount('wire: invalid message dropped')
  let injectedDrops = 0

  // A replica that halts on its own (an 'error' event) is a failure; our crashes are not.
  const watched = new WeakSet<KvPeer>()
  const watch = (): void => {
    for (const id of cluster.upIds()) {
      const peer = cluster.peer(id)
      if (peer === undefined || watched.has(peer)) continue
      watched.add(peer)
      peer.addEventListener('error', e => {
        const error = e.detail.error
        violate('halt', `${id} halted: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
      })
    }
  }

  const history: HistoryEvent[] = []
  const clientPrng = cluster.prng.fork('clients')
  const clients = Array.from({ length: options.clients ?? 3 }, (_, i) => new SimClient(cluster, clientPrng.fork(`c${i}`), history, {
    process: i + 1, keys: KEYS, attemptTimeoutMs: 1000, attempts: 3, thinkMsMax: 20, readRatio: 0.3, casRatio: 0.2
  }))

  await cluster.start()
  watch()
  const loops = clients.map(async c => { await c.run() })
  await cluster.scheduler.runUntilAsync(WARMUP_MS)

  const fuzzMs = options.fuzzMs ?? Math.max(2000, Math.ceil(options.messages / 4))
  const perMs = options.messages / fuzzMs
  const start = cluster.scheduler.now()
  const crashEvery = options.crashEveryMs ?? 1500
  let budget = 0
  let injected = 0
  let lastProgressAt = start
  let lastChosen = cluster.checker.highestChosen()
  let stalledReported = false

  const view = (): View => {
    const members = cluster.bootstrapVoters.filter(id => cluster.isUp(id))
    let ballot: Ballot = { round: 1, node: members[0] ?? 'n1' }
    let commit = 0
    for (const id of members) {
      const s = cluster.peer(id)?.status()
      if (s === undefined) continue
      if (!Number.isSafeInteger(s.ballot.round) || s.ballot.round > MAX_ROUND || !Number.isSafeInteger(s.commitIndex) || s.commitIndex > MAX_SLOT) {
        violate('safety', `${id} holds a promise ${String(s.ballot.round)}.${s.ballot.node} or commit index ${String(s.commitIndex)} out of range`)
        continue
      }
      if (s.ballot.round > ballot.round || (s.ballot.round === ballot.round && s.ballot.node > ballot.node)) ballot = { ...s.ballot }
      if (s.commitIndex > commit) commit = s.commitIndex
    }
    // Draws build rounds a few above the view's: keep them within what the boundary accepts
    // once a byzantine draw has pushed the promises to the last round there is.
    if (ballot.round > MAX_ROUND - 16) ballot = { round: MAX_ROUND - 16, node: ballot.node }
    return { members, leader: cluster.leader(), ballot, commit }
  }

  for (let t = start + 1; injected < options.messages; t++) {
    await cluster.scheduler.runUntilAsync(t)
    if (crashEvery > 0 && (t - start) % crashEvery === 0) {
      const leader = cluster.leader()
      const victims = cluster.bootstrapVoters.filter(id => id !== leader && cluster.isUp(id))
      if (victims.length > 0) {
        const victim = prng.pick(victims)
        cluster.crash(victim)
        cluster.scheduler.after(100 + prng.int(0, 300), () => {
          void cluster.restart(victim).then(watch)
        }, 'fuzz-restart')
      }
    }
    const chosen = cluster.checker.highestChosen()
    if (chosen > lastChosen) { lastChosen = chosen; lastProgressAt = t }
    if (!byzantine && !stalledReported && t - lastProgressAt > PROGRESS_WINDOW_MS) {
      stalledReported = true
      violate('liveness', `no slot chosen from T=${lastProgressAt} to T=${t} ms while fuzzing (highest ${chosen})`)
    }
    budget += perMs
    const v = view()
    // Draws that reach no live handler (a crashed receiver, nothing captured yet) are redrawn,
    // a few times at most, so `messages` counts messages delivered.
    for (let attempts = 0; budget >= 1 && injected < options.messages && attempts < 4 * perMs + 16; attempts++) {
      const cls = prng.pick(classes)
      const draw = gen.draw(cls, v, tap.captured)
      if (draw === undefined) continue
      const handler = tap.handlers.get(draw.to)
      if (handler === undefined || !cluster.isUp(draw.to)) continue
      budget--
      injected++
      sent[cls]++
      const before = markCount('wire: invalid message dropped')
      try {
        handler(draw.from, draw.message)
      } catch (error) {
        violate('exception', `${cls} message from ${draw.from} to ${draw.to} threw out of the transport handler: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}; message: ${describe(draw.message)}`)
      }
      const dropped = markCount('wire: invalid message dropped') > before
      if (dropped) injectedDrops++
      if (cls === 'malformed' && !dropped) violate('undropped', `a malformed message from ${draw.from} to ${draw.to} passed the boundary (${draw.note}): ${describe(draw.message)}`)
      if (cls !== 'malformed' && dropped) violate('valid-dropped', `a well-formed ${cls} message from ${draw.from} to ${draw.to} was dropped (${draw.note}): ${describe(draw.message)}`)
    }
  }

  // Stop fuzzing: every node back up, the clients finish, the replicas must converge.
  const fuzzEnd = cluster.scheduler.now()
  for (const id of cluster.ids) await cluster.restart(id)
  watch()
  await cluster.scheduler.runUntilAsync(fuzzEnd + SETTLE_MS)
  for (const c of clients) c.stop()
  while (clients.some(c => c.running) && cluster.scheduler.now() < fuzzEnd + 3 * SETTLE_MS) {
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 50)
  }
  if (!byzantine) {
    const converged = await waitForConvergence(cluster, cluster.scheduler.now() + SETTLE_MS)
    if (converged !== undefined) violate('liveness', converged)
  }
  for (const id of cluster.ids) {
    const peer = cluster.peer(id)
    if (peer === undefined || !peer.running) violate('halt', `${id} is not running at the end`)
  }
  cluster.haltAll()
  await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 1)
  await Promise.all(loops)

  const byzantineSafetyFindings = byzantine ? cluster.checker.violations.length : 0
  if (!byzantine) {
    for (const v of cluster.checker.violations) violate('safety', `${v.kind}: ${v.message}`)
    const lin = checkHistory(history, { maxSteps: 1_000_000 })
    if (lin.outcome === 'violation') violate('linearizability', formatViolation(lin))
  }
  const droppedTotal = markCount('wire: invalid message dropped') - droppedTotalBefore
  if (droppedTotal !== injectedDrops) violate('genuine-dropped', `${droppedTotal - injectedDrops} message(s) of the cluster's own traffic were dropped at the boundary`)
  const dropped = Object.fromEntries(WIRE_DROP_REASONS.map(r => [r, markCount(`wire: ${r} dropped`) - dropsBefore[r]])) as Record<WireDropReason, number>
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    sent,
    dropped,
    commits: cluster.checker.highestChosen(),
    opsOk: clients.reduce((n, c) => n + c.ok, 0),
    virtualMs: Math.round(cluster.scheduler.now()),
    byzantineSafetyFindings
  }
}

async function waitForConvergence (cluster: SimCluster, deadline: number): Promise<string | undefined> {
  for (;;) {
    const ids = cluster.memberIds()
    const applied = ids.map(id => cluster.peer(id)?.applied ?? -1)
    const target = cluster.checker.highestChosen()
    const digests = new Set(ids.map(id => cluster.digest(id)))
    if (applied.every(a => a >= target) && new Set(applied).size === 1 && digests.size === 1) return undefined
    if (cluster.scheduler.now() >= deadline) return `replicas did not converge after fuzzing: applied ${ids.map((id, i) => `${id}=${applied[i]}`).join(' ')}, highest chosen ${target}`
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 100)
  }
}

/** A short, safe description of an injected message for a report (never throws). */
export function describe (m: unknown): string {
  try {
    const s = JSON.stringify(m, (_k, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
      if (v instanceof Uint8Array) return `<${v.constructor.name} ${v.byteLength} bytes>`
      if (typeof v === 'string' && v.length > 80) return `${v.slice(0, 40)}…(${v.length} chars)`
      return v
    })
    return s === undefined ? String(m) : s.length > 600 ? `${s.slice(0, 600)}…` : s
  } catch {
    try {
      return `<unprintable ${typeof m}>`
    } catch {
      return '<unprintable>'
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

interface Draw {
  readonly from: NodeId
  readonly to: NodeId
  readonly message: unknown
  /** How it was made, for reports. */
  readonly note: string
}

type Path = Array<string | number>

/** Where a value sits in a message, so an invalid replacement can be chosen for its kind. */
interface Site {
  readonly path: Path
  readonly kind: 'number' | 'string' | 'boolean' | 'object' | 'array' | 'bytes' | 'optional-number' | 'type'
}

class Generators {
  private readonly prng: Prng
  private counter = 0
  /** Whether wild slots may lie far ahead (off for lies from members: that is the corefix class). */
  private far = true

  constructor (prng: Prng) {
    this.prng = prng
  }

  draw (cls: FuzzClass, v: View, captured: readonly Captured[]): Draw | undefined {
    if (v.members.length === 0) return undefined
    switch (cls) {
      case 'malformed': return this.malformed(v, captured)
      case 'stranger': return this.stranger(v, captured)
      case 'member': return this.memberNoise(v)
      case 'replay': return this.replay(v, captured)
      case 'byzantine': return this.byzantine(v)
      case 'corefix': return this.corefix(v)
    }
  }

  // -- helpers ----------------------------------------------------------------------------

  private pick<T>(items: readonly T[]): T { return this.prng.pick(items) }
  private chance (p: number): boolean { return this.prng.chance(p) }
  private int (min: number, maxExclusive: number): number { return this.prng.int(min, maxExclusive) }

  private anyMember (v: View): NodeId { return this.pick(v.members) }
  private otherMember (v: View, not: NodeId): NodeId {
    const others = v.members.filter(id => id !== not)
    return others.length > 0 ? this.pick(others) : not
  }

  private stranger_ (): NodeId {
    return this.chance(0.8) ? this.pick(STRANGERS) : `s${this.int(0, 1000)}`
  }

  /** A valid slot-like number: small, near the commit index, far ahead (≤ 1e12). */
  private wildSlot (v: View, min = 1): Slot {
    const r = this.far ? this.int(0, 8) : this.pick([0, 1, 2, 3, 7])
    const n = r === 0 ? this.int(min, 4) : r < 4 ? v.commit + this.int(-5, 40) : r === 4 ? 2 ** this.int(8, 40) : r === 5 ? 1e12 : r === 6 ? 2 ** 31 : v.commit + 1
    return Math.max(min, Math.min(n, 1e12))
  }

  private smallRound (v: View): number {
    return Math.max(1, this.chance(0.5) ? v.ballot.round + this.int(-3, 4) : this.int(1, 1_000_000))
  }

  /**
   * A ballot below every live member's promise, never owned by `to`: whatever `to` is doing, it
   * is not running this ballot, so a reply in it is a reply to nothing.
   */
  private staleBallot (v: View, to: NodeId): Ballot | undefined {
    if (v.ballot.round <= 1) return undefined
    const owners = [...v.members.filter(id => id !== to), ...STRANGERS]
    return { round: this.int(1, v.ballot.round), node: this.pick(owners) }
  }

  private wildId (): string {
    const r = this.int(0, 6)
    if (r === 0) return '\u0000cfg/x'
    if (r === 1) return 'é'.repeat(this.int(1, 300))
    if (r === 2) return '\u{1F600}'
    if (r === 3) return 'x'.repeat(this.int(1, MAX_ID_BYTES + 1))
    return `id${this.int(0, 1e6)}`
  }

  private bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.int(0, 256)
    return out
  }

  private command (client?: string): Command {
    const data = this.chance(0.5)
      ? new TextEncoder().encode(JSON.stringify({ f: 'write', key: this.pick(KEYS), value: -this.int(1, 1e6) }))
      : this.bytes(this.int(0, 24))
    return { client: client ?? `fz${this.int(0, 20)}`, seq: this.chance(0.9) ? this.int(0, 1e6) : Number.MAX_SAFE_INTEGER, data }
  }

  private value (): Value {
    const n = this.chance(0.3) ? 0 : 1
    return { id: `${this.int(1, 1e6)}.evil.${this.int(1, 1e6)}`, commands: Array.from({ length: n }, () => this.command()) }
  }

  private entry (ballot?: Ballot): LogEntry {
    return { ballot: ballot ?? { round: this.int(1, 1e6), node: this.wildId() }, value: this.value() }
  }

  /** A well-formed message of any type with wild (in-range) values. */
  private anyValid (v: View, from: NodeId): PaxosMessage {
    const ballot = (): Ballot => this.chance(0.3) ? { ...v.ballot } : { round: this.smallRound(v), node: this.chance(0.5) ? from : this.chance(0.5) ? this.anyMember(v) : this.wildId() }
    const commit = (): Slot => this.chance(0.2) ? 0 : this.wildSlot(v)
    const type = this.pick<PaxosMessage['type']>(['probe', 'probeReply', 'prepare', 'promise', 'reject', 'accept', 'accepted', 'heartbeat', 'heartbeatAck',
      'catchupRequest', 'forward', 'readRequest', 'readReply', 'timeoutNow'])
    switch (type) {
      case 'probe': return { type, ballot: ballot(), transfer: this.chance(0.5) }
      case 'probeReply': return { type, ballot: ballot(), granted: this.chance(0.5), promised: ballot(), commitIndex: commit() }
      case 'prepare': return { type, ballot: ballot(), fromSlot: this.wildSlot(v), transfer: this.chance(0.5) }
      case 'promise': {
        const c = commit()
        return { type, ballot: ballot(), commitIndex: c, entries: this.chance(0.5) ? [] : [[c + 1, this.entry()], [c + 3, this.entry()]] }
      }
      case 'reject': return { type, ballot: ballot(), promised: ballot(), reason: this.chance(0.5) ? 'promised-higher' : 'leader-alive' }
      case 'accept': return { type, ballot: ballot(), slot: this.wildSlot(v), value: this.value(), commitIndex: commit() }
      case 'accepted': return { type, ballot: ballot(), slot: this.wildSlot(v) }
      case 'heartbeat': return { type, ballot: ballot(), commitIndex: commit(), readSeq: this.int(0, 1e6) }
      case 'heartbeatAck': return { type, ballot: ballot(), readSeq: this.int(0, 1e6), commitIndex: commit() }
      case 'catchupRequest': {
        const a = this.wildSlot(v)
        return { type, fromSlot: a, toSlot: this.chance(0.5) ? a : Math.min(MAX_SLOT, a + this.wildSlot(v)) }
      }
      case 'forward': return { type, commands: Array.from({ length: this.int(0, 4) }, () => this.command()) }
      case 'readRequest': return { type, id: this.wildId() }
      case 'readReply': return { type, id: this.wildId(), index: this.chance(0.3) ? undefined : commit() }
      case 'timeoutNow': return { type, ballot: ballot() }
      default: throw new Error('unreachable')
    }
  }

  private nearValid (v: View, from: NodeId): PaxosMessage {
    this.far = false
    try {
      return this.anyValid(v, from)
    } finally {
      this.far = true
    }
  }

  // -- classes ----------------------------------------------------------------------------

  private stranger (v: View, captured: readonly Captured[]): Draw {
    const from = this.stranger_()
    const to = this.anyMember(v)
    const r = this.int(0, 10)
    if (r === 0) return { from, to, message: this.snapshotNoise(), note: 'stranger snapshot message' }
    if (r === 1 && captured.length > 0) {
      const c = this.pick(captured)
      // A stranger replaying or lightly changing real traffic (a stranger's catch-up reply is the corefix class).
      if (c.message.type !== 'catchupReply' && c.message.type !== 'snapshotOffer') return { from, to, message: this.validTweak(c.message, v), note: `stranger replay of ${c.message.type}` }
    }
    let m = this.anyValid(v, from)
    // probeReply's promised round is noted by anyone who hears it: moderate rounds only here.
    if (m.type === 'probeReply') m = { ...m, promised: { round: this.int(1, 1_000_000), node: from } }
    return { from, to, message: m, note: `stranger ${m.type}` }
  }

  private snapshotNoise (): WireMessage {
    const root = Array.from({ length: 64 }, () => '0123456789abcdef'[this.int(0, 16)]).join('')
    switch (this.int(0, 4)) {
      case 0: return { type: 'snapshotOffer', manifest: this.bytes(this.int(0, 200)) }
      case 1: return { type: 'snapshotChunkRequest', root, chunk: this.int(0, 100) }
      case 2: return { type: 'snapshotChunk', root, chunk: this.int(0, 100), bytes: this.bytes(this.int(0, 100)) }
      default: return { type: 'snapshotDone', root, index: this.int(0, 1e6) }
    }
  }

  /** A well-formed change to a captured message's numbers (stays in range). */
  private validTweak (m: WireMessage, v: View): WireMessage {
    const copy = cloneOr(m, () => ({ type: 'probe', ballot: { round: 1, node: 'n1' }, transfer: false })) as unknown as Record<string, unknown>
    for (const key of ['slot', 'commitIndex', 'fromSlot', 'readSeq', 'chunk', 'index'] as const) {
      // A promise's entries lie above its commit index: that relation stays.
      if (key === 'commitIndex' && copy.type === 'promise') continue
      if (typeof copy[key] === 'number' && this.chance(0.5)) {
        copy[key] = key === 'chunk' ? this.int(0, 100) : key === 'slot' || key === 'fromSlot' ? this.wildSlot(v) : this.chance(0.5) ? 0 : this.wildSlot(v)
      }
    }
    if (copy.type === 'catchupRequest' && (copy.fromSlot as number) > (copy.toSlot as number)) copy.toSlot = copy.fromSlot
    return copy as unknown as WireMessage
  }

  /**
   * Harmless for a crash-fault protocol: requests with any range, replies to nothing (ballots
   * `to` is not running), stale ballots, ballots whose owner is not the sender (dropped by
   * the core) and commit indexes up to 1e12 in messages that are not a leader's own.
   */
  private memberNoise (v: View): Draw {
    const from = this.anyMember(v)
    const to = this.otherMember(v, from)
    const stale = this.staleBallot(v, to)
    const note = (m: WireMessage): Draw => ({ from, to, message: m, note: `member ${m.type}` })
    const forged: Ballot = { round: this.smallRound(v), node: this.pick([...v.members.filter(id => id !== from), ...STRANGERS]) }
    const r = this.int(0, stale === undefined ? 7 : 12)
    switch (r) {
      case 0: {
        const a = this.wildSlot(v)
        return note({ type: 'catchupRequest', fromSlot: a, toSlot: Math.max(a, this.wildSlot(v)) })
      }
      case 1: return note({ type: 'readRequest', id: this.wildId() })
      case 2: return note({ type: 'readReply', id: this.wildId(), index: this.chance(0.5) ? undefined : this.wildSlot(v) })
      case 3: return note({ type: 'probe', ballot: { round: this.smallRound(v), node: this.chance(0.5) ? from : this.wildId() }, transfer: this.chance(0.5) })
      case 4: return note({ type: 'probeReply', ballot: { round: this.smallRound(v), node: this.wildId() }, granted: this.chance(0.5), promised: this.chance(0.3) ? { round: 0, node: '' } : { round: this.smallRound(v), node: from }, commitIndex: this.wildSlot(v) })
      case 5: return note({ type: 'accept', ballot: forged, slot: this.wildSlot(v), value: this.value(), commitIndex: this.wildSlot(v) })
      case 6: return note({ type: 'heartbeat', ballot: forged, commitIndex: this.wildSlot(v), readSeq: this.int(0, 100) })
    }
    const s = stale as Ballot
    switch (r) {
      case 7: return note({ type: 'accepted', ballot: s, slot: this.wildSlot(v) })
      case 8: return note({ type: 'heartbeatAck', ballot: s, readSeq: this.int(0, 1e6), commitIndex: this.wildSlot(v) })
      case 9: return note({ type: 'promise', ballot: s, commitIndex: v.commit, entries: [[v.commit + 1, this.entry(s)]] })
      case 10: return note({ type: 'reject', ballot: s, promised: this.chance(0.5) ? { round: 0, node: '' } : s, reason: this.chance(0.5) ? 'promised-higher' : 'leader-alive' })
      default: return note({ type: 'prepare', ballot: { round: s.round, node: from }, fromSlot: this.wildSlot(v), transfer: false })
    }
  }

  private replay (v: View, captured: readonly Captured[]): Draw | undefined {
    if (captured.length === 0) return undefined
    const c = this.pick(captured)
    if (!v.members.includes(c.from)) return undefined
    const to = this.chance(0.6) ? c.to : this.otherMember(v, c.from)
    if (to === c.from) return undefined
    return { from: c.from, to, message: c.message, note: `replay of ${c.message.type} to ${to === c.to ? 'its receiver' : 'another member'}` }
  }

  private byzantine (v: View): Draw {
    const from = this.anyMember(v)
    const to = this.otherMember(v, from)
    // Lies under the sender's own ballot, mostly within reach of the real log; now and then far
    // ahead (an accept for slot 1e9) or at the last round there is.
    const own: Ballot = { round: Math.min(v.ballot.round + this.int(0, 3), MAX_ROUND), node: from }
    const near = (): Slot => Math.max(1, v.commit + this.int(-3, 40))
    const r = this.int(0, 10)
    if (r === 8) return { from, to, message: { type: 'accept', ballot: own, slot: 1e9, value: this.value(), commitIndex: v.commit }, note: 'byzantine accept for slot 1e9' }
    if (r === 9) {
      const top: Ballot = { round: MAX_ROUND, node: from }
      const m: WireMessage = this.chance(0.5)
        ? { type: 'prepare', ballot: top, fromSlot: v.commit + 1, transfer: false }
        : { type: 'reject', ballot: { ...v.ballot }, promised: top, reason: 'promised-higher' }
      return { from, to, message: m, note: `byzantine ${m.type} at MAX_ROUND` }
    }
    const m: WireMessage = r === 0
      ? { type: 'accept', ballot: own, slot: near(), value: this.value(), commitIndex: near() }
      : r === 1
        ? { type: 'heartbeat', ballot: own, commitIndex: near(), readSeq: this.int(0, 100) }
        : r === 2
          ? { type: 'accepted', ballot: { ...v.ballot }, slot: near() }
          : r === 3
            ? { type: 'promise', ballot: { round: Math.min(v.ballot.round + this.int(0, 2), MAX_ROUND), node: to }, commitIndex: v.commit, entries: [[v.commit + 1, this.entry({ round: Math.min(v.ballot.round + 5, MAX_ROUND), node: from })]] }
            : r === 4
              ? { type: 'prepare', ballot: own, fromSlot: near(), transfer: true }
              : r === 5
                ? { type: 'reject', ballot: { ...v.ballot }, promised: own, reason: 'promised-higher' }
                : r === 6
                  ? { type: 'timeoutNow', ballot: { ...v.ballot } }
                  : this.nearValid(v, from)
    return { from, to, message: m, note: `byzantine ${m.type}` }
  }

  private corefix (v: View): Draw {
    const member = this.anyMember(v)
    const leader = v.leader ?? member
    const r = this.int(0, 6)
    if (r === 0 || r === 1) {
      // A stranger's unsolicited catch-up reply for the next slots; sometimes a forged
      // reconfiguration that would make the stranger a voter.
      const from = this.stranger_()
      const entries: Array<readonly [Slot, LogEntry]> = []
      const n = this.int(1, 4)
      for (let i = 1; i <= n; i++) {
        const value: Value = r === 1
          ? { id: `evil.${this.counter++}`, commands: [reconfigCommand(from, this.counter, { expectEpoch: this.int(0, 3), change: { kind: 'addVoter', node: from } })] }
          : this.value()
        entries.push([v.commit + i, { ballot: { round: this.int(1, 1e6), node: from }, value }])
      }
      return { from, to: this.otherMember(v, leader), message: { type: 'catchupReply', entries, commitIndex: v.commit + n }, note: r === 1 ? 'stranger catchupReply with a forged reconfiguration' : 'stranger catchupReply at commit+1' }
    }
    if (r === 2 && v.leader !== undefined) {
      return { from: this.otherMember(v, leader), to: leader, message: { type: 'heartbeatAck', ballot: v.ballot, readSeq: this.int(0, 10), commitIndex: 1e12 }, note: 'heartbeatAck commitIndex 1e12 to the leader' }
    }
    const from = this.stranger_()
    const top: Ballot = { round: MAX_ROUND, node: from }
    const m: WireMessage = this.pick<WireMessage>([
      { type: 'prepare', ballot: top, fromSlot: v.commit + 1, transfer: false },
      { type: 'probeReply', ballot: v.ballot, granted: false, promised: top, commitIndex: v.commit },
      { type: 'reject', ballot: v.ballot, promised: top, reason: 'promised-higher' },
      { type: 'heartbeat', ballot: { round: v.ballot.round, node: from }, commitIndex: 1e12, readSeq: 0 }
    ])
    return { from, to: this.otherMember(v, from), message: m, note: `${m.type} with round MAX_ROUND or commit 1e12 from ${from}` }
  }

  // -- malformed --------------------------------------------------------------------------

  private malformed (v: View, captured: readonly Captured[]): Draw {
    const from = this.chance(0.5) ? this.anyMember(v) : this.stranger_()
    const to = this.anyMember(v)
    const r = this.int(0, 10)
    if (r === 0) return { from, to, message: this.garbage(3), note: 'garbage' }
    if (r === 1) {
      const [note, message] = this.pick(ISSUE_7_MESSAGES)
      return { from, to, message: message(), note }
    }
    // Mutated in place: always a deep copy, never an object some node still holds.
    const base: unknown = cloneOr(r < 6 && captured.length > 0 ? this.pick(captured).message : undefined, () => this.anyValid(v, from))
    const mutated = this.breakMessage(base)
    return { from, to, message: mutated.message, note: mutated.note }
  }

  /** Replaces one site of a well-formed message with something invalid there. */
  private breakMessage (m: unknown): { message: unknown, note: string } {
    const sites: Site[] = []
    collectSites(m, [], sites)
    const site = this.pick(sites)
    const bad = this.invalidFor(site)
    if (site.path.length === 0) return { message: bad.value, note: `message replaced by ${bad.note}` }
    const parent = getPath(m, site.path.slice(0, -1)) as Record<string | number, unknown>
    const key = site.path[site.path.length - 1] as string | number
    if (bad.remove === true && !Array.isArray(parent)) delete parent[key]
    else if (bad.getter === true) Object.defineProperty(parent, key, { get: () => bad.value, enumerable: true, configurable: true })
    else parent[key] = bad.value
    return { message: m, note: `${site.path.join('.')}: ${bad.note}` }
  }

  private invalidFor (site: Site): { value: unknown, note: string, remove?: boolean, getter?: boolean } {
    if (this.chance(0.05) && site.path.length > 0) return { value: this.validLooking(site), note: 'behind a getter', getter: true }
    if (this.chance(0.05) && site.path.length > 0) return { value: throwingProxy(), note: 'a throwing Proxy' }
    switch (site.kind) {
      case 'number': case 'optional-number': {
        const [note, value] = this.pick<[string, unknown]>([
          ['NaN', Number.NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['-1', -1], ['-7e9', -7e9], ['6.5', 6.5], ['1e-9', 1e-9],
          ['2^53', 2 ** 53], ['MAX_SAFE_INTEGER+2', Number.MAX_SAFE_INTEGER + 2], ['1e300', 1e300], ['"5"', '5'], ['null', null], ['true', true],
          ['5n', 5n], ['{}', {}], ['[3]', [3]], ['new Number(3)', new Number(3)] // eslint-disable-line no-new-wrappers
        ])
        if (site.kind === 'number' && this.chance(0.1)) return { value: undefined, note: 'removed', remove: true }
        return { value, note }
      }
      case 'string': case 'type': {
        const [note, value] = this.pick<[string, unknown]>([
          ['a lone surrogate', 'n\ud800'], ['a lone low surrogate', '\udc00'], ['a 5000-char string', 'x'.repeat(5000)], ['3', 3], ['null', null],
          ['["n1"]', ['n1']], ['new String', new String('n1')] // eslint-disable-line no-new-wrappers
        ])
        if (this.chance(0.1)) return { value: undefined, note: 'removed', remove: true }
        if (site.kind === 'type' && this.chance(0.4)) return { value: this.pick(['acceptt', '__proto__', 'constructor', 'toString', 'snapshot', '']), note: 'unknown type' }
        return { value, note }
      }
      case 'boolean': {
        const [note, value] = this.pick<[string, unknown]>([['1', 1], ['"true"', 'true'], ['null', null], ['0', 0], ['new Boolean', new Boolean(true)]]) // eslint-disable-line no-new-wrappers
        if (this.chance(0.2)) return { value: undefined, note: 'removed', remove: true }
        return { value, note }
      }
      case 'object': {
        const [note, value] = this.pick<[string, unknown]>([
          ['null', null], ['[]', []], ['"{}"', '{}'], ['7', 7], ['a Map', new Map()], ['a Date', new Date(0)], ['a class instance', new (class Forged { type = 'accepted' })()],
          ['an object with a forged prototype', Object.create({ type: 'heartbeat', ballot: { round: 1, node: 'n1' }, commitIndex: 0, readSeq: 0 })],
          ['a function', () => 1], ['a symbol', Symbol('x')]
        ])
        if (site.path.length > 0 && this.chance(0.2)) return { value: undefined, note: 'removed', remove: true }
        return { value, note }
      }
      case 'array': {
        const huge: unknown[] = []
        huge.length = 2 ** 20 + this.int(0, 2 ** 20)
        const [note, value] = this.pick<[string, unknown]>([
          ['null', null], ['{length:1,0:…}', { length: 1, 0: null }], ['"[]"', '[]'], ['[null]', [null]], ['a sparse array of 1M+', huge],
          ['[[]]', [[]]], ['[1,2,3]', [1, 2, 3]], ['a typed array', new Uint8Array(2)]
        ])
        if (this.chance(0.15)) return { value: undefined, note: 'removed', remove: true }
        return { value, note }
      }
      case 'bytes': {
        const fake = Object.create(Uint8Array.prototype) as Uint8Array
        const [note, value] = this.pick<[string, unknown]>([
          ['[1,2]', [1, 2]], ['"ab"', 'ab'], ['a Uint16Array', new Uint16Array(2)], ['an ArrayBuffer', new ArrayBuffer(2)], ['a DataView', new DataView(new ArrayBuffer(2))],
          ['a forged Uint8Array', fake], ['null', null], ...(site.path[site.path.length - 1] === 'manifest' ? [] : [['over 16 MiB', oversized()] as [string, unknown]])
        ])
        if (this.chance(0.15)) return { value: undefined, note: 'removed', remove: true }
        return { value, note }
      }
    }
  }

  private validLooking (site: Site): unknown {
    switch (site.kind) {
      case 'number': case 'optional-number': return 1
      case 'string': case 'type': return 'n1'
      case 'boolean': return true
      case 'object': return {}
      case 'array': return []
      case 'bytes': return new Uint8Array(1)
    }
  }

  /** Random nested junk (sometimes message-shaped). */
  private garbage (depth: number): unknown {
    const r = this.int(0, depth > 0 ? 14 : 9)
    switch (r) {
      case 0: return null
      case 1: return undefined
      case 2: return this.pick([0, -1, 6.5, Number.NaN, Infinity, 2 ** 60, 1e12])
      case 3: return this.pick(['', 'accept', '\ud800', 'x'.repeat(3000)])
      case 4: return this.chance(0.5)
      case 5: return 7n
      case 6: return new Uint8Array(this.int(0, 8))
      case 7: return Symbol('g')
      case 8: return throwingProxy()
      case 9: return Array.from({ length: this.int(0, 4) }, () => this.garbage(depth - 1))
      case 10: return { type: this.pick(['accept', 'heartbeat', 'catchupReply', 'forward', 'snapshotChunk', 'promise']), [this.pick(['ballot', 'slot', 'entries', 'commands', 'value', 'root'])]: this.garbage(depth - 1) }
      case 11: return { type: this.garbage(depth - 1) }
      case 12: return new Map([[1, 2]])
      default: return Object.fromEntries(Array.from({ length: this.int(0, 4) }, () => [this.pick(['type', 'ballot', 'a', '__proto__', 'constructor']), this.garbage(depth - 1)]))
    }
  }
}

/** The messages of issue 7 §2 that killed a process or halted a node, as first found. */
export const ISSUE_7_MESSAGES: ReadonlyArray<readonly [string, () => unknown]> = [
  ['catchupReply with entries: 5', () => ({ type: 'catchupReply', entries: 5 })],
  ['null', () => null],
  ['heartbeat without a ballot', () => ({ type: 'heartbeat', commitIndex: 0, readSeq: 0 })],
  ['catchupReply with a null entry', () => ({ type: 'catchupReply', entries: [null], commitIndex: 1 })],
  ['forward whose commands is not an array', () => ({ type: 'forward', commands: 'x' })],
  ['accept with slot NaN', () => ({ type: 'accept', ballot: { round: 1, node: 'n1' }, slot: Number.NaN, value: { id: 'v', commands: [] }, commitIndex: 0 })],
  ['accept with slot 6.5', () => ({ type: 'accept', ballot: { round: 1, node: 'n1' }, slot: 6.5, value: { id: 'v', commands: [] }, commitIndex: 0 })],
  ['accept without value', () => ({ type: 'accept', ballot: { round: 1, node: 'n1' }, slot: 3, commitIndex: 0 })],
  ['prepare with round Infinity', () => ({ type: 'prepare', ballot: { round: Infinity, node: 'n1' }, fromSlot: 1, transfer: false })],
  ['prepare with round MAX_SAFE_INTEGER', () => ({ type: 'prepare', ballot: { round: Number.MAX_SAFE_INTEGER, node: 'n1' }, fromSlot: 1, transfer: false })]
]

/**
 * A deep copy of `m` (captured traffic is only ever changed in a copy); `fallback()` if there is
 * nothing to copy or it cannot be copied (traffic of a node broken by a planted bug may hold anything).
 */
function cloneOr (m: unknown, fallback: () => unknown): unknown {
  if (m === undefined) return fallback()
  try {
    return structuredClone(m)
  } catch {
    return fallback()
  }
}

let big: Uint8Array | undefined
/** Larger than any chunk or command the boundary accepts (one shared buffer, never written). */
function oversized (): Uint8Array {
  big ??= new Uint8Array(16 * 1024 * 1024 + 1)
  return big
}

function throwingProxy (): unknown {
  const trap = (): never => { throw new Error('trap') }
  return new Proxy({}, { getPrototypeOf: trap, getOwnPropertyDescriptor: trap, get: trap, has: trap, ownKeys: trap })
}

const NUMBER_FIELDS = new Set(['round', 'slot', 'commitIndex', 'fromSlot', 'toSlot', 'readSeq', 'seq', 'chunk'])
const STRING_FIELDS = new Set(['node', 'id', 'client', 'root', 'reason'])
const BOOLEAN_FIELDS = new Set(['transfer', 'granted'])
const BYTES_FIELDS = new Set(['data', 'manifest', 'bytes'])
const ARRAY_FIELDS = new Set(['entries', 'commands'])

/** Every site of a well-formed message where an invalid value makes the whole message invalid. */
function collectSites (m: unknown, path: Path, out: Site[]): void {
  if (path.length === 0) out.push({ path, kind: 'object' })
  if (typeof m !== 'object' || m === null || m instanceof Uint8Array) return
  if (Array.isArray(m)) {
    m.forEach((item, i) => {
      const p = [...path, i]
      const parentKey = path[path.length - 1]
      if (parentKey === 'entries') { out.push({ path: p, kind: 'array' }); collectSites(item, p, out); return }
      if (typeof parentKey === 'number') {
        // An entry pair: [slot, entry].
        if (i === 0) out.push({ path: p, kind: 'number' })
        else { out.push({ path: p, kind: 'object' }); collectSites(item, p, out) }
        return
      }
      out.push({ path: p, kind: 'object' })
      collectSites(item, p, out)
    })
    return
  }
  const o = m as Record<string, unknown>
  const bottom = o.round === 0 && o.node === ''
  for (const [key, value] of Object.entries(o)) {
    const p = [...path, key]
    if (key === 'type' && path.length === 0) out.push({ path: p, kind: 'type' })
    else if (key === 'index' && path.length === 0 && o.type === 'readReply') { if (value !== undefined) out.push({ path: p, kind: 'optional-number' }) } else if (NUMBER_FIELDS.has(key) || key === 'index') out.push({ path: p, kind: 'number' })
    else if (STRING_FIELDS.has(key)) { if (!(bottom && key === 'node')) out.push({ path: p, kind: 'string' }) } else if (BOOLEAN_FIELDS.has(key)) out.push({ path: p, kind: 'boolean' })
    else if (BYTES_FIELDS.has(key)) out.push({ path: p, kind: 'bytes' })
    else if (ARRAY_FIELDS.has(key)) { out.push({ path: p, kind: 'array' }); collectSites(value, p, out) } else if (typeof value === 'object' && value !== null) { out.push({ path: p, kind: 'object' }); collectSites(value, p, out) }
  }
}

function getPath (m: unknown, path: Path): unknown {
  let cur = m
  for (const k of path) cur = (cur as Record<string | number, unknown>)[k]
  return cur
}
