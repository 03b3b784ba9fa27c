import { assert } from '../util/assert.js'
import { mark } from '../util/marks.js'
import { MAX_BALLOT_ROUND, ballotEquals, ballotGreater, compareBallots, formatBallot, nextBallot } from './ballot.js'
import { Acceptor } from './acceptor.js'
import { CatchupRequests } from './catchup.js'
import { resolveConfig } from './config.js'
import { isVoter, members } from './configuration.js'
import type { PaxosConfig, PaxosConfigInit } from './config.js'
import { PaxosLog } from './log.js'
import { Membership } from './membership.js'
import { Pipeline, inAlphaWindow } from './pipeline.js'
import { Progress } from './progress.js'
import { PromiseMerge } from './promise-merge.js'
import { ReadIndex, leaderRecovered } from './read-index.js'
import type { PendingRead } from './read-index.js'
import type { ConfigEntry } from './reconfiguration.js'
import { Timeout, retryJitter } from './timeout.js'
import type {
  AcceptMessage, AcceptedMessage, CatchupReplyMessage, CatchupRequestMessage, Envelope, ForwardMessage,
  HeartbeatAckMessage, HeartbeatMessage, PaxosMessage, PrepareMessage, ProbeMessage, ProbeReplyMessage,
  PromiseMessage, ReadReplyMessage, ReadRequestMessage, RejectMessage, TimeoutNowMessage
} from './messages.js'
import type { CommittedSlot, CompactionStatus, NodeStatus, ProposeResult, RandomSource, ReadRequestResult, ReadState, Ready, SoftState } from './ready.js'
import type { Ballot, Command, Configuration, DurableState, LogEntry, NodeId, PersistBatch, Slot, Value } from './types.js'

export type { CommittedSlot, CompactionStatus, NodeStatus, ProposeResult, RandomSource, ReadRequestResult, ReadState, Ready, RoleKind, SoftState } from './ready.js'

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

/**
 * A leadership: one small state object per concern, each with its own file and tests. This
 * class (`PaxosNode`) dispatches messages to them and moves between roles.
 */
interface LeaderRole {
  readonly kind: 'leader'
  readonly ballot: Ballot
  /** Phase 1: the promises and what they reported (promise-merge.ts). */
  readonly phase1: PromiseMerge
  /** Phase 2: queue, in-flight slots and their votes (pipeline.ts). */
  readonly pipeline: Pipeline
  /** The other members: acknowledgements, activity, reported commit indexes (progress.ts). */
  readonly progress: Progress
  /** Read-index rounds and the reads waiting on them (read-index.ts). */
  readonly reads: ReadIndex
  readonly heartbeat: Timeout
  /** Check quorum: every election timeout, a leader that heard from no majority steps down. */
  readonly quorumCheck: Timeout
  /** The commit index the last heartbeat carried. */
  commitSent: Slot
  transfer: { readonly target: NodeId, readonly timeout: Timeout } | undefined
}

type Role = FollowerRole | CandidateRole | LeaderRole

export interface PaxosNodeOptions {
  /** Receives one line per notable protocol event (role changes, elections, drops). */
  trace?: (line: string) => void
  /**
   * The snapshot the node starts from (loaded by the runtime, which has already restored the
   * state machine from it): slots ≤ `index` are chosen and applied, `configs` are the
   * configurations governing slots above `index` (`snapshotConfigs`). The durable log then only
   * holds slots above it.
   */
  snapshot?: { readonly index: Slot, readonly configs: readonly ConfigEntry[] }
  /**
   * The runtime's clock (ms since the epoch). When given, every value this node proposes as
   * leader carries `time`: the clock at proposal, never below a time this node proposed before.
   * The core never calls it for anything else: it decides nothing by time.
   */
  now?: () => number
}

/**
 * One Multi-Paxos replica as a pure state machine: `step`, `tick` and `propose` go in, a
 * `Ready` comes out. No I/O, timers, clock or ambient randomness; the runtime (VirtualPeer)
 * or the simulator does all of that.
 *
 * Each node plays all three PMMC roles: acceptor (promised + log), leader (when elected) and
 * learner (commitIndex + committed hand-out).
 */
/** A catch-up reply carries about this many full batches' worth of command bytes at most. */
const CATCHUP_REPLY_BATCHES = 4

export class PaxosNode {
  readonly id: NodeId
  readonly config: PaxosConfig
  private readonly random: RandomSource
  /** The runtime's clock for proposal times (PaxosNodeOptions.now), and the last time proposed. */
  private readonly wallClock: (() => number) | undefined
  private lastProposedTime = 0
  private readonly trace: ((line: string) => void) | undefined
  /** The logical clock: ticks since start. Every timeout below reads it. */
  private readonly clock: { now: number } = { now: 0 }
  /** Known configurations, the α rule for reconfigurations, and reconfiguration outcomes. */
  private readonly membership: Membership

  // Durable state (mirrored in Storage through `persist` batches).
  /** The promise and the votes, and the durability rules they obey. */
  private readonly acceptor: Acceptor
  /** Votes and chosen values, and their compaction. Invariant: every slot in compactedThrough+1..commitIndex holds its chosen value. */
  private readonly log: PaxosLog
  private commitIndex: Slot

  // Volatile state.
  private role: Role = { kind: 'follower' }
  private leaderId: NodeId | undefined
  private leaderBallot: Ballot | undefined
  /** The runtime reported the connection to the leader broken (`peerUnreachable`). */
  private leaderSuspected = false
  /** The highest commit index heard from `leaderBallot`'s leader. */
  private leaderCommit: Slot = 0
  /**
   * Since a leader (or a candidate we promised) was last heard, with a duration drawn from
   * [electionTicksMin, electionTicksMax): a follower or candidate campaigns when it expires.
   * Its elapsed time also decides leader stickiness (`leaderAlive`).
   */
  private readonly election: Timeout
  /** Since a leader was last heard (or this node led): a lagging member polls for chosen values. */
  private readonly poll: Timeout
  private roundSeen: number
  private readonly catchup: CatchupRequests
  /** Highest slot handed out in a Ready. Invariant: `appliedIndex <= handedOut <= commitIndex`. */
  private handedOut: Slot = 0
  private appliedIndex: Slot = 0
  private readyCount = 0

  // Output buffers, drained by ready().
  /**
   * The commit index moved since it was last written. It rides along with the next write of
   * votes or a promise instead of costing an fsync of its own: the commit index is knowledge,
   * not a vote (every slot below it is chosen, hence durable at a quorum), so a node that loses
   * its latest value in a crash is one that had not heard of those commits yet, and learns them
   * again. Applying a chosen slot never waits for it. So that it does not lag for long on an
   * idle node (a restart then replays less of its own log), a commit index that waited
   * `heartbeatTicks` with nothing to ride on is written alone.
   */
  private persistCommit = false
  /** When `persistCommit` was set (logical ticks). */
  private commitMovedAt = 0
  private commitFlushDue = false
  private outbox: Envelope[] = []
  private readsReady: ReadState[] = []
  private readsFailed: string[] = []
  private readonly remoteReads = new Set<string>()
  private snapshotRequestsOut: NodeId[] = []
  private softStateDirty = true
  private outstanding: Ready | undefined

