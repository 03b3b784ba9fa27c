import { assert } from '../util/assert.ts'
import { mark } from '../util/marks.ts'
import { ballotEquals, ballotGreater, compareBallots, formatBallot } from './ballot.ts'
import { resolveConfig } from './config.ts'
import type { PaxosConfig, PaxosConfigInit } from './config.ts'
import { isMember, isVoter, members } from './configuration.ts'
import { isQuorum, majority } from './quorum.ts'
import type {
  AcceptMessage, AcceptedMessage, CatchupReplyMessage, CatchupRequestMessage, Envelope, ForwardMessage,
  HeartbeatAckMessage, HeartbeatMessage, PaxosMessage, PrepareMessage, ProbeMessage, ProbeReplyMessage,
  PromiseMessage, ReadReplyMessage, ReadRequestMessage, RejectMessage, TimeoutNowMessage
} from './messages.ts'
import type { Ballot, Command, Configuration, DurableState, LogEntry, NodeId, PersistBatch, Slot, Value } from './types.ts'

/** The only randomness the core needs: election timeouts. Injected so runs replay from a seed. */
export interface RandomSource {
  int (minInclusive: number, maxExclusive: number): number
}

export type ProposeResult =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'forwarded', readonly leader: NodeId }
  | { readonly kind: 'no-leader' }
  | { readonly kind: 'busy' }
  | { readonly kind: 'too-large' }

export type ReadRequestResult =
  | { readonly kind: 'pending' }
  | { readonly kind: 'no-leader' }

export interface CommittedSlot {
  readonly slot: Slot
  readonly value: Value
}

/** A linearizable read may be answered once the state machine has applied `index`. */
export interface ReadState {
  readonly id: string
  readonly index: Slot
}

export type RoleKind = 'follower' | 'candidate' | 'leader'

export interface SoftState {
  readonly role: RoleKind
  readonly leader: NodeId | undefined
  readonly ballot: Ballot
}

/**
 * Work the runtime must do, in this order:
 * 1. write `persist` durably (one atomic, fsync'd batch). A promise, an accept or an
 *    acknowledgement must never leave the node before the write it reports is durable:
 *    an acceptor that forgets a promise after a crash can let two values be chosen.
 * 2. deliver `send`;
 * 3. apply `committed` to the state machine, in slot order, exactly once;
 * 4. serve `reads` once the state machine has applied each read's index; fail `failedReads`;
 * then call `advance(ready)`. `ready()` returns nothing new until then.
 */
export interface Ready {
  readonly persist: PersistBatch | undefined
  readonly send: readonly Envelope[]
  readonly committed: readonly CommittedSlot[]
  readonly reads: readonly ReadState[]
  readonly failedReads: readonly string[]
  /** Set when role, leader or promised ballot changed since the previous Ready. */
  readonly softState: SoftState | undefined
}

export interface NodeStatus extends SoftState {
  readonly id: NodeId
  readonly commitIndex: Slot
  readonly appliedIndex: Slot
  readonly lastSlot: Slot
  readonly configuration: Configuration
  /** Leader only: how far each voter is known to have acknowledged heartbeats (commit index). */
  readonly peers: ReadonlyArray<{ readonly id: NodeId, readonly commitIndex: Slot, readonly lastAckTick: number }>
  readonly queuedCommands: number
  readonly inflightSlots: number
}

interface InflightSlot {
  readonly value: Value
  readonly acks: Set<NodeId>
  sentTick: number
}

interface PendingRead {
  readonly id: string
  readonly origin: NodeId
  readonly index: Slot
  seq: number
}

interface FollowerRole { readonly kind: 'follower' }

interface CandidateRole {
  readonly kind: 'candidate'
  /** 'probe' is the pre-vote round: no acceptor changes state until a majority would promise. */
  phase: 'probe' | 'prepare'
  readonly ballot: Ballot
  readonly fromSlot: Slot
  readonly transfer: boolean
  readonly grants: Set<NodeId>
  readonly promises: Map<NodeId, PromiseMessage>
}

interface LeaderRole {
  readonly kind: 'leader'
  readonly ballot: Ballot
  nextSlot: Slot
  /** Slots proposed in this ballot and not yet chosen. Invariant: every key is in (commitIndex, commitIndex + α]. */
  readonly inflight: Map<Slot, InflightSlot>
  /** Slots chosen in this ballot above commitIndex, waiting for the slots below them. */
  readonly chosen: Map<Slot, Value>
  /** Values found in Phase 1 (or no-ops for gaps), proposed once the α window reaches them. Ascending keys. */
  readonly recovery: Map<Slot, Value>
  /** Highest slot that may hold a value acknowledged by an earlier leader: reads wait for it. */
  readonly recoveryEnd: Slot
  readonly queue: Command[]
  queueHead: number
  readonly lastAck: Map<NodeId, number>
  readonly peerCommit: Map<NodeId, Slot>
  readSeq: number
  readRoundDue: boolean
  readonly readAcks: Map<NodeId, number>
  readonly pendingReads: PendingRead[]
  heartbeatElapsed: number
  quorumCheckElapsed: number
  commitSent: Slot
  transfer: { readonly target: NodeId, ticks: number } | undefined
  /**
   * Slots up to here are known chosen (Phase 1 or a follower's heartbeat ack said so) but may be
   * missing here: the leader fetches them, retrying, before its commit index can pass them.
   */
  catchupTarget: Slot
  catchupAttempt: number
}

type Role = FollowerRole | CandidateRole | LeaderRole

export interface PaxosNodeOptions {
  /** Receives one line per notable protocol event (role changes, elections, drops). */
  trace?: (line: string) => void
}

/**
 * One Multi-Paxos replica as a pure state machine: `step`, `tick` and `propose` go in, a
 * `Ready` comes out. No I/O, timers, clock or ambient randomness; the runtime (VirtualPeer)
 * or the simulator does all of that.
 *
 * Each node plays all three PMMC roles: acceptor (promised + log), leader (when elected) and
 * learner (commitIndex + committed hand-out).
 */