  constructor (init: PaxosConfigInit, durable: DurableState, random: RandomSource, options: PaxosNodeOptions = {}) {
    this.config = resolveConfig(init)
    this.id = this.config.id
    this.random = random
    this.wallClock = options.now
    this.trace = options.trace
    this.commitIndex = 0
    const snapshot = options.snapshot
    if (snapshot !== undefined) {
      assert(Number.isSafeInteger(snapshot.index) && snapshot.index >= 0 && snapshot.configs.length > 0, () => `invalid snapshot start: index ${snapshot.index}, ${snapshot.configs.length} configurations`)
      // Everything up to the snapshot's index is chosen and already reflected in the state
      // machine the runtime restored; storage dropped the log there.
      this.commitIndex = snapshot.index
      this.handedOut = snapshot.index
      this.appliedIndex = snapshot.index
    }
    this.log = new PaxosLog(durable.log, snapshot?.index ?? 0)
    this.acceptor = new Acceptor(durable.promised, this.log, this.config.mutations)
    this.membership = new Membership(snapshot?.configs ?? [{ fromSlot: 1, configuration: this.config.configuration }], this.commitIndex)
    this.catchup = new CatchupRequests(this.clock, this.config.catchupRetryTicks, CATCHUP_REPLY_RETRIES, this.config.retryJitter ? random : undefined)
    this.poll = new Timeout(this.clock, this.config.electionTicksMax).start()
    // Replaying the committed prefix (above the snapshot) rebuilds the configurations it chose.
    for (let s = this.commitIndex + 1; s <= durable.commitIndex; s++) {
      assert(this.log.has(s), () => `durable state: committed slot ${s} missing from the log`)
      this.commitTo(s)
    }
    this.roundSeen = this.acceptor.promised.round
    this.election = new Timeout(this.clock, this.randomElectionTimeout()).start()
    this.checkInvariants()
  }

  private get now (): number {
    return this.clock.now
  }

  // ---------------------------------------------------------------------------------------
  // Inputs

  /** A message from `from` (authenticated by the transport) arrived. */
  step (from: NodeId, message: PaxosMessage): void {
    if (from === this.id) {
      mark('step: message from self dropped')
      return
    }
    // Probes, catch-up and leader messages from strangers are answered or used to catch up:
    // the stranger may be a member of a configuration this node has not learned yet, or a
    // removed member that must learn it was removed. Everything else needs a known member.
    if (!OPEN_MESSAGES.has(message.type) && !this.membership.isKnownMember(from)) {
      mark('step: unknown sender dropped')
      this.log_(`drop ${message.type} from unknown ${from}`)
      return
    }
    this.notePeerActivity(from)
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
    this.clock.now++
    if (this.persistCommit && this.now - this.commitMovedAt >= this.config.heartbeatTicks) this.commitFlushDue = true
    const role = this.role
    switch (role.kind) {
      case 'follower':
      case 'candidate':
        if (this.election.expired() && this.membership.isKnownVoter(this.id)) {
          this.becomeCandidate(false)
        }
        // Without a leader, nobody tells a lagging member what it missed (a voter of a newer
        // configuration that does not know it yet cannot campaign, and is a stranger to the
        // leader it would follow): it asks the members it knows, one per election timeout.
        // Outsiders (spares, removed members) stay quiet until someone addresses them.
        if (this.poll.fire() && this.membership.isKnownMember(this.id)) this.pollCatchup()
        break
      case 'leader':
        this.poll.start()
        this.tickLeader(role)
        break
    }
    this.catchup.expire()
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
      if (role.pipeline.queued + commands.length > this.config.proposalQueueMax) return { kind: 'busy' }
      for (const c of commands) role.pipeline.enqueue(c)
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
    if (role.kind !== 'leader' || target === this.id || !isVoter(this.currentConfiguration(), target)) return false
    role.transfer = { target, timeout: new Timeout(this.clock, this.config.electionTicksMax).start() }
    this.send(target, { type: 'timeoutNow', ballot: role.ballot })
    this.log_(`transfer leadership to ${target}`)
    return true
  }

  /** Starts an election now (used by tests and by an operator forcing a campaign). */
  campaign (): void {
    if (this.membership.isKnownVoter(this.id) && this.role.kind !== 'leader') this.becomeCandidate(false)
  }

  // ---------------------------------------------------------------------------------------
  // Output

  private commitMoved (): void {
    if (!this.persistCommit) this.commitMovedAt = this.now
    this.persistCommit = true
  }

  /**
   * What is not durable yet, for a graceful stop: votes and a promise not yet handed out in a
   * Ready, and the commit index (which otherwise rides with the next vote). Undefined if nothing.
   * The node must not be stepped afterwards.
   */
  takeFinalPersist (): PersistBatch | undefined {
    if (!this.acceptor.dirty && !this.persistCommit) return undefined
    const persist = this.acceptor.takePersist()
    if (this.persistCommit) persist.commitIndex = this.commitIndex
    this.persistCommit = false
    this.commitFlushDue = false
    return persist
  }

  hasReady (): boolean {
    return this.outstanding === undefined && (this.outbox.length > 0 || this.acceptor.dirty || this.commitFlushDue ||
      this.handedOut < this.commitIndex || this.readsReady.length > 0 ||
      this.readsFailed.length > 0 || this.softStateDirty || this.snapshotRequestsOut.length > 0)
  }

  ready (): Ready | undefined {
    if (!this.hasReady()) return undefined
    const role = this.role
    if (role.kind === 'leader') this.flushLeader(role)
    let persist: PersistBatch | undefined
    if (this.acceptor.dirty || this.commitFlushDue) {
      persist = this.acceptor.takePersist()
      if (this.persistCommit) persist.commitIndex = this.commitIndex
      this.persistCommit = false
      this.commitFlushDue = false
    }
    const committed: CommittedSlot[] = []
    const last = Math.min(this.commitIndex, this.handedOut + this.config.committedMax)
    if (this.config.mutations?.applyTwice === true && this.handedOut > this.log.compactedThrough && (++this.readyCount % 7) === 0) {
      committed.push({ slot: this.handedOut, value: this.log.entryAt(this.handedOut).value })
    }
    for (let s = this.handedOut + 1; s <= last; s++) {
      const reconfigs = this.membership.takeOutcomes(s)
      if (reconfigs === undefined) {
        committed.push({ slot: s, value: this.log.entryAt(s).value })
      } else {
        committed.push({ slot: s, value: this.log.entryAt(s).value, reconfigs })
      }
    }
    this.handedOut = last
    const rd: Ready = {
      persist,
      send: this.outbox,
      committed,
      reads: this.readsReady,
      failedReads: this.readsFailed,
      softState: this.softStateDirty ? this.softState() : undefined,
      snapshotRequests: this.snapshotRequestsOut,
      acceptsBeforePersist: this.role.kind === 'leader' && !this.membership.quorumInAll(new Set([this.id]))
    }
    this.snapshotRequestsOut = []
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
    this.membership.trimHistory(this.appliedIndex)
    this.checkInvariants()
  }

  softState (): SoftState {
    return { role: this.role.kind, leader: this.leaderId, ballot: this.acceptor.promised }
  }

  status (): NodeStatus {
    const role = this.role
    const peers = role.kind === 'leader'
      ? this.membership.knownMembers().filter(v => v !== this.id).map(v => role.progress.peer(v))
      : []
    return {
      ...this.softState(),
      id: this.id,
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      lastSlot: this.log.lastSlot,
      configuration: this.membership.latest(),
      configurations: [...this.membership.entries],
      peers,
      queuedCommands: role.kind === 'leader' ? role.pipeline.queued : 0,
      inflightSlots: role.kind === 'leader' ? role.pipeline.inflightCount : 0,
      ticks: this.now
    }
  }

  compaction (): CompactionStatus {
    return { snapshotIndex: this.log.snapshotIndex, compactedThrough: this.log.compactedThrough }
  }

  /** The chosen value of a committed slot (for checkers and catch-up); undefined once compacted. */
  committedValue (slot: Slot): Value | undefined {
    return slot > this.log.compactedThrough && slot <= this.commitIndex ? this.log.get(slot)?.value : undefined
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots and compaction (issue 3 §2). The runtime owns the snapshot bytes and storage; the
  // core only learns where the snapshot is and which slots it may forget (log.ts), and which
  // configurations a snapshot must carry (membership.ts).

  /**
   * The configurations governing the slots above `index` (more than one while a change chosen
   * at or below `index` waits out its α window): the snapshot's configuration metadata.
   * `index` is a slot the runtime has applied in the Ready it is carrying out, so
   * appliedIndex ≤ index ≤ handedOut.
   */
  snapshotConfigs (index: Slot): ConfigEntry[] {
    assert(index >= this.appliedIndex && index <= this.handedOut, () => `snapshot index ${index} outside applied ${this.appliedIndex}..handed out ${this.handedOut}`)
    return this.membership.snapshotConfigs(index)
  }

  /** The runtime's storage now durably holds a snapshot at `index`: compaction may go up to it. */
  snapshotTaken (index: Slot): void {
    assert(index <= this.appliedIndex, () => `snapshot at ${index} above the applied index ${this.appliedIndex}`)
    this.log.snapshotTaken(index)
  }

  /**
   * Drops in-memory log entries ≤ `upTo`, never above the snapshot index or the applied index
   * (those entries are still needed to apply, or to serve catch-up without a snapshot). The
   * runtime calls it once its storage compaction succeeded. Returns the new compaction point.
   */
  compactLog (upTo: Slot): Slot {
    const compactedThrough = this.log.compact(upTo, this.appliedIndex)
    this.checkInvariants()
    return compactedThrough
  }

  /**
   * A snapshot received from a peer was installed at `index`: the runtime has persisted it
   * (Storage.installSnapshot) and restored the state machine and session table from it. Slots
   * ≤ index count as applied; learning continues above it. `configs` are the snapshot's
   * (`snapshotConfigs` on the sender); they replace ours only when the snapshot is ahead of our
   * commit index (otherwise ours, derived from more slots, are newer). A leader or candidate
   * that lagged that far steps down: its Phase 1 bookkeeping is about slots it never learned.
   * Must be called between Readies. Returns false (nothing changed) for a snapshot at or below
   * the applied index.
   */
  installSnapshot (index: Slot, configs: readonly ConfigEntry[]): boolean {
    assert(this.outstanding === undefined, 'installSnapshot() between ready() and advance()')
    assert(Number.isSafeInteger(index) && configs.length > 0, () => `invalid snapshot install: index ${index}, ${configs.length} configurations`)
    if (index <= this.appliedIndex) {
      mark('learner: stale snapshot install ignored')
      return false
    }
    if (index > this.commitIndex) {
      const role = this.role
      if (role.kind !== 'follower') {
        mark('learner: snapshot installed by a leader or candidate, stepping down')
        this.log_(`snapshot at ${index} is ahead of our commit ${this.commitIndex}: stepping down from ${role.kind}`)
        this.becomeFollower()
        if (role.kind === 'leader') this.setLeader(undefined, undefined)
      }
      this.commitIndex = index
      this.commitMoved()
      this.membership.reset(configs, index)
      this.softStateDirty = true
    }
    this.handedOut = index
    this.appliedIndex = index
    this.membership.dropOutcomesThrough(index)
    this.log.snapshotInstalled(index)
    mark('learner: snapshot installed')
    this.log_(`snapshot installed at ${index}, commit ${this.commitIndex}`)
    // Continue learning above the snapshot: entries we hold from the current leader may commit
    // now; anything else is fetched.
    this.catchup.unpace()
    if (this.role.kind === 'follower' && this.leaderBallot !== undefined) this.learnCommit(this.leaderBallot, this.leaderCommit)
    else this.maybeRequestCatchup()
    this.checkInvariants()
    return true
  }

  // ---------------------------------------------------------------------------------------
  // Elections: probe (pre-vote) → prepare → promise

  private becomeCandidate (transfer: boolean): void {
    const ballot = nextBallot(this.id, Math.max(this.roundSeen, this.acceptor.promised.round))
    if (ballot.round > MAX_BALLOT_ROUND) {
      // Only a member sending absurd rounds gets us here; campaigning would overflow them.
      mark('candidate: ballot rounds exhausted, not campaigning')
      this.election.start()
      return
    }
    const wasLeader = this.role.kind === 'leader'
    if (this.role.kind === 'leader') this.stepDownLeader(this.role)
    this.role = { kind: 'candidate', phase: 'probe', ballot, fromSlot: this.commitIndex + 1, transfer, grants: new Set([this.id]), promises: new Map() }
    this.setLeader(undefined, undefined)
    this.election.start(this.randomElectionTimeout())
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
    for (const v of this.membership.knownVoters()) {
      if (v !== this.id) this.send(v, { type: 'probe', ballot, transfer })
    }
    this.maybeFinishProbe(this.role)
  }

  private maybeFinishProbe (role: CandidateRole): void {
    if (role.phase === 'probe' && this.membership.quorumInAll(role.grants)) this.startPrepare(role)
  }

  private startPrepare (role: CandidateRole): void {
    role.phase = 'prepare'
    for (const v of this.membership.knownVoters()) {
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
    return this.role.kind === 'leader' || (this.leaderId !== undefined && !this.leaderSuspected && this.election.elapsed() < this.config.electionTicksMin)
  }

  /**
   * The runtime saw its connection to `peer` break: the process died (its sockets were reset)
   * or the path failed. If `peer` is our leader we stop counting it alive and campaign within
   * heartbeatTicks instead of waiting out the election timeout: a killed leader is replaced in
   * a round trip or two, not in 150–300 ms. A paused leader keeps its connections and is found
   * out by the timeout as before. Only timing changes, so safety does not depend on it; a false
   * report costs one probe round (the leader's next heartbeat restores it).
   *
   * A leader notes it in its progress (`peers[].reachable`) until the member is heard again: a
   * machine that was shut down a moment ago is not a learner to promote, however recently it
   * answered.
   */
  peerUnreachable (peer: NodeId): void {
    if (this.role.kind === 'leader') {
      if (peer !== this.id && this.membership.isKnownMember(peer)) this.role.progress.lost(peer)
      return
    }
    if (peer !== this.leaderId || this.leaderSuspected) return
    mark('follower: connection to the leader broke, campaigning soon')
    this.leaderSuspected = true
    this.election.start(this.random.int(1, this.config.heartbeatTicks + 1))
  }

  private onProbe (from: NodeId, m: ProbeMessage): void {
    // A stranger (a removed member, or one of a configuration we do not know yet) gets no
    // grant, but learns our commit index, so it can catch up and see where it stands.
    const granted = this.membership.isKnownVoter(from) && ballotGreater(m.ballot, this.acceptor.promised) && (m.transfer || !this.leaderAlive())
    this.send(from, { type: 'probeReply', ballot: m.ballot, granted, promised: this.acceptor.promised, commitIndex: this.commitIndex })
    // A stranger campaigning for our votes may be a voter of a configuration we have not
    // learned yet, in which we may be a voter too: ask the members we know what we missed.
    if (!this.membership.isKnownMember(from) && !this.leaderAlive()) this.pollCatchup()
  }

  private onProbeReply (from: NodeId, m: ProbeReplyMessage): void {
    // A stranger's rounds are not ours to chase (it could push them to the limit).
    if (this.membership.isKnownMember(from)) this.noteRound(m.promised)
    if (m.commitIndex > this.commitIndex) this.maybeCatchupFrom(from, m.commitIndex, false)
    const role = this.role
    if (role.kind !== 'candidate' || role.phase !== 'probe' || !ballotEquals(role.ballot, m.ballot)) return
    if (m.granted) {
      role.grants.add(from)
      this.maybeFinishProbe(role)
    }
  }

  private onPrepare (from: NodeId, m: PrepareMessage): void {
    if (!this.membership.isKnownVoter(from)) {
      mark('acceptor: prepare from a non-voter dropped')
      if (!this.membership.isKnownMember(from) && !this.leaderAlive()) this.pollCatchup()
      return
    }
    const cmp = compareBallots(m.ballot, this.acceptor.promised)
    if (cmp < 0) {
      mark('acceptor: prepare with stale ballot rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.acceptor.promised, reason: 'promised-higher' })
      return
    }
    if (cmp > 0 && !m.transfer && this.leaderAlive() && from !== this.leaderId) {
      // A refused prepare teaches us no round: otherwise a member could push every node's
      // rounds to the limit while a leader is alive, and nobody could campaign after it.
      mark('acceptor: prepare refused, leader alive')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.acceptor.promised, reason: 'leader-alive' })
      return
    }
    this.noteRound(m.ballot)
    if (cmp > 0) this.setPromised(m.ballot)
    // Give the candidate a full election timeout to finish before we campaign ourselves.
    this.election.start()
    this.send(from, this.ownPromise(m.ballot, m.fromSlot))
  }

  /** Phase 1b: our votes above our commit index (slots at or below it are chosen: catch up instead). */
  private ownPromise (ballot: Ballot, fromSlot: Slot): PromiseMessage {
    return this.acceptor.promiseReply(ballot, fromSlot, this.commitIndex)
  }

  private onPromise (from: NodeId, m: PromiseMessage): void {
    const role = this.role
    if (role.kind === 'leader' && ballotEquals(role.ballot, m.ballot)) {
      // Phase 1 extended to the voters of a configuration learned during this leadership.
      role.phase1.absorb(from, m)
      role.progress.acked(from, this.now)
      this.maybeLeaderCatchup(role)
      this.maybePropose(role)
      this.resolveLeaderReads(role)
      return
    }
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
    if (!this.membership.quorumInAll(new Set([this.id, ...role.promises.keys()]))) return
    if (ballotGreater(this.acceptor.promised, role.ballot)) {
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
    if (this.membership.isKnownVoter(this.id)) this.becomeCandidate(true)
  }

  // ---------------------------------------------------------------------------------------
  // Leadership

  private becomeLeader (candidate: CandidateRole, promises: ReadonlyMap<NodeId, PromiseMessage>): void {
    const ballot = candidate.ballot
    const role: LeaderRole = {
      kind: 'leader',
      ballot,
      phase1: new PromiseMerge(this.id, this.commitIndex, this.config.mutations),
      pipeline: new Pipeline(this.commitIndex + 1),
      progress: new Progress(this.membership.knownVoters(), this.now, this.commitIndex),
      reads: new ReadIndex(),
      heartbeat: new Timeout(this.clock, this.config.heartbeatTicks).start(),
      quorumCheck: new Timeout(this.clock, this.config.electionTicksMax).start(),
      commitSent: 0,
      transfer: undefined
    }
    this.role = role
    for (const [id, p] of promises) role.phase1.absorb(id, p)
    // Slots up to the highest reported commit index are chosen: fetch them, never propose there.
    role.pipeline.nextSlot = Math.max(role.phase1.chosenThrough, this.commitIndex) + 1
    this.setLeader(this.id, ballot)
    this.softStateDirty = true
    this.log_(`leader ${formatBallot(ballot)}: chosen ≤ ${role.phase1.chosenThrough}, votes reported up to ${role.phase1.maxReported}, next ${role.pipeline.nextSlot}`)
    this.catchup.unpace()
    this.maybeLeaderCatchup(role)
    this.broadcastHeartbeat(role)
    this.maybePropose(role)
  }

  /** Asks the voters of `configuration` that have not promised yet (re-asking after a retry interval). */
  private requestPhase1 (role: LeaderRole, configuration: Configuration): void {
    for (const v of role.phase1.toAsk(configuration, this.clock, this.config.acceptRetryTicks, this.config.retryJitter ? this.random : undefined)) {
      mark('leader: phase 1 extended to a newly known configuration')
      this.send(v, { type: 'prepare', ballot: role.ballot, fromSlot: this.commitIndex + 1, transfer: false })
    }
  }

  private stepDownLeader (role: LeaderRole): void {
    for (const r of role.reads.drain()) this.failRead(r)
    mark('leader: stepped down')
  }

  private becomeFollower (): void {
    if (this.role.kind === 'leader') this.stepDownLeader(this.role)
    if (this.role.kind !== 'follower') {
      this.role = { kind: 'follower' }
      this.softStateDirty = true
    }
    this.election.start(this.randomElectionTimeout())
  }

  private tickLeader (role: LeaderRole): void {
    if (role.heartbeat.expired()) this.broadcastHeartbeat(role)
    for (const [slot, infl] of role.pipeline.dueForRetransmit()) {
      mark('leader: accept retransmitted')
      for (const v of infl.configuration.voters) {
        if (v !== this.id && !infl.acks.has(v)) this.send(v, { type: 'accept', ballot: role.ballot, slot, value: infl.value, commitIndex: this.commitIndex })
      }
    }
    this.maybePropose(role)
    if (role.transfer !== undefined && role.transfer.timeout.expired()) {
      mark('transfer: timed out')
      role.transfer = undefined
      this.maybePropose(role)
    }
    // Check quorum: a leader that has not heard from a majority for a full election timeout
    // steps down, so clients stop waiting on a leader cut off in a minority partition.
    if (role.quorumCheck.fire()) {
      const heard = role.progress.ackedWithin(this.membership.knownVoters(), this.id, this.now, this.config.electionTicksMax)
      if (!this.membership.quorumInAll(heard)) {
        mark('leader: lost quorum contact, stepping down')
        this.log_('lost contact with a majority, stepping down')
        this.becomeFollower()
        this.setLeader(undefined, undefined)
      }
    }
  }

  private broadcastHeartbeat (role: LeaderRole): void {
    role.heartbeat.start()
    if (role.reads.roundDue) role.reads.startRound()
    for (const id of this.membership.knownMembers()) {
      if (id !== this.id) this.send(id, { type: 'heartbeat', ballot: role.ballot, commitIndex: this.commitIndex, readSeq: role.reads.round })
    }
    role.commitSent = this.commitIndex
  }

  /**
   * Fills slots in order within the α window: values recovered in Phase 1 (or no-ops for holes)
   * first, then batches cut from the queue.
   */
  private maybePropose (role: LeaderRole): void {
    const { phase1, pipeline } = role
    // The α rule (pipeline.ts, `inAlphaWindow`): slot t may be proposed only when every slot
    // ≤ t − α is chosen and known here. A configuration chosen at slot s governs slots ≥ s + α,
    // so the configuration of every slot in the window is already known and can no longer change.
    const alpha = this.config.alpha
    const limit = this.commitIndex + alpha
    while (pipeline.nextSlot <= limit) {
      const slot = pipeline.nextSlot
      if (slot <= phase1.chosenThrough) break
      const configuration = this.membership.at(slot)
      if (!phase1.prepared(configuration)) {
        this.requestPhase1(role, configuration)
        break
      }
      let value: Value
      if (slot <= phase1.maxReported) {
        const found = phase1.recovered(slot)
        mark(found === undefined ? 'leader: hole filled with no-op' : 'leader: value re-proposed from phase 1')
        value = found?.value ?? this.newValue(role, slot, [])
      } else if (role.transfer === undefined && pipeline.queued > 0) {
        value = this.newValue(role, slot, pipeline.cutBatch(this.config.batchCommandsMax, this.config.batchBytesMax))
      } else if (slot < this.membership.latestFromSlot()) {
        // A chosen membership change takes effect only α slots later. Without traffic the old
        // configuration would go on governing those slots, and if it has lost its majority the
        // group is stuck; no-ops move the change into effect at once (Lamport's remedy).
        mark('leader: no-op fills the α window after a membership change')
        value = this.newValue(role, slot, [])
      } else {
        break
      }
      pipeline.nextSlot++
      this.proposeAt(role, slot, value, configuration)
    }
    pipeline.compactQueue()
  }

  /** A value this leader proposes now: a fresh id and, with a clock, its proposal time. */
  private newValue (role: LeaderRole, slot: Slot, commands: Command[]): Value {
    const id = valueId(role.ballot, slot)
    if (this.wallClock === undefined) return { id, commands }
    const clock = Math.floor(this.wallClock())
    // A clock that reads garbage must not make a value unstorable: keep the last good time.
    const time = Number.isSafeInteger(clock) && clock > this.lastProposedTime ? clock : this.lastProposedTime
    this.lastProposedTime = time
    return { id, commands, time }
  }

  private proposeAt (role: LeaderRole, slot: Slot, value: Value, configuration: Configuration): void {
    const alpha = this.config.alpha
    assert(inAlphaWindow(slot, this.commitIndex, alpha), () => `α window: slot ${slot} outside (${this.commitIndex}, ${this.commitIndex + alpha}]`)
    role.pipeline.open(slot, value, configuration, new Timeout(this.clock, this.config.acceptRetryTicks, this.config.retryJitter ? retryJitter(this.random, this.config.acceptRetryTicks) : undefined).start())
    // Learners get the accepts too (their acknowledgements never count), so they learn
    // committed values from the commit index as voters do.
    for (const id of this.membership.knownMembers()) {
      if (id !== this.id) this.send(id, { type: 'accept', ballot: role.ballot, slot, value, commitIndex: this.commitIndex })
    }
    // The leader's own acceptor votes too; the vote is in this Ready's persist batch, which is
    // durable before any message (or apply) of this Ready happens.
    if (this.acceptLocally(slot, role.ballot, value)) this.onVote(role, this.id, slot)
  }

  private onVote (role: LeaderRole, from: NodeId, slot: Slot): void {
    if (role.pipeline.vote(slot, from)) this.advanceLeaderCommit(role)
  }

  private advanceLeaderCommit (role: LeaderRole): void {
    const before = this.commitIndex
    for (;;) {
      const next = this.commitIndex + 1
      const value = role.pipeline.takeChosen(next)
      if (value === undefined) break
      const entry = this.log.get(next)
      assert(entry !== undefined && entry.value.id === value.id, () => `leader log disagrees with chosen value at slot ${next}`)
      this.commitTo(next)
    }
    if (this.commitIndex !== before) {
      this.commitMoved()
      if (this.maybeStepDownRemoved()) return
      this.resolveLeaderReads(role)
      this.maybePropose(role)
    }
  }

  /** Called after catch-up moved commitIndex: drop leader bookkeeping at or below it. */
  private pruneLeaderBelowCommit (role: LeaderRole): void {
    role.pipeline.dropThrough(this.commitIndex, slot => this.log.get(slot)?.value.id)
    this.advanceLeaderCommit(role)
    this.resolveLeaderReads(role)
    this.maybePropose(role)
  }

  /** Sends pending commit progress with the next batch, so followers learn without waiting a heartbeat. */
  private flushLeader (role: LeaderRole): void {
    if (role.reads.roundDue) {
      this.broadcastHeartbeat(role)
      return
    }
    if (this.commitIndex > role.commitSent) this.broadcastHeartbeat(role)
  }

  // ---------------------------------------------------------------------------------------
  // Acceptor (Phase 2) and learner

  private onAccept (from: NodeId, m: AcceptMessage): void {
    if (!this.membership.isKnownVoter(from) || from !== m.ballot.node) {
      mark('acceptor: accept from a non-voter or forged ballot dropped')
      // A leader we do not know may belong to a configuration we have not learned: catch up.
      if (m.commitIndex > this.commitIndex) this.maybeCatchupFrom(from, m.commitIndex, from === m.ballot.node)
      return
    }
    this.noteRound(m.ballot)
    if (compareBallots(m.ballot, this.acceptor.promised) < 0) {
      mark('acceptor: accept with stale ballot rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.acceptor.promised, reason: 'promised-higher' })
      return
    }
    this.observeLeader(from, m.ballot)
    if (m.slot > this.commitIndex + this.config.alpha + this.config.catchupEntriesMax) {
      // A leader proposes within α of its commit index, and we learn that index with every
      // accept: a slot this far ahead means we lag (catch up first) or the sender lies. A vote
      // there would make every later Phase 1 report it, and its leader fill holes up to it.
      mark('acceptor: accept far beyond our commit index dropped')
    } else if (this.acceptLocally(m.slot, m.ballot, m.value)) {
      this.send(from, { type: 'accepted', ballot: m.ballot, slot: m.slot })
    }
    this.learnCommit(m.ballot, m.commitIndex)
  }

  /** Records our vote (acceptor.ts: never below the promise, never over a chosen slot); whether it stands. */
  private acceptLocally (slot: Slot, ballot: Ballot, value: Value): boolean {
    return this.acceptor.accept(slot, ballot, value, this.commitIndex)
  }

  private onAccepted (from: NodeId, m: AcceptedMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || !ballotEquals(role.ballot, m.ballot)) return
    role.progress.acked(from, this.now)
    this.onVote(role, from, m.slot)
  }

  private onHeartbeat (from: NodeId, m: HeartbeatMessage): void {
    if (!this.membership.isKnownVoter(from) || from !== m.ballot.node) {
      mark('heartbeat from a non-voter or forged ballot dropped')
      if (m.commitIndex > this.commitIndex) this.maybeCatchupFrom(from, m.commitIndex, from === m.ballot.node)
      return
    }
    this.noteRound(m.ballot)
    if (compareBallots(m.ballot, this.acceptor.promised) < 0) {
      mark('heartbeat from a deposed leader rejected')
      this.send(from, { type: 'reject', ballot: m.ballot, promised: this.acceptor.promised, reason: 'promised-higher' })
      return
    }
    this.observeLeader(from, m.ballot)
    this.learnCommit(m.ballot, m.commitIndex)
    this.send(from, { type: 'heartbeatAck', ballot: m.ballot, readSeq: m.readSeq, commitIndex: this.commitIndex })
  }

  private onHeartbeatAck (from: NodeId, m: HeartbeatAckMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || !ballotEquals(role.ballot, m.ballot)) return
    role.progress.acked(from, this.now)
    role.progress.reportCommit(from, m.commitIndex)
    if (role.reads.ack(from, m.readSeq)) {
      this.resolveLeaderReads(role)
      this.startReadRoundIfIdle(role)
    }
  }

  /**
   * A live leader in `ballot` exists. Accepting its messages also raises our promise to its
   * ballot (it has completed Phase 1), so older leaders are rejected from now on.
   */
  private observeLeader (from: NodeId, ballot: Ballot): void {
    if (ballotGreater(ballot, this.acceptor.promised)) this.setPromised(ballot)
    const role = this.role
    if (role.kind !== 'follower' && !ballotEquals(role.ballot, ballot)) {
      this.log_(`following ${from} at ${formatBallot(ballot)}`)
      this.becomeFollower()
    }
    // A leader we suspected is heard again: back to a full election timeout.
    const suspected = this.leaderSuspected
    if (this.leaderId !== from || this.leaderBallot === undefined || !ballotEquals(this.leaderBallot, ballot)) {
      this.setLeader(from, ballot)
    }
    this.leaderSuspected = false
    if (suspected) this.election.start(this.randomElectionTimeout())
    else this.election.start()
    this.poll.start()
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
      this.commitTo(this.commitIndex + 1)
    }
    if (this.commitIndex !== before) this.commitMoved()
    this.maybeRequestCatchup()
  }