export class PaxosNode {
  readonly id: NodeId
  readonly config: PaxosConfig
  private readonly random: RandomSource
  private readonly trace: ((line: string) => void) | undefined
  private configuration: Configuration

  // Durable state (mirrored in Storage through `persist` batches).
  private promised: Ballot
  private readonly log: Map<Slot, LogEntry>
  /** Invariant: every slot in 1..commitIndex is in `log` with its chosen value. */
  private commitIndex: Slot

  // Volatile state.
  private role: Role = { kind: 'follower' }
  private leaderId: NodeId | undefined
  private leaderBallot: Ballot | undefined
  /** The highest commit index heard from `leaderBallot`'s leader. */
  private leaderCommit: Slot = 0
  private lastSlot: Slot = 0
  private now = 0
  private ticksSinceContact = 0
  private electionTimeout: number
  private roundSeen: number
  private catchupSentTick: number | undefined
  /** Highest slot handed out in a Ready. Invariant: appliedIndex <= handedOut <= commitIndex. */
  private handedOut: Slot = 0
  private appliedIndex: Slot = 0
  private readyCount = 0

  // Output buffers, drained by ready().
  private persistEntries = new Map<Slot, LogEntry>()
  private persistPromised = false
  private persistCommit = false
  private outbox: Envelope[] = []
  private readsReady: ReadState[] = []
  private readsFailed: string[] = []
  private readonly remoteReads = new Set<string>()
  private softStateDirty = true
  private outstanding: Ready | undefined

  constructor (init: PaxosConfigInit, durable: DurableState, random: RandomSource, options: PaxosNodeOptions = {}) {
    this.config = resolveConfig(init)
    this.id = this.config.id
    this.random = random
    this.trace = options.trace
    this.configuration = this.config.configuration
    this.promised = durable.promised
    this.log = new Map(durable.log)
    this.commitIndex = durable.commitIndex
    for (const slot of this.log.keys()) if (slot > this.lastSlot) this.lastSlot = slot
    for (let s = 1; s <= this.commitIndex; s++) {
      assert(this.log.has(s), () => `durable state: committed slot ${s} missing from the log`)
    }
    this.roundSeen = this.promised.round
    this.electionTimeout = this.randomElectionTimeout()
    this.checkInvariants()
  }

  // ---------------------------------------------------------------------------------------
  // Inputs

  /** A message from `from` (authenticated by the transport) arrived. */
  step (from: NodeId, message: PaxosMessage): void {
    if (from === this.id) {
      mark('step: message from self dropped')
      return
    }
    if (!isMember(this.configuration, from)) {
      mark('step: unknown sender dropped')
      this.log_(`drop ${message.type} from unknown ${from}`)
      return
    }
    switch (message.type) {
      case 'probe': this.onProbe(from, message); break
      case 'probeReply': this.onProbeReply(from, message); break
      case 'prepare': this.onPrepare(from, message); break
      case 'promise': this.onPromise(from, message); break
      case 'reject': this.onReject(from, message); break
      case 'accept': this.onAccept(from, message); break
      case 'accepted': this.onAccepted(from, message); break
      case 'heartbeat': this.onHeartbeat(from, message); break
      case 'heartbeatAck': this.onHeartbeatAck(from, message); break
      case 'catchupRequest': this.onCatchupRequest(from, message); break
      case 'catchupReply': this.onCatchupReply(from, message); break
      case 'forward': this.onForward(from, message); break
      case 'readRequest': this.onReadRequest(from, message); break
      case 'readReply': this.onReadReply(from, message); break
      case 'timeoutNow': this.onTimeoutNow(from, message); break
      default: {
        const unknown: never = message
        mark('step: unknown message type dropped')
        this.log_(`drop unknown message ${JSON.stringify(unknown)}`)
      }
    }
    this.checkInvariants()
  }

  /** One logical clock tick. Timeouts count ticks; no clock is ever read. */
  tick (): void {
    this.now++
    const role = this.role
    switch (role.kind) {
      case 'follower':
      case 'candidate':
        this.ticksSinceContact++
        if (this.ticksSinceContact >= this.electionTimeout && isVoter(this.configuration, this.id)) {
          this.becomeCandidate(false)
        }
        break
      case 'leader':
        this.tickLeader(role)
        break
    }
    this.maybeRequestCatchup()
    this.checkInvariants()
  }

  /**
   * Asks for `commands` to be ordered. A follower forwards them to the leader it knows; the
   * caller learns the outcome only by seeing the commands applied, and must retry (with the
   * same client session numbers) if they are not.
   */
  propose (commands: readonly Command[]): ProposeResult {
    for (const c of commands) if (c.data.byteLength > this.config.batchBytesMax) return { kind: 'too-large' }
    const role = this.role
    if (role.kind === 'leader') {
      if (role.transfer !== undefined) return { kind: 'no-leader' }
      if (role.queue.length - role.queueHead + commands.length > this.config.proposalQueueMax) return { kind: 'busy' }
      for (const c of commands) role.queue.push(c)
      this.maybePropose(role)
      this.checkInvariants()
      return { kind: 'accepted' }
    }
    if (this.leaderId !== undefined && this.leaderId !== this.id) {
      this.send(this.leaderId, { type: 'forward', commands })
      return { kind: 'forwarded', leader: this.leaderId }
    }
    return { kind: 'no-leader' }
  }