  // ---------------------------------------------------------------------------------------
  // Catch-up: fetching chosen values (the requests' books are in catchup.ts)

  private maybeRequestCatchup (): void {
    const role = this.role
    if (role.kind === 'leader') {
      this.maybeLeaderCatchup(role)
      return
    }
    if (this.leaderId === undefined || this.leaderId === this.id) return
    if (this.commitIndex >= this.leaderCommit) return
    if (!this.catchup.mayRequest) return
    this.sendCatchup(this.leaderId, this.commitIndex + 1, this.leaderCommit)
  }

  /**
   * A leader missing chosen values retries its catch-up, asking a voter known to have them
   * (from heartbeat acks) and otherwise rotating through the voters: the first source may
   * have crashed, or the request or reply been lost.
   */
  private maybeLeaderCatchup (role: LeaderRole): void {
    const target = Math.max(role.phase1.chosenThrough, role.progress.catchupHint)
    if (this.commitIndex >= target) return
    if (!this.catchup.mayRequest) return
    const others = this.membership.knownVoters().filter(v => v !== this.id)
    // Who has the values: a promiser that reported them committed (it may have been removed
    // since, by a configuration it told us about; it was a voter we knew when it promised), or
    // a member whose heartbeat ack says so. Only if nobody does, every voter in turn.
    const holders = new Set<NodeId>(role.phase1.holdersAbove(this.commitIndex))
    for (const v of role.progress.aheadOf(others, this.commitIndex)) holders.add(v)
    const pool = holders.size > 0 ? [...holders] : others
    const to = role.progress.nextCatchupSource(pool)
    if (to === undefined) return
    mark('leader: catch-up retried')
    this.sendCatchup(to, this.commitIndex + 1, target, role.phase1.promises.has(to))
  }

  /** `vouched`: `to` is trusted although no longer a known member (see the callers). */
  private sendCatchup (to: NodeId, fromSlot: Slot, toSlot: Slot, vouched = false): void {
    if (!vouched && !this.membership.isKnownMember(to)) {
      // Its answer could not be trusted: only members of a configuration we know may teach us.
      mark('learner: catch-up from a non-member not asked')
      return
    }
    this.catchup.sent(to, fromSlot, toSlot)
    this.send(to, { type: 'catchupRequest', fromSlot, toSlot })
  }

  /**
   * Whether `peer` may answer us with chosen state: we asked it, recently, for slots it covers.
   * The runtime accepts a snapshot offer only from such a peer (it answers a catch-up request
   * that fell below the peer's compaction point).
   */
  catchupRequested (peer: NodeId): boolean {
    return this.catchup.requested(peer)
  }

  /** Asks the next member we know for whatever follows our commit index. */
  private pollCatchup (): void {
    if (!this.catchup.mayRequest) return
    const to = this.catchup.nextPollTarget(this.membership.knownMembers().filter(m => m !== this.id))
    if (to === undefined) return
    mark('learner: polling a member for chosen values')
    this.sendCatchup(to, this.commitIndex + 1, this.commitIndex + this.config.catchupEntriesMax)
  }