  /**
   * Starts a linearizable read (read-index). The read completes through `Ready.reads` (serve it
   * once applied ≥ index) or `Ready.failedReads` (retry elsewhere). Reads never enter the log.
   */
  requestRead (id: string): ReadRequestResult {
    const role = this.role
    if (role.kind === 'leader') {
      this.startLeaderRead(role, id, this.id)
      this.checkInvariants()
      return { kind: 'pending' }
    }
    if (this.leaderId !== undefined && this.leaderId !== this.id) {
      this.remoteReads.add(id)
      this.send(this.leaderId, { type: 'readRequest', id })
      return { kind: 'pending' }
    }
    return { kind: 'no-leader' }
  }

  /** Asks the leader to hand leadership to `target` (a voter). Returns false if this node cannot. */
  transferLeadership (target: NodeId): boolean {
    const role = this.role
    if (role.kind !== 'leader' || target === this.id || !isVoter(this.configuration, target)) return false
    role.transfer = { target, ticks: 0 }
    this.send(target, { type: 'timeoutNow', ballot: role.ballot })
    this.log_(`transfer leadership to ${target}`)
    return true
  }

  /** Starts an election now (used by tests and by an operator forcing a campaign). */
  campaign (): void {
    if (isVoter(this.configuration, this.id) && this.role.kind !== 'leader') this.becomeCandidate(false)
  }

  // ---------------------------------------------------------------------------------------
  // Output

  hasReady (): boolean {
    return this.outstanding === undefined && (this.outbox.length > 0 || this.persistEntries.size > 0 || this.persistPromised ||
      this.persistCommit || this.handedOut < this.commitIndex || this.readsReady.length > 0 ||
      this.readsFailed.length > 0 || this.softStateDirty)
  }

  ready (): Ready | undefined {
    if (!this.hasReady()) return undefined
    const role = this.role
    if (role.kind === 'leader') this.flushLeader(role)
    let persist: PersistBatch | undefined
    if (this.persistEntries.size > 0 || this.persistPromised || this.persistCommit) {
      persist = { entries: [...this.persistEntries] }
      if (this.persistPromised) persist.promised = this.promised
      if (this.persistCommit) persist.commitIndex = this.commitIndex
    }
    const committed: CommittedSlot[] = []
    const last = Math.min(this.commitIndex, this.handedOut + this.config.committedMax)
    if (this.config.mutations?.applyTwice === true && this.handedOut > 0 && (++this.readyCount % 7) === 0) {
      committed.push({ slot: this.handedOut, value: this.entryAt(this.handedOut).value })
    }
    for (let s = this.handedOut + 1; s <= last; s++) committed.push({ slot: s, value: this.entryAt(s).value })
    this.handedOut = last
    const rd: Ready = {
      persist,
      send: this.outbox,
      committed,
      reads: this.readsReady,
      failedReads: this.readsFailed,
      softState: this.softStateDirty ? this.softState() : undefined
    }
    this.persistEntries = new Map()
    this.persistPromised = false
    this.persistCommit = false
    this.outbox = []
    this.readsReady = []
    this.readsFailed = []
    this.softStateDirty = false
    this.outstanding = rd
    return rd
  }

  /** The runtime finished everything `rd` asked for. */
  advance (rd: Ready): void {
    assert(this.outstanding === rd, 'advance() must be given the last Ready')
    this.outstanding = undefined
    const lastCommitted = rd.committed[rd.committed.length - 1]
    if (lastCommitted !== undefined) this.appliedIndex = Math.max(this.appliedIndex, lastCommitted.slot)
    this.checkInvariants()
  }

  softState (): SoftState {
    return { role: this.role.kind, leader: this.leaderId, ballot: this.promised }
  }

  status (): NodeStatus {
    const role = this.role
    const peers = role.kind === 'leader'
      ? this.configuration.voters.filter(v => v !== this.id).map(v => ({ id: v, commitIndex: role.peerCommit.get(v) ?? 0, lastAckTick: role.lastAck.get(v) ?? -1 }))
      : []
    return {
      ...this.softState(),
      id: this.id,
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      lastSlot: this.lastSlot,
      configuration: this.configuration,
      peers,
      queuedCommands: role.kind === 'leader' ? role.queue.length - role.queueHead : 0,
      inflightSlots: role.kind === 'leader' ? role.inflight.size : 0
    }
  }

  /** The chosen value of a committed slot (for checkers and catch-up). */
  committedValue (slot: Slot): Value | undefined {
    return slot >= 1 && slot <= this.commitIndex ? this.log.get(slot)?.value : undefined
  }

  // ---------------------------------------------------------------------------------------
  // Elections: probe (pre-vote) → prepare → promise

  private becomeCandidate (transfer: boolean): void {
    const ballot: Ballot = { round: Math.max(this.roundSeen, this.promised.round) + 1, node: this.id }
    const wasLeader = this.role.kind === 'leader'
    if (this.role.kind === 'leader') this.stepDownLeader(this.role)
    this.role = { kind: 'candidate', phase: 'probe', ballot, fromSlot: this.commitIndex + 1, transfer, grants: new Set([this.id]), promises: new Map() }
    this.setLeader(undefined, undefined)
    this.ticksSinceContact = 0
    this.electionTimeout = this.randomElectionTimeout()
    this.softStateDirty = true
    this.log_(`campaign ${formatBallot(ballot)}${transfer ? ' (transfer)' : ''}${wasLeader ? ' (was leader)' : ''}`)
    if (this.config.mutations?.skipPhase1 === true) {
      // Broken on purpose: claim leadership on our own log alone.
      this.setPromised(ballot)
      this.becomeLeader(this.role, new Map([[this.id, this.ownPromise(ballot, this.commitIndex + 1)]]))
      return
    }
    if (transfer) {
      this.startPrepare(this.role)
      return
    }
    for (const v of this.configuration.voters) {
      if (v !== this.id) this.send(v, { type: 'probe', ballot, transfer })
    }
    this.maybeFinishProbe(this.role)
  }

  private maybeFinishProbe (role: CandidateRole): void {
    if (role.phase === 'probe' && isQuorum(role.grants, this.configuration)) this.startPrepare(role)
  }