  /**
   * `peer` says it has chosen values up to `upTo` that we lack. A member of a configuration we
   * know is asked directly. A stranger may be a member of a configuration we have not learned
   * yet, or lie: we ask the members we know instead. One exception: an outsider (a member of no
   * configuration it knows: a spare being added) has no vote to protect and may know no live
   * member at all, so it asks the leader that addresses it; the group's quorum, not the
   * outsider, decides whether it joins, and it counts in no quorum before its catch-up made it
   * learn that it is a member. (Configuration certificates in the network layer close this.)
   */
  private maybeCatchupFrom (peer: NodeId, upTo: Slot, claimsLeadership: boolean): void {
    if (!this.membership.isKnownMember(peer)) {
      if (claimsLeadership && !this.membership.isKnownMember(this.id)) {
        if (!this.catchup.mayRequest) return
        mark('learner: outsider catching up from the leader that addressed it')
        this.sendCatchup(peer, this.commitIndex + 1, upTo, true)
        return
      }
      this.pollCatchup()
      return
    }
    if (!this.catchup.mayRequest) return
    mark('learner: catching up from a peer ahead of us')
    this.sendCatchup(peer, this.commitIndex + 1, upTo)
  }

  private onCatchupRequest (from: NodeId, m: CatchupRequestMessage): void {
    if (m.fromSlot >= 1 && m.fromSlot <= this.log.compactedThrough) {
      // The values are gone from our log; only the snapshot that replaced them can help.
      mark('learner: catch-up below the compaction point, snapshot needed')
      if (!this.snapshotRequestsOut.includes(from)) this.snapshotRequestsOut.push(from)
      return
    }
    const last = Math.min(m.toSlot, this.commitIndex, m.fromSlot + this.config.catchupEntriesMax - 1)
    if (m.fromSlot < 1 || last < m.fromSlot) return
    // Bounded in bytes as well as entries: a reply must fit one frame of any transport, and
    // 256 full batches would not. The requester asks again from where this reply ends.
    const budget = CATCHUP_REPLY_BATCHES * this.config.batchBytesMax
    const entries: Array<readonly [Slot, LogEntry]> = []
    let bytes = 0
    for (let s = m.fromSlot; s <= last && (entries.length === 0 || bytes < budget); s++) {
      const entry = this.log.entryAt(s)
      for (const c of entry.value.commands) bytes += c.data.byteLength + c.client.length + 16
      entries.push([s, entry])
    }
    this.send(from, { type: 'catchupReply', entries, commitIndex: this.commitIndex })
  }

  /**
   * Chosen values from a peer's committed prefix, accepted only as the answer to our request,
   * slot by slot from our commit index. A replaced entry keeps the higher of the two ballots
   * (`Acceptor.learnChosen`).
   */
  private onCatchupReply (from: NodeId, m: CatchupReplyMessage): void {
    const asked = this.catchup.take(from)
    if (asked === undefined) {
      mark('learner: unsolicited catch-up reply dropped')
      this.log_(`drop catch-up reply from ${from}: not asked`)
      return
    }
    const before = this.commitIndex
    for (const [slot, entry] of m.entries) {
      if (slot <= this.commitIndex) continue
      if (slot !== this.commitIndex + 1 || slot < asked.fromSlot || slot > asked.toSlot) break
      const role = this.role
      if (role.kind === 'leader') {
        const mine = role.pipeline.proposalAt(slot)
        if (mine !== undefined && mine.id !== entry.value.id) {
          if (!ballotGreater(entry.ballot, role.ballot)) {
            // Phase 1 made our proposal the only value a ballot up to ours can have chosen
            // here: a peer claiming another lies or is damaged.
            mark('leader: catch-up reply contradicts our own proposal, dropped')
            this.log_(`drop catch-up from ${from} at slot ${slot}: ${entry.value.id} contradicts our proposal ${mine.id}`)
            break
          }
          // A newer leader chose another value: we were deposed without hearing of it.
          mark('leader: a newer ballot chose another value, stepping down')
          this.log_(`slot ${slot} chosen in ${formatBallot(entry.ballot)} with another value: stepping down`)
          this.becomeFollower()
          this.setLeader(undefined, undefined)
        }
      }
      this.acceptor.learnChosen(slot, entry)
      this.commitTo(slot)
    }
    if (this.commitIndex === before) return
    mark('learner: caught up from a peer')
    this.commitMoved()
    this.catchup.unpace()
    const role = this.role
    if (role.kind === 'leader') {
      if (this.maybeStepDownRemoved()) return
      this.pruneLeaderBelowCommit(role)
    } else if (this.leaderBallot !== undefined) {
      this.learnCommit(this.leaderBallot, this.leaderCommit)
    }
    if (m.commitIndex > this.commitIndex && this.catchup.idle) this.sendCatchup(from, this.commitIndex + 1, m.commitIndex)
  }