  private startPrepare (role: CandidateRole): void {
    role.phase = 'prepare'
    for (const v of this.configuration.voters) {
      if (v !== this.id) this.send(v, { type: 'prepare', ballot: role.ballot, fromSlot: role.fromSlot, transfer: role.transfer })
    }
    this.maybeWinElection(role)
  }

  /**
   * Leader stickiness (Raft's check-quorum/pre-vote idea): while this node has heard a live
   * leader within the minimum election timeout it refuses to help depose it, so a node that
   * returns from a partition cannot disrupt a working group. A transfer bypasses this.
   */
  private leaderAlive (): boolean {
    return this.role.kind === 'leader' || (this.leaderId !== undefined && this.ticksSinceContact < this.config.electionTicksMin)
  }

  private onProbe (from: NodeId, m: ProbeMessage): void {
    if (!isVoter(this.configuration, from)) return
    const granted = ballotGreater(m.ballot, this.promised) && (m.transfer || !this.leaderAlive())
    this.send(from, { type: 'probeReply', ballot: m.ballot, granted, promised: this.promised })
  }

  private onProbeReply (from: NodeId, m: ProbeReplyMessage): void {
    this.noteRound(m.promised)
    const role = this.role
    if (role.kind !== 'candidate' || role.phase !== 'probe' || !ballotEquals(role.ballot, m.ballot)) return
    if (m.granted) {
      role.grants.add(from)
      this.maybeFinishProbe(role)
    }
  }