  private onForward (from: NodeId, m: ForwardMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || role.transfer !== undefined) {
      mark('forward: not leader, dropped')
      return
    }
    if (role.pipeline.queued + m.commands.length > this.config.proposalQueueMax) {
      mark('forward: queue full, dropped')
      return
    }
    for (const c of m.commands) {
      if (c.data.byteLength <= this.config.batchBytesMax) role.pipeline.enqueue(c)
    }
    this.maybePropose(role)
  }

  // ---------------------------------------------------------------------------------------
  // Linearizable reads (read-index; the rounds' books are in read-index.ts)

  /**
   * Read-index. A read is answered at the commit index of the moment it is confirmed, once
   * (1) a quorum of every known configuration acknowledged a heartbeat round that started after
   * the read arrived: a newer leader needs such quorums of promises, which would have refused
   * our heartbeat; and (2) this leader has recovered (`leaderRecovered`): Phase 1 reached a
   * quorum of every configuration governing a slot above its commit index, and everything
   * Phase 1 reported (chosen slots and votes) is committed here.
   */
  private startLeaderRead (role: LeaderRole, id: string, origin: NodeId): void {
    if (this.config.mutations?.unsafeLocalReads === true) {
      this.completeRead({ id, origin, seq: 0 }, this.commitIndex)
      return
    }
    role.reads.add(id, origin, this.membership.quorumInAll(new Set([this.id])))
    this.resolveLeaderReads(role)
    this.startReadRoundIfIdle(role)
  }

  /**
   * Starts a read confirmation round at once instead of at the next heartbeat (up to
   * heartbeatTicks away): a read then costs one round trip. While a round is in flight, new
   * reads share the next one, started when this one is confirmed (etcd's ReadIndex does the same).
   */
  private startReadRoundIfIdle (role: LeaderRole): void {
    if (role.reads.roundDue && !role.reads.roundInFlight(this.membership.entries, this.id)) this.broadcastHeartbeat(role)
  }

  private resolveLeaderReads (role: LeaderRole): void {
    if (role.reads.pendingCount === 0 || !leaderRecovered(this.commitIndex, role.phase1, this.membership.entries, this.config.mutations)) return
    const alone = this.membership.quorumInAll(new Set([this.id]))
    for (const r of role.reads.resolve(this.membership.entries, this.id, alone)) this.completeRead(r, this.commitIndex)
  }

  private completeRead (r: PendingRead, index: Slot): void {
    if (r.origin === this.id) this.readsReady.push({ id: r.id, index })
    else this.send(r.origin, { type: 'readReply', id: r.id, index })
  }

  private failRead (r: PendingRead): void {
    if (r.origin === this.id) this.readsFailed.push(r.id)
    else this.send(r.origin, { type: 'readReply', id: r.id, index: undefined })
  }

  private onReadRequest (from: NodeId, m: ReadRequestMessage): void {
    const role = this.role
    if (role.kind !== 'leader' || role.reads.pendingCount >= PENDING_READS_MAX) {
      if (role.kind === 'leader') mark('leader: read request refused, too many pending')
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

  /** `from` is alive: it sent us something (the runtime reports its own traffic, e.g. snapshot transfer). */
  notePeerActivity (from: NodeId): void {
    const role = this.role
    if (role.kind === 'leader' && from !== this.id && this.membership.isKnownMember(from)) role.progress.heard(from, this.now)
  }

  /** Forgets a read the runtime gave up on (its own timeout). */
  cancelRead (id: string): void {
    this.remoteReads.delete(id)
    const role = this.role
    if (role.kind === 'leader') role.reads.cancel(id, this.id)
  }

  // ---------------------------------------------------------------------------------------
  // Commit and membership (the configurations' books are in membership.ts)

  /**
   * Moves the commit index to `slot` (the next one) and applies its reconfiguration commands:
   * a change chosen at slot s governs slots ≥ s + α, so it can never alter the configuration of
   * a slot a leader may already have proposed (every proposed slot is ≤ commitIndex + α).
   */
  private commitTo (slot: Slot): void {
    assert(slot === this.commitIndex + 1, 'commit advances one slot at a time')
    this.commitIndex = slot
    for (const change of this.membership.commit(slot, this.log.entryAt(slot).value, this.config.alpha, this.config.mutations)) {
      this.softStateDirty = true
      const role = this.role
      if (role.kind === 'leader') {
        // New members get a full timeout from now before anyone calls them silent.
        const { previous, configuration } = change
        role.progress.admit(new Set(members(previous)), members(configuration), this.now)
      }
      const next = change.configuration
      this.log_(`configuration epoch ${next.epoch} chosen at slot ${slot}, governs slots ≥ ${change.fromSlot}: voters {${next.voters.join(',')}} learners {${next.learners.join(',')}}`)
    }
    if (this.role.kind === 'candidate' && !this.membership.isKnownVoter(this.id)) {
      mark('candidate: learned it was removed, giving up')
      this.log_('no longer a voter, giving up the election')
      this.becomeFollower()
    }
  }

  /** A leader that is not a voter of the configuration governing the next slot steps down. */
  private maybeStepDownRemoved (): boolean {
    if (this.role.kind !== 'leader' || isVoter(this.currentConfiguration(), this.id)) return false
    mark('leader: removed from the configuration, stepping down')
    this.log_('no longer a voter, stepping down')
    this.becomeFollower()
    this.setLeader(undefined, undefined)
    return true
  }

  /** The configuration governing the next slot to commit. */
  private currentConfiguration (): Configuration {
    return this.membership.at(this.commitIndex + 1)
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private setPromised (ballot: Ballot): void {
    this.acceptor.promise(ballot)
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
    this.leaderSuspected = false
    this.leaderId = id
    this.leaderBallot = ballot
    this.leaderCommit = 0
  }

  private noteRound (ballot: Ballot): void {
    if (ballot.round > this.roundSeen && ballot.round <= MAX_BALLOT_ROUND) this.roundSeen = ballot.round
  }

  private send (to: NodeId, message: PaxosMessage): void {
    this.outbox.push({ to, message })
  }

  private randomElectionTimeout (): number {
    return this.random.int(this.config.electionTicksMin, this.config.electionTicksMax)
  }

  private log_ (line: string): void {
    this.trace?.(`${this.id} t${this.now} ${line}`)
  }

  /** Invariants checked after every input (TigerBeetle's `defer self.invariants()`). */
  checkInvariants (): void {
    const { compactedThrough, snapshotIndex, lastSlot } = this.log
    assert(this.appliedIndex <= this.handedOut && this.handedOut <= this.commitIndex, () => `applied ${this.appliedIndex} ≤ handedOut ${this.handedOut} ≤ commit ${this.commitIndex}`)
    assert(this.commitIndex <= compactedThrough || this.log.has(this.commitIndex), 'committed slot present in the log')
    assert(compactedThrough <= snapshotIndex && compactedThrough <= this.appliedIndex, () => `compacted through ${compactedThrough} above snapshot ${snapshotIndex} or applied ${this.appliedIndex}`)
    assert(this.commitIndex <= lastSlot || this.commitIndex === 0, 'commit index within the log')
    const role = this.role
    if (role.kind === 'leader') {
      assert(ballotEquals(role.ballot, this.acceptor.promised), 'a leader has promised exactly its own ballot')
      assert(role.pipeline.nextSlot > this.commitIndex, 'leader next slot above commit index')
      for (const slot of role.pipeline.inflightSlots()) {
        assert(inAlphaWindow(slot, this.commitIndex, this.config.alpha), () => `in-flight slot ${slot} outside the α window`)
      }
    } else if (role.kind === 'candidate') {
      assert(compareBallots(this.acceptor.promised, role.ballot) <= 0, 'a candidate has not promised above its own ballot')
    }
  }
}

/** Value ids are unique: a ballot is used by one node, which proposes one value per slot in it. */
export function valueId (ballot: Ballot, slot: Slot): string {
  return `${ballot.round}.${ballot.node}.${slot}`
}

/** Reads a leader holds for other members at most (a member flooding it gets refusals). */
const PENDING_READS_MAX = 65_536

/** A catch-up request stays answerable for this many retry intervals. */
const CATCHUP_REPLY_RETRIES = 10

/** Messages a node handles from senders outside its known configurations (see `step`). */
// 'accepted' counts only if its sender votes in the slot's own configuration (onVote), which
// the leader keeps with each in-flight slot.
const OPEN_MESSAGES: ReadonlySet<PaxosMessage['type']> = new Set(['probe', 'probeReply', 'prepare', 'accept', 'accepted', 'heartbeat', 'catchupRequest', 'catchupReply'])