  private onPrepare (from: NodeId, m: PrepareMessage): void {
    if (!isVoter(this.configuration, from)) return
    this.noteRound(m.ballot)
    const cmp = compareBallots(m.ballot, this.promised)
    if (cmp < 0) {
      mark('acceptor: prepare with stale ballot rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.promised, reason: 'promised-higher' })
      return
    }
    if (cmp > 0 && !m.transfer && this.leaderAlive() && from !== this.leaderId) {
      mark('acceptor: prepare refused, leader alive')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.promised, reason: 'leader-alive' })
      return
    }
    if (cmp > 0) this.setPromised(m.ballot)
    // Give the candidate a full election timeout to finish before we campaign ourselves.
    this.ticksSinceContact = 0
    this.send(from, this.ownPromise(m.ballot, m.fromSlot))
  }

  /** Phase 1b: our votes above our commit index (slots at or below it are chosen: catch up instead). */
  private ownPromise (ballot: Ballot, fromSlot: Slot): PromiseMessage {
    const entries: Array<readonly [Slot, LogEntry]> = []
    for (let s = Math.max(fromSlot, this.commitIndex + 1); s <= this.lastSlot; s++) {
      const e = this.log.get(s)
      if (e !== undefined) entries.push([s, e])
    }
    return { type: 'promise', ballot, commitIndex: this.commitIndex, entries }
  }

  private onPromise (from: NodeId, m: PromiseMessage): void {
    const role = this.role
    if (role.kind !== 'candidate' || role.phase !== 'prepare' || !ballotEquals(role.ballot, m.ballot)) return
    role.promises.set(from, m)
    this.maybeWinElection(role)
  }

  /**
   * Our own acceptor promises last, only once a majority of the others has: if the election
   * fails, this node has promised nothing, so it cannot go on rejecting a live leader's accepts
   * and heartbeats (the disruption pre-vote exists to prevent).
   */
  private maybeWinElection (role: CandidateRole): void {
    if (role.promises.size + 1 < majority(this.configuration.voters.length)) return
    if (!isQuorum([this.id, ...role.promises.keys()], this.configuration)) return
    if (ballotGreater(this.promised, role.ballot)) {
      mark('candidate: own acceptor promised higher meanwhile')
      this.becomeFollower()
      return
    }
    this.setPromised(role.ballot)
    const promises = new Map(role.promises)
    promises.set(this.id, this.ownPromise(role.ballot, role.fromSlot))
    this.becomeLeader(role, promises)
  }

  private onReject (from: NodeId, m: RejectMessage): void {
    this.noteRound(m.promised)
    const role = this.role
    if (role.kind === 'follower' || !ballotEquals(role.ballot, m.ballot)) return
    if (ballotGreater(m.promised, role.ballot)) {
      mark(role.kind === 'leader' ? 'leader: preempted by higher ballot' : 'candidate: preempted by higher ballot')
      this.log_(`preempted by ${formatBallot(m.promised)} (from ${from})`)
      this.becomeFollower()
    }
  }

  private onTimeoutNow (from: NodeId, m: TimeoutNowMessage): void {
    if (from !== this.leaderId || this.leaderBallot === undefined || !ballotEquals(m.ballot, this.leaderBallot)) {
      mark('transfer: timeoutNow from a non-leader ignored')
      return
    }
    if (isVoter(this.configuration, this.id)) this.becomeCandidate(true)
  }

  // ---------------------------------------------------------------------------------------
  // Leadership

  private becomeLeader (candidate: CandidateRole, promises: ReadonlyMap<NodeId, PromiseMessage>): void {
    const ballot = candidate.ballot
    // Merge Phase 1: slots at or below some acceptor's commit index are chosen (fetch them);
    // above that, re-propose the value of the highest ballot, and fill holes with no-ops.
    let knownChosen = this.commitIndex
    let catchupSource: NodeId | undefined
    for (const [id, p] of promises) {
      if (p.commitIndex > knownChosen) { knownChosen = p.commitIndex; catchupSource = id }
    }
    const best = new Map<Slot, LogEntry>()
    let maxSlot = knownChosen
    for (const p of promises.values()) {
      for (const [s, e] of p.entries) {
        if (s <= knownChosen) continue
        const cur = best.get(s)
        if (cur === undefined || ballotGreater(e.ballot, cur.ballot)) best.set(s, e)
        if (s > maxSlot) maxSlot = s
      }
    }
    const recovery = new Map<Slot, Value>()
    for (let s = knownChosen + 1; s <= maxSlot; s++) {
      const found = best.get(s)
      if (found === undefined) mark('leader: hole filled with no-op')
      else mark('leader: value re-proposed from phase 1')
      recovery.set(s, found?.value ?? { id: valueId(ballot, s), commands: [] })
    }
    const lastAck = new Map<NodeId, number>()
    for (const v of this.configuration.voters) lastAck.set(v, this.now)
    const role: LeaderRole = {
      kind: 'leader',
      ballot,
      nextSlot: maxSlot + 1,
      inflight: new Map(),
      chosen: new Map(),
      recovery,
      recoveryEnd: maxSlot,
      queue: [],
      queueHead: 0,
      lastAck,
      peerCommit: new Map(),
      readSeq: 0,
      readRoundDue: false,
      readAcks: new Map(),
      pendingReads: [],
      heartbeatElapsed: 0,
      quorumCheckElapsed: 0,
      commitSent: 0,
      transfer: undefined,
      catchupTarget: knownChosen,
      catchupAttempt: 0
    }
    this.role = role
    this.setLeader(this.id, ballot)
    this.softStateDirty = true
    this.log_(`leader ${formatBallot(ballot)} recovered ${recovery.size} slot(s), chosen ≤ ${knownChosen}, next ${role.nextSlot}`)
    if (catchupSource !== undefined && knownChosen > this.commitIndex) {
      mark('leader: catching up after phase 1')
      this.sendCatchup(catchupSource, this.commitIndex + 1, knownChosen)
    } else {
      this.catchupSentTick = undefined
    }
    this.broadcastHeartbeat(role)
    this.maybePropose(role)
  }

  private stepDownLeader (role: LeaderRole): void {
    for (const r of role.pendingReads) this.failRead(r)
    role.pendingReads.length = 0
    mark('leader: stepped down')
  }

  private becomeFollower (): void {
    if (this.role.kind === 'leader') this.stepDownLeader(this.role)
    if (this.role.kind !== 'follower') {
      this.role = { kind: 'follower' }
      this.softStateDirty = true
    }
    this.ticksSinceContact = 0
    this.electionTimeout = this.randomElectionTimeout()
  }

  private tickLeader (role: LeaderRole): void {
    role.heartbeatElapsed++
    if (role.heartbeatElapsed >= this.config.heartbeatTicks) this.broadcastHeartbeat(role)
    for (const [slot, infl] of role.inflight) {
      if (this.now - infl.sentTick < this.config.acceptRetryTicks) continue
      infl.sentTick = this.now
      mark('leader: accept retransmitted')
      for (const v of this.configuration.voters) {
        if (!infl.acks.has(v)) this.send(v, { type: 'accept', ballot: role.ballot, slot, value: infl.value, commitIndex: this.commitIndex })
      }
    }
    if (role.transfer !== undefined && ++role.transfer.ticks >= this.config.electionTicksMax) {
      mark('transfer: timed out')
      role.transfer = undefined
      this.maybePropose(role)
    }
    // Check quorum: a leader that has not heard from a majority for a full election timeout
    // steps down, so clients stop waiting on a leader cut off in a minority partition.
    role.quorumCheckElapsed++
    if (role.quorumCheckElapsed >= this.config.electionTicksMax) {
      role.quorumCheckElapsed = 0
      const heard = this.configuration.voters.filter(v => v === this.id || this.now - (role.lastAck.get(v) ?? -Infinity) < this.config.electionTicksMax)
      if (!isQuorum(heard, this.configuration)) {
        mark('leader: lost quorum contact, stepping down')
        this.log_('lost contact with a majority, stepping down')
        this.becomeFollower()
        this.setLeader(undefined, undefined)
      }
    }
  }

  private broadcastHeartbeat (role: LeaderRole): void {
    role.heartbeatElapsed = 0
    if (role.readRoundDue) this.startReadRound(role)
    for (const id of members(this.configuration)) {
      if (id !== this.id) this.send(id, { type: 'heartbeat', ballot: role.ballot, commitIndex: this.commitIndex, readSeq: role.readSeq })
    }
    role.commitSent = this.commitIndex
  }

  /** Cuts batches from the queue and proposes recovered values, within the α window. */
  private maybePropose (role: LeaderRole): void {
    // α rule: slot t may be proposed only when every slot ≤ t − α is chosen and known here.
    // Until membership changes exist (issue 3) this bounds the pipeline; with them it is what
    // lets a leader know which configuration governs slot t.
    const limit = this.commitIndex + this.config.pipelineMax
    for (const [slot, value] of role.recovery) {
      if (slot > limit) break
      role.recovery.delete(slot)
      if (slot <= this.commitIndex) continue
      this.proposeAt(role, slot, value)
    }
    if (role.transfer !== undefined) return
    while (role.queueHead < role.queue.length && role.nextSlot <= limit) {
      const slot = role.nextSlot++
      const commands: Command[] = []
      let bytes = 0
      while (role.queueHead < role.queue.length && commands.length < this.config.batchCommandsMax) {
        const c = role.queue[role.queueHead]
        assert(c !== undefined, 'queue head within bounds')
        if (commands.length > 0 && bytes + c.data.byteLength > this.config.batchBytesMax) break
        commands.push(c)
        bytes += c.data.byteLength
        role.queueHead++
      }
      this.proposeAt(role, slot, { id: valueId(role.ballot, slot), commands })
    }
    if (role.queueHead === role.queue.length) {
      role.queue.length = 0
      role.queueHead = 0
    } else if (role.queueHead > 4096) {
      role.queue.splice(0, role.queueHead)
      role.queueHead = 0
    }
  }

  private proposeAt (role: LeaderRole, slot: Slot, value: Value): void {
    assert(slot > this.commitIndex && slot <= this.commitIndex + this.config.pipelineMax, () => `α window: slot ${slot} outside (${this.commitIndex}, ${this.commitIndex + this.config.pipelineMax}]`)
    assert(!role.inflight.has(slot), () => `slot ${slot} proposed twice in one ballot`)
    const infl: InflightSlot = { value, acks: new Set(), sentTick: this.now }
    role.inflight.set(slot, infl)
    for (const v of this.configuration.voters) {
      if (v !== this.id) this.send(v, { type: 'accept', ballot: role.ballot, slot, value, commitIndex: this.commitIndex })
    }
    // The leader's own acceptor votes too; the vote is in this Ready's persist batch, which is
    // durable before any message (or apply) of this Ready happens.
    if (this.acceptLocally(slot, role.ballot, value)) this.onVote(role, this.id, slot)
  }

  private onVote (role: LeaderRole, from: NodeId, slot: Slot): void {
    const infl = role.inflight.get(slot)
    if (infl === undefined) return
    infl.acks.add(from)
    if (!isQuorum(infl.acks, this.configuration)) return
    role.inflight.delete(slot)
    role.chosen.set(slot, infl.value)
    this.advanceLeaderCommit(role)
  }

  private advanceLeaderCommit (role: LeaderRole): void {
    const before = this.commitIndex
    for (;;) {
      const next = this.commitIndex + 1
      const value = role.chosen.get(next)
      if (value === undefined) break
      const entry = this.log.get(next)
      assert(entry !== undefined && entry.value.id === value.id, () => `leader log disagrees with chosen value at slot ${next}`)
      role.chosen.delete(next)
      this.commitIndex = next
    }
    if (this.commitIndex !== before) {
      this.persistCommit = true
      this.resolveLeaderReads(role)
      this.maybePropose(role)
    }
  }

  /** Called after catch-up moved commitIndex: drop leader bookkeeping at or below it. */
  private pruneLeaderBelowCommit (role: LeaderRole): void {
    for (const slot of role.inflight.keys()) {
      if (slot <= this.commitIndex) {
        const infl = role.inflight.get(slot)
        const entry = this.log.get(slot)
        assert(infl !== undefined && entry !== undefined && infl.value.id === entry.value.id, () => `catch-up value at slot ${slot} contradicts this leader's proposal`)
        role.inflight.delete(slot)
      }
    }
    for (const slot of role.chosen.keys()) if (slot <= this.commitIndex) role.chosen.delete(slot)
    if (role.nextSlot <= this.commitIndex) role.nextSlot = this.commitIndex + 1
    this.advanceLeaderCommit(role)
    this.resolveLeaderReads(role)
    this.maybePropose(role)
  }

  /** Sends pending commit progress with the next batch, so followers learn without waiting a heartbeat. */
  private flushLeader (role: LeaderRole): void {
    if (role.readRoundDue) {
      this.broadcastHeartbeat(role)
      return
    }
    if (this.commitIndex > role.commitSent) this.broadcastHeartbeat(role)
  }

  // ---------------------------------------------------------------------------------------
  // Acceptor (Phase 2) and learner

  private onAccept (from: NodeId, m: AcceptMessage): void {
    if (!isVoter(this.configuration, from) || from !== m.ballot.node) {
      mark('acceptor: accept from a non-voter or forged ballot dropped')
      return
    }
    this.noteRound(m.ballot)
    if (compareBallots(m.ballot, this.promised) < 0) {
      mark('acceptor: accept with stale ballot rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.promised, reason: 'promised-higher' })
      return
    }
    this.observeLeader(from, m.ballot)
    if (this.acceptLocally(m.slot, m.ballot, m.value)) this.send(from, { type: 'accepted', ballot: m.ballot, slot: m.slot })
    this.learnCommit(m.ballot, m.commitIndex)
  }

  /**
   * Records a vote. A slot known to be chosen is never overwritten: the acceptor's log is also
   * this node's learner log, and a late accept from a deposed leader may carry another value.
   * Returns whether the vote for `value` stands.
   */
  private acceptLocally (slot: Slot, ballot: Ballot, value: Value): boolean {
    assert(compareBallots(ballot, this.promised) >= 0, 'accept below the promised ballot')
    if (slot <= this.commitIndex) {
      const known = this.log.get(slot)
      if (known !== undefined && known.value.id === value.id) return true
      mark('acceptor: accept for a chosen slot with another value dropped')
      return false
    }
    const entry: LogEntry = { ballot, value }
    this.log.set(slot, entry)
    this.persistEntries.set(slot, entry)
    if (slot > this.lastSlot) this.lastSlot = slot
    return true
  }

  private onAccepted (from: NodeId, m: AcceptedMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || !ballotEquals(role.ballot, m.ballot)) return
    role.lastAck.set(from, this.now)
    this.onVote(role, from, m.slot)
  }

  private onHeartbeat (from: NodeId, m: HeartbeatMessage): void {
    if (!isVoter(this.configuration, from) || from !== m.ballot.node) {
      mark('heartbeat from a non-voter or forged ballot dropped')
      return
    }
    this.noteRound(m.ballot)
    if (compareBallots(m.ballot, this.promised) < 0) {
      mark('heartbeat from a deposed leader rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.promised, reason: 'promised-higher' })
      return
    }
    this.observeLeader(from, m.ballot)
    this.learnCommit(m.ballot, m.commitIndex)
    this.send(from, { type: 'heartbeatAck', ballot: m.ballot, readSeq: m.readSeq, commitIndex: this.commitIndex })
  }

  private onHeartbeatAck (from: NodeId, m: HeartbeatAckMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || !ballotEquals(role.ballot, m.ballot)) return
    role.lastAck.set(from, this.now)
    role.peerCommit.set(from, m.commitIndex)
    if (m.commitIndex > role.catchupTarget) role.catchupTarget = m.commitIndex
    if (m.readSeq > (role.readAcks.get(from) ?? 0)) {
      role.readAcks.set(from, m.readSeq)
      this.resolveLeaderReads(role)
    }
  }

  /**
   * A live leader in `ballot` exists. Accepting its messages also raises our promise to its
   * ballot (it has completed Phase 1), so older leaders are rejected from now on.
   */
  private observeLeader (from: NodeId, ballot: Ballot): void {
    if (ballotGreater(ballot, this.promised)) this.setPromised(ballot)
    const role = this.role
    if (role.kind !== 'follower' && !ballotEquals(role.ballot, ballot)) {
      this.log_(`following ${from} at ${formatBallot(ballot)}`)
      this.becomeFollower()
    }
    if (this.leaderId !== from || this.leaderBallot === undefined || !ballotEquals(this.leaderBallot, ballot)) {
      this.setLeader(from, ballot)
    }
    this.ticksSinceContact = 0
  }

  /**
   * The leader of `ballot` says slots ≤ `commit` are chosen. Our entry for such a slot holds
   * the chosen value exactly when we accepted it in that same ballot: a leader proposes one
   * value per slot per ballot. Any other slot must be fetched.
   */
  private learnCommit (ballot: Ballot, commit: Slot): void {
    if (this.leaderBallot === undefined || !ballotEquals(ballot, this.leaderBallot)) return
    if (commit > this.leaderCommit) this.leaderCommit = commit
    if (this.role.kind === 'leader') return
    const before = this.commitIndex
    while (this.commitIndex < this.leaderCommit) {
      const entry = this.log.get(this.commitIndex + 1)
      if (entry === undefined || !ballotEquals(entry.ballot, ballot)) break
      this.commitIndex++
    }
    if (this.commitIndex !== before) this.persistCommit = true
    this.maybeRequestCatchup()
  }

  private maybeRequestCatchup (): void {
    const role = this.role
    if (role.kind === 'leader') {
      this.maybeLeaderCatchup(role)
      return
    }
    if (this.leaderId === undefined || this.leaderId === this.id) return
    if (this.commitIndex >= this.leaderCommit) return
    if (this.catchupSentTick !== undefined && this.now - this.catchupSentTick < this.config.catchupRetryTicks) return
    this.sendCatchup(this.leaderId, this.commitIndex + 1, this.leaderCommit)
  }

  /**
   * A leader missing chosen values retries its catch-up, asking a voter known to have them
   * (from heartbeat acks) and otherwise rotating through the voters: the first source may
   * have crashed, or the request or reply been lost.
   */
  private maybeLeaderCatchup (role: LeaderRole): void {
    if (this.commitIndex >= role.catchupTarget) return
    if (this.catchupSentTick !== undefined && this.now - this.catchupSentTick < this.config.catchupRetryTicks) return
    const others = this.configuration.voters.filter(v => v !== this.id)
    const holders = others.filter(v => (role.peerCommit.get(v) ?? 0) > this.commitIndex)
    const pool = holders.length > 0 ? holders : others
    const to = pool[role.catchupAttempt++ % pool.length]
    if (to === undefined) return
    mark('leader: catch-up retried')
    this.sendCatchup(to, this.commitIndex + 1, role.catchupTarget)
  }

  private sendCatchup (to: NodeId, fromSlot: Slot, toSlot: Slot): void {
    this.catchupSentTick = this.now
    this.send(to, { type: 'catchupRequest', fromSlot, toSlot })
  }

  private onCatchupRequest (from: NodeId, m: CatchupRequestMessage): void {
    const last = Math.min(m.toSlot, this.commitIndex, m.fromSlot + this.config.catchupEntriesMax - 1)
    if (m.fromSlot < 1 || last < m.fromSlot) return
    const entries: Array<readonly [Slot, LogEntry]> = []
    for (let s = m.fromSlot; s <= last; s++) entries.push([s, this.entryAt(s)])
    this.send(from, { type: 'catchupReply', entries, commitIndex: this.commitIndex })
  }

  /**
   * Chosen values from a peer's committed prefix. When replacing an entry we keep the higher
   * of the two ballots: lowering the ballot of a vote for the chosen value could let a stale
   * value with a ballot in between win a later Phase 1.
   */
  private onCatchupReply (from: NodeId, m: CatchupReplyMessage): void {
    const before = this.commitIndex
    for (const [slot, entry] of m.entries) {
      if (slot <= this.commitIndex) continue
      if (slot !== this.commitIndex + 1) break
      const existing = this.log.get(slot)
      if (existing === undefined || existing.value.id !== entry.value.id) {
        const ballot = existing !== undefined && ballotGreater(existing.ballot, entry.ballot) ? existing.ballot : entry.ballot
        const merged: LogEntry = { ballot, value: entry.value }
        this.log.set(slot, merged)
        this.persistEntries.set(slot, merged)
        if (slot > this.lastSlot) this.lastSlot = slot
      }
      this.commitIndex = slot
    }
    if (this.commitIndex === before) return
    mark('learner: caught up from a peer')
    this.persistCommit = true
    this.catchupSentTick = undefined
    const role = this.role
    if (role.kind === 'leader') {
      this.pruneLeaderBelowCommit(role)
      if (m.commitIndex > this.commitIndex) this.sendCatchup(from, this.commitIndex + 1, m.commitIndex)
    } else if (this.leaderBallot !== undefined) {
      this.learnCommit(this.leaderBallot, this.leaderCommit)
    }
  }

  private onForward (from: NodeId, m: ForwardMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || role.transfer !== undefined) {
      mark('forward: not leader, dropped')
      return
    }
    if (role.queue.length - role.queueHead + m.commands.length > this.config.proposalQueueMax) {
      mark('forward: queue full, dropped')
      return
    }
    for (const c of m.commands) {
      if (c.data.byteLength <= this.config.batchBytesMax) role.queue.push(c)
    }
    this.maybePropose(role)
  }

  // ---------------------------------------------------------------------------------------
  // Linearizable reads (read-index)

  /**
   * A read is linearizable at index max(commitIndex, recoveryEnd) once a majority confirms, in
   * a heartbeat round that starts after the read arrived, that this node is still the leader:
   * a newer leader needs a majority of promises, which would have refused our heartbeat.
   * recoveryEnd covers values an earlier leader may have acknowledged that we re-proposed.
   */
  private startLeaderRead (role: LeaderRole, id: string, origin: NodeId): void {
    const index = Math.max(this.commitIndex, role.recoveryEnd)
    if (this.config.mutations?.unsafeLocalReads === true) {
      this.completeRead({ id, origin, index: this.commitIndex, seq: 0 })
      return
    }
    if (this.configuration.voters.length === 1) {
      this.completeRead({ id, origin, index, seq: 0 })
      return
    }
    role.pendingReads.push({ id, origin, index, seq: -1 })
    role.readRoundDue = true
  }

  private startReadRound (role: LeaderRole): void {
    role.readSeq++
    role.readRoundDue = false
    for (const r of role.pendingReads) if (r.seq < 0) r.seq = role.readSeq
  }

  private resolveLeaderReads (role: LeaderRole): void {
    if (role.pendingReads.length === 0) return
    const remaining: PendingRead[] = []
    for (const r of role.pendingReads) {
      const confirmed = r.seq > 0 && isQuorum(this.configuration.voters.filter(v => v === this.id || (role.readAcks.get(v) ?? 0) >= r.seq), this.configuration)
      if (confirmed) this.completeRead(r)
      else remaining.push(r)
    }
    role.pendingReads.length = 0
    role.pendingReads.push(...remaining)
  }

  private completeRead (r: PendingRead): void {
    if (r.origin === this.id) this.readsReady.push({ id: r.id, index: r.index })
    else this.send(r.origin, { type: 'readReply', id: r.id, index: r.index })
  }

  private failRead (r: PendingRead): void {
    if (r.origin === this.id) this.readsFailed.push(r.id)
    else this.send(r.origin, { type: 'readReply', id: r.id, index: undefined })
  }

  private onReadRequest (from: NodeId, m: ReadRequestMessage): void {
    const role = this.role
    if (role.kind !== 'leader') {
      this.send(from, { type: 'readReply', id: m.id, index: undefined })
      return
    }
    this.startLeaderRead(role, m.id, from)
  }

  private onReadReply (_from: NodeId, m: ReadReplyMessage): void {
    if (!this.remoteReads.delete(m.id)) return
    if (m.index === undefined) this.readsFailed.push(m.id)
    else this.readsReady.push({ id: m.id, index: m.index })
  }

  /** Forgets a read the runtime gave up on (its own timeout). */
  cancelRead (id: string): void {
    this.remoteReads.delete(id)
    const role = this.role
    if (role.kind === 'leader') {
      const i = role.pendingReads.findIndex(r => r.id === id && r.origin === this.id)
      if (i >= 0) role.pendingReads.splice(i, 1)
    }
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private setPromised (ballot: Ballot): void {
    assert(compareBallots(ballot, this.promised) >= 0, 'promised ballot never decreases')
    this.promised = ballot
    this.persistPromised = true
    this.softStateDirty = true
    this.noteRound(ballot)
    const role = this.role
    if (role.kind !== 'follower' && ballotGreater(ballot, role.ballot)) {
      this.log_(`promised ${formatBallot(ballot)}, stepping down from ${role.kind}`)
      this.becomeFollower()
    }
  }

  private setLeader (id: NodeId | undefined, ballot: Ballot | undefined): void {
    if (this.leaderId !== id) this.softStateDirty = true
    this.leaderId = id
    this.leaderBallot = ballot
    this.leaderCommit = 0
  }

  private noteRound (ballot: Ballot): void {
    if (ballot.round > this.roundSeen) this.roundSeen = ballot.round
  }

  private send (to: NodeId, message: PaxosMessage): void {
    this.outbox.push({ to, message })
  }

  private entryAt (slot: Slot): LogEntry {
    const e = this.log.get(slot)
    assert(e !== undefined, () => `no log entry at committed slot ${slot}`)
    return e
  }

  private randomElectionTimeout (): number {
    return this.random.int(this.config.electionTicksMin, this.config.electionTicksMax)
  }

  private log_ (line: string): void {
    this.trace?.(`${this.id} t${this.now} ${line}`)
  }

  /** Invariants checked after every input (TigerBeetle's `defer self.invariants()`). */
  checkInvariants (): void {
    assert(this.appliedIndex <= this.handedOut && this.handedOut <= this.commitIndex, () => `applied ${this.appliedIndex} ≤ handedOut ${this.handedOut} ≤ commit ${this.commitIndex}`)
    assert(this.commitIndex === 0 || this.log.has(this.commitIndex), 'committed slot present in the log')
    assert(this.commitIndex <= this.lastSlot || this.commitIndex === 0, 'commit index within the log')
    const role = this.role
    if (role.kind === 'leader') {
      assert(ballotEquals(role.ballot, this.promised), 'a leader has promised exactly its own ballot')
      assert(role.nextSlot > this.commitIndex, 'leader next slot above commit index')
      for (const slot of role.inflight.keys()) {
        assert(slot > this.commitIndex && slot <= this.commitIndex + this.config.pipelineMax, () => `in-flight slot ${slot} outside the α window`)
      }
    } else if (role.kind === 'candidate') {
      assert(compareBallots(this.promised, role.ballot) <= 0, 'a candidate has not promised above its own ballot')
    }
  }
}

/** Value ids are unique: a ballot is used by one node, which proposes one value per slot in it. */
export function valueId (ballot: Ballot, slot: Slot): string {
  return `${ballot.round}.${ballot.node}.${slot}`
}
