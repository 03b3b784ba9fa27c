import { isReconfigCommand, PaxosNode, reconfigCommand } from '../paxos/index.js'
import type { Command, CommittedSlot, ConfigChange, Configuration, NodeId, NodeStatus, PaxosConfigInit, RandomSource, Ready, ReconfigOutcome, RoleKind, Slot, Value } from '../paxos/index.js'
import { CorruptSnapshotError } from '../migration/errors.js'
import type { AbortOptions, ApplyContext, Clock, StateMachine, Storage, Transport } from '../contracts/index.js'
import { DEFAULT_SESSION_TTL_MS, SessionTable } from './sessions.js'
import { planReplacement } from './replacement.js'
import type { ReplacementPolicy } from './replacement.js'
import type { Outcome } from './sessions.js'
import {
  DEFAULT_CHUNKS_PER_STEP, DEFAULT_LOG_RETENTION_SLOTS, DEFAULT_SNAPSHOT_CHUNK_BYTES, DEFAULT_SNAPSHOT_EVERY_SLOTS, SnapshotManager, decodeRuntimeBlob
} from './snapshots.js'
import type { LocalSnapshot, RuntimeSnapshotBlob, SnapshotHost } from './snapshots.js'
import { SnapshotTransfer, isSnapshotMessage } from './snapshot-transfer.js'
import type { WireMessage } from './snapshot-transfer.js'
import { MAX_SEQ, WIRE_DROP_REASONS, isValidNodeId, validateWireMessage, wireLimitsOf } from './message-validation.js'
import type { WireDropReason, WireLimits } from './message-validation.js'
import { mark } from '../util/marks.js'
import { throwIfAborted } from '../util/errors.js'
import {
  AbortError, AccessControlOffError, AccessListFullError, ApplyError, BusyError, CommandTooLargeError, InvalidArgumentError, InvalidCommandError, LastAdminError, NoQuorumError,
  CertificateRefusedError, NotAdminError, NotStartedError, OutboxFullError, ReconfigurationRejectedError, SessionExpiredError, StoppedError
} from './errors.js'
import { OUTPUT_CLIENT_PREFIX, Outbox, applyOutboxAck, isGroupName, isOutboxAck, outboxAckCommand, outboxLimits, outputClient, outputSender } from './outbox.js'
import type { OutboxLimits, OutboxTargetStatus, OutputStage } from './outbox.js'
import { DEFAULT_OUTBOX_DELIVERY, OutboxDelivery } from './outbox-delivery.js'
import type { DeliverFn, DeliveredOutput, OutboxDeliveryOptions } from './outbox-delivery.js'
import { AccessList, RESERVED_CLIENT_PREFIX, aclClient, aclIssuer, applyAclCommand, encodeAclOp, isAccessPeerId, isAclCommand } from './access-list.js'
import type { AccessChange, AccessEntry, AccessState, AclOp } from './access-list.js'
import { CertificateTable, certCommand, isCertCommand, parseCertCommand } from './certificates.js'
import type { CertificateChain, CertificateSigner } from './certificates.js'
import { setMaxListeners } from 'node:events'
import { scopedSignal } from '../util/signals.js'

/** Turns application commands into the opaque bytes the log carries, and back. */
export interface CommandCodec<C> {
  encode (command: C): Uint8Array
  /** Throws on bytes that are not a command; the command then fails alike on every replica. */
  decode (bytes: Uint8Array): C
}

export function jsonCodec<C> (): CommandCodec<C> {
  const enc = new TextEncoder()
  const dec = new TextDecoder('utf-8', { fatal: true })
  return {
    encode: c => enc.encode(JSON.stringify(c)),
    decode: b => JSON.parse(dec.decode(b)) as C
  }
}

/** Observes what the runtime applies; the simulator's checkers hang off this. */
export interface ApplyObserver<R> {
  /** A slot is about to be applied (every slot, in the order handed out). */
  slot? (slot: Slot, value: Value): void
  /** A command was applied to the state machine (not a duplicate), with its outcome. */
  command? (slot: Slot, command: Command, outcome: Outcome<R>): void
  /** All commands of the slot have been applied. */
  applied? (slot: Slot): void
  /**
   * The state jumped to `index` without applying the slots up to it: a snapshot was loaded at
   * start or received from a peer. The next slot applied is `index + 1`.
   */
  installed? (index: Slot): void
}

export interface VirtualPeerInit<C, R, Q, A> {
  readonly id: NodeId
  /** The bootstrap configuration (every member must start with the same one). */
  readonly configuration: Configuration
  readonly transport: Transport<WireMessage>
  readonly storage: Storage
  readonly clock: Clock
  readonly stateMachine: StateMachine<C, R, Q, A>
  readonly random: RandomSource
  readonly codec?: CommandCodec<C>
  /** One core tick every this many ms. */
  readonly tickMs?: number
  /** Pending commands and reads are re-sent this often until they complete. */
  readonly retryMs?: number
  /** Outcomes remembered per client session (see SessionTable). */
  readonly sessionWindow?: number
  /**
   * A client session that ran no command for this long (by the proposal times in the log, the
   * same on every replica) is forgotten; a retry of it within another `sessionTtlMs` fails with
   * `SessionExpiredError`. Default one hour. Every member must use the same value.
   */
  readonly sessionTtlMs?: number
  /** This peer's own client id for `submit` without an explicit session. Must be unique per incarnation. */
  readonly clientId?: string
  readonly paxos?: Partial<Omit<PaxosConfigInit, 'id' | 'configuration'>>
  readonly observer?: ApplyObserver<R>
  /** Take a snapshot every this many applied slots (default 10,000; 0 = never). */
  readonly snapshotEverySlots?: number
  /**
   * Slots below a snapshot kept in the in-memory log to serve catch-up without a transfer
   * (default 1000). Storage keeps none (see snapshots.ts).
   */
  readonly logRetentionSlots?: number
  /** Bytes per snapshot chunk, the unit of transfer and of verification (default 64 KiB). */
  readonly snapshotChunkBytes?: number
  readonly trace?: (line: string) => void
  /** Automatic replacement of dead voters, run while this peer leads (see replacement.ts). */
  readonly replacement?: ReplacementPolicy
  /**
   * A `submit`, `reconfigure` or `read` that has waited this long while this peer knew no
   * leader fails with `NoQuorumError` (`ERR_NO_QUORUM`): this side of the network cannot reach
   * a quorum. Default 30,000 ms; `Infinity` waits for the caller's signal alone. A signal that
   * fires while no leader is known also rejects with `NoQuorumError` rather than `AbortError`,
   * so the caller learns why nothing happened.
   */
  readonly noQuorumTimeoutMs?: number
  /**
   * Client access control (access-list.ts): the genesis administrators of the group's client
   * allow-list. Every member must be created with the same list, like the bootstrap
   * configuration; later changes go through the log (`allowClient`, `revokeClient`). Absent:
   * access control is off, every client is allowed and access-list changes are refused.
   */
  readonly access?: { readonly admins: readonly string[] }
  /**
   * Configuration certificates (certificates.ts): this member signs every configuration the log
   * installs while it was a voter of the one replaced, and every replica keeps the signed chain
   * from the bootstrap configuration (`certificateChain`). Every member must run with it or
   * without it, with the same `context`. Absent: no table, no signing; certificate commands are
   * refused (`ERR_CERTIFICATES_OFF`).
   */
  readonly certificates?: CertificateSigner
  /**
   * This group's name as other VPs know it (e.g. its group key): the sender identity its
   * outputs are delivered with (`ApplyContext.send`). Required with `deliver`.
   */
  readonly group?: string
  /**
   * Delivers this group's outputs to other VPs while this member leads (outbox-delivery.ts),
   * e.g. through the network to a member of the target group, which calls `receiveOutputs`.
   * Absent: this member never delivers (outputs still accumulate in the replicated outbox).
   */
  readonly deliver?: DeliverFn
  /** Batching and retry of `deliver` (outbox-delivery.ts); local, may differ between members. */
  readonly outboxDelivery?: Partial<OutboxDeliveryOptions>
  /**
   * Bounds of the replicated outbox (outbox.ts): a `send` beyond them is refused with
   * `OutboxFullError`. Every member must use the same values.
   */
  readonly outbox?: Partial<OutboxLimits>
}

export interface ClientSession {
  readonly client: string
  readonly seq: number
}

export interface SubmitOptions extends AbortOptions {
  /** Submit as this client session (a retry elsewhere must use the same pair). */
  readonly session?: ClientSession
}

export interface VirtualPeerStatus extends NodeStatus {
  readonly running: boolean
  readonly pendingCommands: number
  readonly pendingReads: number
  /** Index of the newest snapshot held here (0 = none). */
  readonly snapshotIndex: Slot
  /** Slots at or below this are compacted away (served by snapshot transfer only). */
  readonly compactedThrough: Slot
  /** Inbound messages refused at the trust boundary (message-validation.ts) since start. */
  readonly droppedMessages: number
  /** The same, by reason. */
  readonly droppedByReason: Readonly<Record<WireDropReason, number>>
}

export interface AccessChangeOptions extends AbortOptions {
  /**
   * Who asks for the change: the PeerId the receiving member authenticated (a network client),
   * or any id for local use. It must be an administrator of the list when the change is applied.
   * Default: this peer's node id, which is an administrator only if it is on the list.
   */
  readonly issuer?: string
  /**
   * The session to run the change in, for exactly-once across retries. `client` is the issuer's
   * nonce: the command's client becomes `'\u0000acl/' + issuer + '/' + client`. Default: this
   * peer's own session.
   */
  readonly session?: ClientSession
}

export interface AllowClientOptions extends AccessChangeOptions {
  /** true: make `peer` an administrator; false: a plain client (demotes an administrator); absent: keep its role (new: plain). */
  readonly admin?: boolean
}

/** Already-encoded command bytes under a client session, as a network server receives them. */
export interface EncodedCommand {
  readonly client: string
  readonly seq: number
  readonly data: Uint8Array
}

export interface ReconfigureOptions extends AbortOptions {
  /** The epoch the change expects to replace (default: the newest this peer knows). */
  readonly expectEpoch?: number
}

/**
 * The events a VirtualPeer dispatches, by type. `addEventListener` is typed with this map:
 * `vp.addEventListener('leader', e => e.detail.leader)` compiles without a cast.
 */
export interface VirtualPeerEvents {
  /** This peer's view of the leadership changed (a leader was learned or lost, or its own role changed). */
  leader: CustomEvent<{ readonly leader: NodeId | undefined, readonly role: RoleKind }>
  /**
   * A membership change was applied here, or arrived in a snapshot this replica installed:
   * `configuration` governs slots from `fromSlot` on.
   */
  membership: CustomEvent<{ readonly configuration: Configuration, readonly fromSlot: Slot, readonly slot: Slot }>
  /** Slots up to `index` are applied to the state machine here. */
  applied: CustomEvent<{ readonly index: Slot }>
  /** This replica halted: a disk write failed or a bug of ours was hit. Every pending call was rejected. */
  error: CustomEvent<{ readonly error: unknown }>
  /**
   * The client allow-list changed here for `peer` (now `allowed` and `admin`): an ACL command was
   * applied at `slot` (`issuer` set), or a received snapshot at index `slot` was installed (one
   * event per peer whose entry differs; no `issuer`).
   */
  access: CustomEvent<{ readonly peer: string, readonly allowed: boolean, readonly admin: boolean, readonly slot: Slot, readonly issuer?: string }>
  /**
   * The configuration of `epoch` became verifiable: a majority of the voters of the configuration
   * it replaced have signed it (a certificate command applied at `slot`).
   */
  certificate: CustomEvent<{ readonly epoch: number, readonly configuration: Configuration, readonly slot: Slot }>
  /** A snapshot received from `from` was installed: the state jumped to `index` (`bytes` of state in `chunks`, `ms` from offer to install). */
  snapshot: CustomEvent<{ readonly index: Slot, readonly from: NodeId, readonly bytes: number, readonly chunks: number, readonly ms: number }>
}

/** A listener for one VirtualPeer event type. */
export type VirtualPeerListener<K extends keyof VirtualPeerEvents> =
  | ((event: VirtualPeerEvents[K]) => void)
  | { handleEvent (event: VirtualPeerEvents[K]): void }

/** What EventTarget accepts, spelled out so the typings need neither lib.dom nor private names of Node. */
export type AnyListener = ((event: Event) => void) | { handleEvent (event: Event): void }
/** `addEventListener` options (the DOM's AddEventListenerOptions). */
export interface ListenerOptions { capture?: boolean, once?: boolean, passive?: boolean, signal?: AbortSignal }

export interface StopOptions {
  /**
   * Also close the storage once the peer has stopped (after any write in progress completed).
   * Default false: whoever opened the storage closes it (it may outlive this peer, e.g. to be
   * inspected or to start a new incarnation on it).
   */
  readonly closeStorage?: boolean
}

interface PendingCommand<_R> {
  readonly command: Command
  readonly resolve: (r: unknown) => void
  readonly reject: (e: unknown) => void
  /** When the caller submitted it (for NoQuorumError's account of the wait). */
  readonly submittedAt: number
  proposedAt: number
  readonly cleanup: () => void
  /** Resolve with the Outcome itself, never reject for a failed apply (receiveOutputs). */
  readonly raw: boolean
}

interface PendingRead<Q, A> {
  readonly query: Q
  readonly resolve: (a: A) => void
  readonly reject: (e: unknown) => void
  index: Slot | undefined
  requested: boolean
  readonly submittedAt: number
  requestedAt: number
  readonly cleanup: () => void
}

const DEFAULT_TICK_MS = 10
const DEFAULT_NO_QUORUM_TIMEOUT_MS = 30_000
const DEFAULT_RETRY_MS = 300
const DEFAULT_SESSION_WINDOW = 1024

/**
 * The runtime around one PaxosNode: it feeds ticks, messages and proposals in, and carries out
 * each Ready in the order the core demands (persist, then send, then apply). Written against
 * the Transport, Storage, Clock and StateMachine interfaces so that the simulator runs this
 * very code.
 */
export class VirtualPeer<C, R, Q = unknown, A = unknown> extends EventTarget {
  readonly id: NodeId
  private readonly init: VirtualPeerInit<C, R, Q, A>
  private readonly node: PaxosNode
  private readonly codec: CommandCodec<C>
  private readonly sessions: SessionTable<R>
  /** The client allow-list as applied here (undefined: access control is off). */
  private readonly access: AccessList | undefined
  /** The configuration certificate table as applied here (undefined: certificates are off). */
  private readonly certificates: CertificateTable | undefined
  /** Epochs this member is signing right now (a signature on its way into the log). */
  private readonly signing = new Set<number>()
  /** Outputs to other VPs, replicated (outbox.ts). */
  private readonly outbox: Outbox
  /** Delivers them while this member leads (undefined: no `deliver` given). */
  private readonly delivery: OutboxDelivery | undefined
  private readonly clientId: string
  private readonly pending = new Map<string, PendingCommand<R>>()
  private readonly reads = new Map<string, PendingRead<Q, A>>()
  private readonly tickMs: number
  private readonly retryMs: number
  private readonly noQuorumTimeoutMs: number
  /** Since when this peer has known no leader (undefined while it knows one). */
  private noLeaderSinceMs: number | undefined
  private seq = 0
  private readSeq = 0
  private appliedIndex: Slot = 0
  /** Epoch of the newest configuration a 'membership' event announced (or this replica started with). */
  private membershipEpoch = 0
  private state: 'new' | 'running' | 'stopped' = 'new'
  private failure: unknown
  private driving = false
  private drive: Promise<void> = Promise.resolve()
  private readonly cancels: Array<() => void> = []
  /** `whenLeader` calls to reject when the peer stops. */
  private readonly waiters = new Set<() => void>()
  /** Storage work that must run between two Readies (snapshot writes and installs). */
  private readonly betweenReadies: Array<() => Promise<void>> = []
  private readonly snapshots: SnapshotManager<R>
  /** Snapshot transfer to and from other members (snapshot-transfer.ts). */
  readonly snapshotTransfer: SnapshotTransfer<R>
  /** Replacement steps in progress (at most one); awaited by stop(). */
  private readonly background = new Set<Promise<void>>()
  /** Spares that were added and then removed again (dead), with the tick they were dropped. */
  private readonly failedSpares = new Map<NodeId, number>()
  /** Bounds for inbound messages, from the core's configuration. */
  private readonly wireLimits: WireLimits
  private droppedMessages = 0
  /** The same, by reason. */
  private readonly droppedByReason = Object.fromEntries(WIRE_DROP_REASONS.map(r => [r, 0])) as Record<WireDropReason, number>
  /** stop() wrote the commit index (once). */
  private flushedAtStop = false

  private constructor (init: VirtualPeerInit<C, R, Q, A>, node: PaxosNode, loaded?: { snapshot: LocalSnapshot, blob: RuntimeSnapshotBlob<R> }) {
    super()
    this.init = init
    this.id = init.id
    this.node = node
    this.codec = init.codec ?? jsonCodec<C>()
    // Other VPs' sessions never expire (sessions.ts): their leaders may redeliver any time later.
    this.sessions = new SessionTable<R>(init.sessionWindow ?? DEFAULT_SESSION_WINDOW, init.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, c => c.startsWith(OUTPUT_CLIENT_PREFIX))
    this.outbox = new Outbox(outboxLimits(init.outbox))
    this.access = init.access === undefined ? undefined : new AccessList(init.access.admins)
    this.certificates = init.certificates === undefined ? undefined : new CertificateTable(init.configuration, init.certificates)
    this.clientId = init.clientId ?? `${init.id}#${init.random.int(0, 2 ** 31).toString(36)}${init.random.int(0, 2 ** 31).toString(36)}`
    this.tickMs = init.tickMs ?? DEFAULT_TICK_MS
    this.retryMs = init.retryMs ?? DEFAULT_RETRY_MS
    this.noQuorumTimeoutMs = init.noQuorumTimeoutMs ?? DEFAULT_NO_QUORUM_TIMEOUT_MS
    if (!(this.noQuorumTimeoutMs > 0)) throw new InvalidArgumentError(`noQuorumTimeoutMs must be positive, got ${String(init.noQuorumTimeoutMs)}`)
    this.wireLimits = wireLimitsOf(node.config)
    this.membershipEpoch = node.status().configuration.epoch
    const host: SnapshotHost<R> = {
      id: init.id,
      node,
      storage: init.storage,
      clock: init.clock,
      sessions: this.sessions,
      accessState: () => this.access?.toJSON(),
      restoreAccess: (state, index) => { this.restoreAccess(state, index) },
      certificateState: () => this.certificates?.toJSON(),
      restoreCertificates: (state, configs) => { this.certificates?.restore(state, newestOf(configs)) },
      outboxState: () => this.outbox.toJSON(),
      restoreOutbox: state => { this.outbox.restore(state) },
      stateMachine: init.stateMachine,
      running: () => this.state === 'running',
      applied: () => this.appliedIndex,
      between: task => {
        this.betweenReadies.push(task)
        this.kick()
      },
      jumped: (index, transfer) => {
        this.snapshotInstalled(index)
        this.emit('snapshot', { index, ...transfer })
      },
      trace: line => { init.trace?.(line) }
    }
    this.snapshots = new SnapshotManager<R>(host, {
      everySlots: init.snapshotEverySlots ?? DEFAULT_SNAPSHOT_EVERY_SLOTS,
      retentionSlots: init.logRetentionSlots ?? DEFAULT_LOG_RETENTION_SLOTS,
      chunkBytes: init.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
      chunksPerStep: DEFAULT_CHUNKS_PER_STEP,
      stepMs: this.tickMs
    })
    this.snapshotTransfer = new SnapshotTransfer<R>(host, this.snapshots, (to, m) => { init.transport.send(to, m) }, {
      windowChunks: 4,
      chunkTimeoutMs: this.retryMs,
      stallMs: this.retryMs * 10,
      offerIntervalMs: this.retryMs
    })
    this.delivery = init.deliver === undefined ? undefined : this.createDelivery(init.deliver)
    if (loaded !== undefined) {
      // The state machine was restored in create(); the sessions and the applied index follow it.
      this.sessions.restore(loaded.blob.sessions, loaded.blob.sessionExpiry)
      this.access?.restore(loaded.blob.access)
      this.certificates?.restore(loaded.blob.certificates, newestOf(loaded.blob.configs))
      this.outbox.restore(loaded.blob.outbox)
      this.appliedIndex = loaded.snapshot.meta.index
      this.snapshots.adopt(loaded.snapshot)
      init.observer?.installed?.(this.appliedIndex)
    }
  }

  private createDelivery (deliver: DeliverFn): OutboxDelivery {
    const group = this.init.group
    if (!isGroupName(group)) throw new InvalidArgumentError(`deliver needs a valid group name (got ${JSON.stringify(String(group).slice(0, 64))})`)
    const options = { ...DEFAULT_OUTBOX_DELIVERY, ...this.init.outboxDelivery }
    if (!Number.isSafeInteger(options.maxBatch) || options.maxBatch < 1) throw new InvalidArgumentError(`outboxDelivery.maxBatch must be a positive integer, got ${String(options.maxBatch)}`)
    if (!(options.retryMinMs > 0) || !(options.retryMaxMs >= options.retryMinMs)) throw new InvalidArgumentError('outboxDelivery needs 0 < retryMinMs <= retryMaxMs')
    if (!(options.callTimeoutMs > 0)) throw new InvalidArgumentError('outboxDelivery.callTimeoutMs must be positive')
    return new OutboxDelivery({
      group,
      outbox: this.outbox,
      clock: this.init.clock,
      random: this.init.random,
      deliver,
      leading: () => this.state === 'running' && this.node.softState().role === 'leader',
      ack: async (target, through, signal) => await this.submitCommand(outboxAckCommand(target, through), { signal }),
      trace: line => { this.init.trace?.(`${this.id} ${line}`) }
    }, options)
  }

  /**
   * Loads durable state and builds the core. The state machine is restored from the stored
   * snapshot, if any, then rebuilt by replaying the log above it.
   * @throws CorruptSnapshotError if the stored snapshot's runtime data does not decode
   */
  static async create<C, R, Q, A> (init: VirtualPeerInit<C, R, Q, A>, options?: AbortOptions): Promise<VirtualPeer<C, R, Q, A>> {
    const durable = await init.storage.load(options)
    const stored = await init.storage.loadSnapshot(options)
    let start: { snapshot: LocalSnapshot, blob: RuntimeSnapshotBlob<R> } | undefined
    if (stored !== undefined) {
      const blob = decodeRuntimeBlob<R>(stored.meta.sessions)
      try {
        init.stateMachine.restore(stored.state)
      } catch (error) {
        throw new CorruptSnapshotError(`state machine refused the stored snapshot at ${stored.meta.index}`, { cause: error })
      }
      start = { snapshot: stored, blob }
    }
    const node = new PaxosNode({ ...init.paxos, id: init.id, configuration: init.configuration }, durable, init.random, {
      now: () => init.clock.wallMs?.() ?? init.clock.nowMs(),
      ...(init.trace !== undefined ? { trace: init.trace } : {}),
      ...(start !== undefined ? { snapshot: { index: start.snapshot.meta.index, configs: start.blob.configs } } : {})
    })
    return new VirtualPeer(init, node, start)
  }

  start (): void {
    if (this.state !== 'new') return
    this.state = 'running'
    this.noLeaderSinceMs = this.node.status().leader === undefined ? this.init.clock.nowMs() : undefined
    this.cancels.push(this.init.transport.onMessage((from: unknown, message: unknown) => { this.receive(from, message) }))
    const onPeerDown = this.init.transport.onPeerDown?.bind(this.init.transport)
    if (onPeerDown !== undefined) {
      this.cancels.push(onPeerDown(peer => {
        if (this.state !== 'running' || !isValidNodeId(peer)) return
        this.node.peerUnreachable(peer)
        this.kick()
      }))
    }
    this.cancels.push(this.init.clock.every(this.tickMs * 5, () => {
      if (this.state === 'running') this.snapshotTransfer.tick()
    }))
    this.cancels.push(this.init.clock.every(this.tickMs, () => {
      if (this.state !== 'running') return
      this.node.tick()
      this.kick()
    }))
    this.cancels.push(this.init.clock.every(this.retryMs, () => { this.retryPending() }))
    const policy = this.init.replacement
    if (policy !== undefined) this.cancels.push(this.init.clock.every(this.tickMs * policy.checkEveryTicks, () => { this.replacementStep(policy) }))
    // Signatures this member owes and did not get into the log at apply time (it was down, the
    // change came in a snapshot, the submit failed): retried on a slow duty cycle.
    if (this.certificates !== undefined) this.cancels.push(this.init.clock.every(this.retryMs * CERTIFICATE_DUTY_RETRIES, () => { this.signOwed() }))
    this.kick()
  }

  /**
   * The transport's handler: the trust boundary. Whatever arrives is validated first
   * (message-validation.ts); an invalid message is dropped, counted and traced, never thrown.
   * Nothing thrown while handling a valid one leaves this function either: the core and snapshot
   * transfer throw only on a bug of ours (an assertion), and then this replica halts with an
   * 'error' event (its state may be half-updated, so going on could be unsafe), while the
   * process and the other replicas carry on.
   */
  private receive (from: unknown, raw: unknown): void {
    if (this.state !== 'running') return
    if (!isValidNodeId(from)) {
      this.dropMessage('sender', `sender id ${typeof from === 'string' ? JSON.stringify(from.slice(0, 64)) : typeof from} is not a node id`, '?')
      return
    }
    const checked = validateWireMessage(raw, this.wireLimits)
    if (!checked.ok) {
      this.dropMessage(checked.reason, checked.detail, from)
      return
    }
    const message = checked.message
    try {
      // Snapshot transfer is the runtime's business; everything else is the core's.
      if (isSnapshotMessage(message)) {
        // An offer is taken only from a peer the core asked for chosen values (snapshot-transfer.ts).
        this.node.notePeerActivity(from)
        this.snapshotTransfer.onMessage(from, message)
      } else {
        this.node.step(from, message)
      }
      this.kick()
    } catch (error) {
      mark('wire: handling a valid message threw, replica halted')
      this.init.trace?.(`${this.id} halted: handling ${message.type} from ${from} threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
      this.halt(error)
      this.emit('error', { error })
    }
  }

  private dropMessage (reason: WireDropReason, detail: string, from: string): void {
    this.droppedMessages++
    this.droppedByReason[reason]++
    mark('wire: invalid message dropped')
    mark(`wire: ${reason} dropped`)
    this.init.trace?.(`${this.id} dropped a message from ${from.slice(0, 64)} (${reason}): ${detail}`)
  }

  /**
   * Stops the peer: timers and the transport handler are removed and every pending operation is
   * rejected with StoppedError. Waits for a persist already in progress, so the storage can be
   * closed afterwards — by the caller, who opened it, unless `closeStorage` asks this peer to.
   * (A crash in the simulator is `halt()` plus losing unsynced writes.)
   */
  async stop (options: StopOptions = {}): Promise<void> {
    this.halt()
    await this.drive
    await Promise.allSettled([...this.background])
    // A clean stop writes what would otherwise ride with the next write: the commit index (and
    // any vote not yet handed out), so the next start replays everything it had applied. Not
    // after a failure: a write that failed may have left the store behind what the core holds.
    if (this.failure instanceof StoppedError && !this.flushedAtStop) {
      this.flushedAtStop = true
      const batch = this.node.takeFinalPersist()
      if (batch !== undefined) {
        try {
          await this.init.storage.persist(batch)
        } catch (error) {
          this.init.trace?.(`${this.id} could not write the commit index at stop: ${error instanceof Error ? error.message : String(error)}`)
        }
      }
    }
    if (options.closeStorage === true) await this.init.storage.close()
  }

  /**
   * Resolves with the leader's id as soon as this peer knows one (at once if it does). Rejects
   * with `NoQuorumError` if `signal` fires first (no leader known means no quorum reachable from
   * here), with `StoppedError` if the peer stops.
   */
  async whenLeader (options: AbortOptions = {}): Promise<NodeId> {
    this.assertRunning()
    const known = this.node.status().leader
    if (known !== undefined) return known
    const started = this.init.clock.nowMs()
    throwIfAborted(options.signal)
    return await new Promise<NodeId>((resolve, reject) => {
      const cleanup = (): void => {
        this.removeEventListener('leader', onLeader)
        this.waiters.delete(onStop)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const onLeader = (e: VirtualPeerEvents['leader']): void => {
        if (e.detail.leader === undefined) return
        cleanup()
        resolve(e.detail.leader)
      }
      const onStop = (): void => {
        cleanup()
        reject(this.failure instanceof Error ? this.failure : new StoppedError())
      }
      const onAbort = (): void => {
        cleanup()
        reject(this.noQuorumError('no leader became known', started, options.signal?.reason))
      }
      this.addEventListener('leader', onLeader)
      this.waiters.add(onStop)
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  override addEventListener<K extends keyof VirtualPeerEvents> (type: K, listener: VirtualPeerListener<K> | null, options?: boolean | ListenerOptions): void
  override addEventListener (type: string, listener: AnyListener | null, options?: boolean | ListenerOptions): void
  override addEventListener (type: string, listener: AnyListener | null, options?: boolean | ListenerOptions): void {
    if (listener !== null) super.addEventListener(type, listener, options)
  }

  override removeEventListener<K extends keyof VirtualPeerEvents> (type: K, listener: VirtualPeerListener<K> | null, options?: boolean | { capture?: boolean }): void
  override removeEventListener (type: string, listener: AnyListener | null, options?: boolean | { capture?: boolean }): void
  override removeEventListener (type: string, listener: AnyListener | null, options?: boolean | { capture?: boolean }): void {
    if (listener !== null) super.removeEventListener(type, listener, options)
  }

  private emit<K extends keyof VirtualPeerEvents> (type: K, detail: VirtualPeerEvents[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }

  /**
   * The error for a call that gave up while this peer knew no leader; `AbortError` when a
   * leader was known (the quorum was reachable, the caller just stopped waiting).
   */
  private noQuorumError (what: string, since: number, cause: unknown): Error {
    const now = this.init.clock.nowMs()
    if (this.noLeaderSinceMs === undefined) return new AbortError(undefined, { cause })
    return new NoQuorumError(`${what}: no quorum reachable from ${this.id} (no leader known for the last ${Math.round(now - Math.max(this.noLeaderSinceMs, since))} ms of the ${Math.round(now - since)} ms waited)`, {
      waitedMs: now - since,
      noLeaderMs: now - this.noLeaderSinceMs,
      cause
    })
  }

  /** Stops at once without waiting for anything: what a crash looks like from inside. */
  halt (error: unknown = new StoppedError()): void {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.failure = error
    for (const cancel of this.cancels.splice(0)) cancel()
    this.snapshots.stop()
    this.delivery?.stop()
    for (const p of this.pending.values()) { p.cleanup(); p.reject(error) }
    this.pending.clear()
    for (const r of this.reads.values()) { r.cleanup(); r.reject(error) }
    this.reads.clear()
    for (const w of [...this.waiters]) w()
  }

  get running (): boolean {
    return this.state === 'running'
  }

  /**
   * Orders `command` through the group and resolves with the state machine's result once this
   * replica has applied it. Exactly once per (client, seq), however often it is retried.
   * If `signal` aborts, the promise rejects with AbortError, but the command may still be applied.
   */
  async submit (command: C, options: SubmitOptions = {}): Promise<R> {
    this.assertRunning()
    const session = options.session ?? { client: this.clientId, seq: ++this.seq }
    if (options.session === undefined && this.countOwnPending() >= this.sessions.window / 2) {
      throw new BusyError()
    }
    const data = this.codec.encode(command)
    if (data.byteLength > this.node.config.batchBytesMax) throw new CommandTooLargeError()
    return await this.submitCommand<R>({ client: session.client, seq: session.seq, data }, options)
  }

  /**
   * Submits a command that is already encoded (a network server relays the client's bytes and
   * decodes nothing) under the client's own session, exactly once per (client, seq) like
   * `submit`. Resolves with the state machine's result once applied here. The caller checks the
   * client's admission first (`isClientAllowed`); the log does not.
   * @throws InvalidArgumentError on a client id that is empty, too long, malformed UTF-16 or in
   *   the runtime's reserved namespace (`'\u0000'`: membership and access-list commands), or a seq
   *   that is not a non-negative safe integer
   * @throws CommandTooLargeError if `data` exceeds the batch size limit
   */
  async submitEncoded (command: EncodedCommand, options: AbortOptions = {}): Promise<R> {
    this.assertRunning()
    const { client, seq, data } = command
    if (!isValidNodeId(client)) throw new InvalidArgumentError('the client id must be a well-formed string of 1 to 1024 UTF-8 bytes')
    if (client.startsWith(RESERVED_CLIENT_PREFIX)) throw new InvalidArgumentError('client ids starting with \\u0000 are reserved for the runtime')
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQ) throw new InvalidArgumentError(`invalid seq ${String(seq)}`)
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('data must be a Uint8Array')
    if (data.byteLength > this.node.config.batchBytesMax) throw new CommandTooLargeError()
    // A copy: the bytes go into the log, which must never change under it, and a transport's
    // buffer may be a view into a pool it reuses.
    return await this.submitCommand<R>({ client, seq, data: data.slice() }, options)
  }

  /**
   * Puts `peer` on the group's client allow-list (or changes its role, see `admin`) through the
   * log. Resolves once applied here, with what the change did. Rejects with `NotAdminError` if
   * the issuer is not an administrator at the slot the change is applied in, `LastAdminError` if
   * it would demote the last administrator, `AccessListFullError`, or at once with
   * `AccessControlOffError` if this group runs without access control.
   */
  async allowClient (peer: string, options: AllowClientOptions = {}): Promise<AccessChange> {
    const op: AclOp = options.admin === undefined ? { op: 'allow', peer } : { op: 'allow', peer, admin: options.admin }
    return await this.changeAccess(op, options)
  }

  /**
   * Takes `peer` off the allow-list through the log (see `allowClient`); revoking a peer that is
   * not on it succeeds and changes nothing. An administrator may revoke any administrator,
   * itself included, except the last one (`LastAdminError`).
   */
  async revokeClient (peer: string, options: AccessChangeOptions = {}): Promise<AccessChange> {
    return await this.changeAccess({ op: 'revoke', peer }, options)
  }

  private async changeAccess (op: AclOp, options: AccessChangeOptions): Promise<AccessChange> {
    this.assertRunning()
    if (this.access === undefined) throw new AccessControlOffError()
    if (!isAccessPeerId(op.peer)) throw new InvalidArgumentError(`invalid peer id ${JSON.stringify(String(op.peer).slice(0, 64))}`)
    const issuer = options.issuer ?? this.id
    if (!isAccessPeerId(issuer)) throw new InvalidArgumentError(`invalid issuer ${JSON.stringify(String(issuer).slice(0, 64))}`)
    const session = options.session ?? { client: this.clientId, seq: ++this.seq }
    const client = aclClient(issuer, session.client)
    if (session.client.length === 0 || !isValidNodeId(client)) throw new InvalidArgumentError('the session client must be a well-formed non-empty string (at most 1024 UTF-8 bytes with the prefix)')
    if (!Number.isSafeInteger(session.seq) || session.seq < 0) throw new InvalidArgumentError(`invalid seq ${String(session.seq)}`)
    return await this.submitCommand<AccessChange>({ client, seq: session.seq, data: encodeAclOp(op) }, options)
  }

  /**
   * Whether `peer` may be served, by the allow-list as applied here (what a member checks
   * before taking a client's request). Always true when access control is off. It can lag the
   * group by the slots this replica has not applied yet.
   */
  isClientAllowed (peer: string): boolean {
    return this.access === undefined || this.access.isAllowed(peer)
  }

  /** Whether `peer` administers the allow-list, as applied here (false when access control is off). */
  isClientAdmin (peer: string): boolean {
    return this.access?.isAdmin(peer) ?? false
  }

  /** The allow-list as applied here, in ascending peer order; undefined when access control is off. */
  accessEntries (): AccessEntry[] | undefined {
    return this.access?.entries()
  }

  /**
   * Proposes a membership change (α-window reconfiguration: it governs slots from s + α on,
   * where s is the slot it is chosen in). Resolves with the new configuration once applied here;
   * rejects with ReconfigurationRejectedError if the change does not apply (a stale epoch: some
   * other change won the compare-and-set, or the change is invalid for the configuration).
   */
  async reconfigure (change: ConfigChange, options: ReconfigureOptions = {}): Promise<Configuration> {
    this.assertRunning()
    const expectEpoch = options.expectEpoch ?? this.node.status().configuration.epoch
    return await this.submitCommand<Configuration>(reconfigCommand(this.clientId, ++this.seq, { expectEpoch, change }), options)
  }

  /**
   * Applies outputs another VP sent to this one (the receiving end of `ApplyContext.send`):
   * output `seq` of group `sender` runs as the command of client `'\u0000vp/' + sender` with that
   * seq, decoded by this peer's codec, so each is applied exactly once however often it is
   * delivered (by a sending leader that crashed and its successor). Those sessions never expire.
   * `outputs` are consecutive seqs, ascending, at most `sessionWindow` of them (the window also
   * bounds what a sender may have in flight, see outbox-delivery.ts).
   *
   * Resolves with the highest seq such that every output up to it was taken here: applied (or
   * refused by the state machine, alike on every replica; or answered from the session table as
   * a repeat). Rejects, with the first output's error, only if not even the first was taken
   * (`NoQuorumError`, `AbortError`, `StoppedError`: whether it applied is unknown; deliver again).
   *
   * The caller vouches for `sender`: the network layer must authenticate the sending group (a
   * member of it) before calling this. Client commands cannot reach these sessions:
   * `submitEncoded` refuses the reserved namespace.
   * @throws InvalidArgumentError on an invalid group name, or outputs that are empty, too many,
   *   not consecutive ascending safe integers ≥ 1, or not Uint8Arrays
   * @throws CommandTooLargeError if an output exceeds the batch size limit (nothing was submitted)
   */
  async receiveOutputs (sender: string, outputs: readonly DeliveredOutput[], options: AbortOptions = {}): Promise<number> {
    this.assertRunning()
    if (!isGroupName(sender)) throw new InvalidArgumentError(`invalid sender group ${JSON.stringify(String(sender).slice(0, 64))}`)
    if (!Array.isArray(outputs) || outputs.length === 0 || outputs.length > this.sessions.window) {
      throw new InvalidArgumentError(`between 1 and ${this.sessions.window} outputs (the session window) per call`)
    }
    const first = (outputs[0] as DeliveredOutput).seq
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i] as DeliveredOutput
      if (typeof o !== 'object' || o === null || !Number.isSafeInteger(o.seq) || o.seq < 1 || o.seq !== first + i) {
        throw new InvalidArgumentError('outputs must carry consecutive ascending seqs from 1 on')
      }
      if (!(o.data instanceof Uint8Array)) throw new InvalidArgumentError('output data must be a Uint8Array')
      if (o.data.byteLength > this.node.config.batchBytesMax) throw new CommandTooLargeError(`output ${o.seq} of ${sender} exceeds the batch size limit`)
    }
    const client = outputClient(sender)
    // A copy of each: the bytes go into the log, and a transport's buffer may be reused.
    // One signal for the batch, listened to once per output while it is pending: a batch of a
    // few hundred is expected, not a leak.
    const batch = scopedSignal([options.signal])
    setMaxListeners(outputs.length + 10, batch.signal)
    const settled = await Promise.allSettled(outputs.map(async o => await this.submitCommand<Outcome<R>>({ client, seq: o.seq, data: o.data.slice() }, { signal: batch.signal }, true)))
      .finally(() => { batch.dispose() })
    let through = first - 1
    for (const s of settled) {
      // A command too large for a batch was never proposed: not taken.
      if (s.status === 'rejected' || (!s.value.ok && s.value.code === 'ERR_COMMAND_TOO_LARGE')) break
      through++
    }
    if (through >= first) return through
    const head = settled[0] as PromiseSettledResult<Outcome<R>>
    throw head.status === 'rejected' ? head.reason : new CommandTooLargeError()
  }

  /** The replicated outbox as applied here: one record per target group ever sent to, in ascending order. */
  outboxStatus (): OutboxTargetStatus[] {
    return this.outbox.status()
  }

  private async submitCommand<T> (cmd: Command, options: AbortOptions, raw = false): Promise<T> {
    const key = sessionKey(cmd)
    throwIfAborted(options.signal)
    const existing = this.pending.get(key)
    if (existing !== undefined) { existing.cleanup(); existing.reject(new AbortError('superseded by a retry of the same session')) }
    return await new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pending.get(key) === entry) this.pending.delete(key)
        reject(this.noQuorumError('the command was not committed', entry.submittedAt, options.signal?.reason))
      }
      const now = this.init.clock.nowMs()
      const entry: PendingCommand<R> = {
        command: cmd,
        resolve: resolve as (r: unknown) => void,
        reject,
        submittedAt: now,
        proposedAt: now,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
        raw
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(key, entry)
      this.proposeNow([cmd])
    })
  }

  /** A linearizable query (read-index): never goes through the log. */
  async read (query: Q, options: AbortOptions = {}): Promise<A> {
    this.assertRunning()
    throwIfAborted(options.signal)
    const id = `${this.clientId}:r${++this.readSeq}`
    return await new Promise<A>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.reads.delete(id)) this.node.cancelRead(id)
        reject(this.noQuorumError('the read was not served', entry.submittedAt, options.signal?.reason))
      }
      const now = this.init.clock.nowMs()
      const entry: PendingRead<Q, A> = {
        query, resolve, reject, index: undefined, requested: false, submittedAt: now, requestedAt: now,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.reads.set(id, entry)
      this.requestRead(id, entry)
      this.kick()
    })
  }

  transferLeadership (target: NodeId): boolean {
    const ok = this.node.transferLeadership(target)
    this.kick()
    return ok
  }

  status (): VirtualPeerStatus {
    return {
      ...this.node.status(),
      ...this.node.compaction(),
      running: this.running,
      pendingCommands: this.pending.size,
      pendingReads: this.reads.size,
      droppedMessages: this.droppedMessages,
      droppedByReason: { ...this.droppedByReason }
    }
  }

  /** The value chosen at a committed slot (for tests and checkers). */
  committedValue (slot: Slot): Value | undefined {
    return this.node.committedValue(slot)
  }

  get applied (): Slot {
    return this.appliedIndex
  }

  // ---------------------------------------------------------------------------------------

  private assertRunning (): void {
    if (this.state === 'new') throw new NotStartedError()
    if (this.state === 'stopped') throw this.failure instanceof Error ? this.failure : new StoppedError()
  }

  private countOwnPending (): number {
    let n = 0
    for (const p of this.pending.values()) if (p.command.client === this.clientId) n++
    return n
  }

  private proposeNow (commands: Command[]): void {
    const result = this.node.propose(commands)
    if (result.kind === 'too-large') {
      for (const c of commands) this.settle(sessionKey(c), { ok: false, code: 'ERR_COMMAND_TOO_LARGE', message: 'command too large' })
    }
    // 'no-leader' and 'busy' are retried by the retry timer.
    this.kick()
  }

  private requestRead (id: string, entry: PendingRead<Q, A>): void {
    entry.requestedAt = this.init.clock.nowMs()
    entry.requested = this.node.requestRead(id).kind === 'pending'
  }

  /**
   * One step of automatic replacement (leader only, one change at a time). Spares that died
   * after being added are tried last.
   */
  private replacementStep (policy: ReplacementPolicy): void {
    if (this.state !== 'running' || this.background.size > 0) return
    const status = this.node.status()
    if (status.role !== 'leader') return
    const pool = [...policy.candidates()].sort((a, b) => (this.failedSpares.get(a) ?? -1) - (this.failedSpares.get(b) ?? -1))
    const action = planReplacement(status, policy, pool)
    if (action.kind === 'none') return
    if (action.change.kind === 'removeLearner') this.failedSpares.set(action.change.node, status.ticks)
    this.init.trace?.(`${this.id} replacement: ${action.why}: ${JSON.stringify(action.change)}`)
    const ctl = new AbortController()
    const cancel = this.init.clock.after(this.tickMs * policy.replaceAfterTicks, () => { ctl.abort() })
    const task = this.reconfigure(action.change, { signal: ctl.signal, expectEpoch: status.configuration.epoch }).then(
      cfg => { this.init.trace?.(`${this.id} replacement applied: epoch ${cfg.epoch} voters {${cfg.voters.join(',')}} learners {${cfg.learners.join(',')}}`) },
      (error: unknown) => { this.init.trace?.(`${this.id} replacement did not apply: ${error instanceof Error ? error.message : String(error)}`) }
    ).finally(() => {
      cancel()
      this.background.delete(task)
    })
    this.background.add(task)
  }

  /** Re-proposes commands and re-requests reads that have waited longer than retryMs. */
  private retryPending (): void {
    if (this.state !== 'running') return
    const now = this.init.clock.nowMs()
    if (this.noLeaderSinceMs !== undefined) this.failWithoutQuorum(now, this.noLeaderSinceMs)
    const due: Command[] = []
    for (const p of this.pending.values()) {
      if (now - p.proposedAt >= this.retryMs) { p.proposedAt = now; due.push(p.command) }
    }
    if (due.length > 0) this.proposeNow(due)
    for (const [id, r] of this.reads) {
      if (r.index === undefined && (!r.requested || now - r.requestedAt >= this.retryMs * 3)) {
        this.node.cancelRead(id)
        this.requestRead(id, r)
      }
    }
    this.kick()
  }

  /** Rejects the calls that have waited `noQuorumTimeoutMs` with no leader known. */
  private failWithoutQuorum (now: number, noLeaderSince: number): void {
    const expired = (submittedAt: number): boolean => now - Math.max(noLeaderSince, submittedAt) >= this.noQuorumTimeoutMs
    for (const [key, p] of [...this.pending]) {
      if (!expired(p.submittedAt)) continue
      this.pending.delete(key)
      p.cleanup()
      p.reject(this.noQuorumError('the command was not committed', p.submittedAt, undefined))
    }
    for (const [id, r] of [...this.reads]) {
      if (!expired(r.submittedAt)) continue
      this.reads.delete(id)
      this.node.cancelRead(id)
      r.cleanup()
      r.reject(this.noQuorumError('the read was not served', r.submittedAt, undefined))
    }
  }

  /** Runs the Ready loop unless it is already running. */
  private kick (): void {
    if (this.driving || this.state !== 'running' || (!this.node.hasReady() && this.betweenReadies.length === 0)) return
    this.driving = true
    this.drive = this.runReadyLoop().finally(() => { this.driving = false })
  }

  private async runReadyLoop (): Promise<void> {
    try {
      for (;;) {
        if (this.state !== 'running') return
        // Snapshot writes and installs run here, where no Ready is outstanding: storage sees
        // them in order with the persists, and no slot is applied while the state is replaced.
        const task = this.betweenReadies.shift()
        if (task !== undefined) {
          await task()
          continue
        }
        const rd = this.node.ready()
        if (rd === undefined) return
        if (this.node.config.mutations?.sendBeforePersist === true) for (const env of rd.send) this.init.transport.send(env.to, env.message)
        // A leader's accepts go out while its own vote is written: the followers' fsyncs and
        // ours overlap instead of following each other (the core says when that is safe).
        const early = rd.persist !== undefined && rd.acceptsBeforePersist === true
        if (early) for (const env of rd.send) if (env.message.type === 'accept') this.init.transport.send(env.to, env.message)
        if (rd.persist !== undefined) await this.init.storage.persist(rd.persist)
        // A crash (halt) during the fsync means nothing else of this Ready may leave the node.
        if (this.state !== 'running') return
        this.carryOut(rd, early)
        this.node.advance(rd)
      }
    } catch (error) {
      if (this.state !== 'running') return
      // The write did not happen (Storage guarantees all-or-nothing), so no acknowledgement
      // left and nothing is lost; but this replica cannot go on without its disk.
      this.halt(error)
      this.emit('error', { error })
    }
  }

  private carryOut (rd: Ready, acceptsSent: boolean): void {
    for (const env of rd.send) {
      if (acceptsSent && env.message.type === 'accept') continue
      this.init.transport.send(env.to, env.message)
    }
    for (const c of rd.committed) this.applySlot(c)
    if (rd.committed.length > 0) this.emit('applied', { index: this.appliedIndex })
    // The consistent copy for a snapshot is taken here, right after applying (snapshots.ts).
    if (rd.committed.length > 0) this.snapshots.afterApply(this.appliedIndex)
    for (const peer of rd.snapshotRequests) this.snapshotTransfer.offer(peer)
    for (const r of rd.reads) {
      const entry = this.reads.get(r.id)
      if (entry !== undefined) entry.index = r.index
    }
    for (const id of rd.failedReads) {
      const entry = this.reads.get(id)
      if (entry !== undefined) entry.requested = false
    }
    this.serveReads()
    // New outputs or acknowledgements, or a change of role: the leader delivers, others stop.
    if (rd.committed.length > 0 || rd.softState !== undefined) this.delivery?.poke()
    if (rd.softState !== undefined) {
      if (rd.softState.leader === undefined) this.noLeaderSinceMs ??= this.init.clock.nowMs()
      else this.noLeaderSinceMs = undefined
      this.emit('leader', { leader: rd.softState.leader, role: rd.softState.role })
      // A new leader may not have our forwarded commands: offer them again now.
      if (rd.softState.leader !== undefined) {
        const all = [...this.pending.values()].map(p => p.command)
        if (all.length > 0) this.node.propose(all)
      }
    }
  }

  /**
   * A received snapshot was installed (storage, state machine, sessions, core): the applied
   * index jumped. Commands it covers that this peer is still waiting for are answered from the
   * restored session table; reads waiting for an index it covers are served.
   */
  private snapshotInstalled (index: Slot): void {
    this.appliedIndex = index
    this.init.observer?.installed?.(index)
    // A snapshot may carry configurations whose commands this replica never applied: listeners
    // (allow-lists, member caches) hear of the newest as if it had been applied here.
    const newest = this.node.status().configurations.at(-1)
    if (newest !== undefined && newest.configuration.epoch > this.membershipEpoch) {
      this.membershipEpoch = newest.configuration.epoch
      this.emit('membership', { configuration: newest.configuration, fromSlot: newest.fromSlot, slot: index })
    }
    for (const [key, p] of [...this.pending]) {
      const known = this.sessions.lookup(p.command)
      if (known !== undefined && known !== 'expired') this.settle(key, known)
    }
    this.emit('applied', { index })
    this.serveReads()
    this.delivery?.poke()
  }

  private applySlot ({ slot, value, reconfigs }: CommittedSlot): void {
    this.init.observer?.slot?.(slot, value)
    const proposedAtMs = value.time ?? 0
    // Session expiry runs on the log's time, so every replica forgets the same sessions at the same slot.
    this.sessions.advance(proposedAtMs)
    for (let offset = 0; offset < value.commands.length; offset++) {
      const command = value.commands[offset] as Command
      const known = this.sessions.lookup(command)
      let outcome: Outcome<R>
      if (isOutboxAck(command)) {
        // Idempotent (a monotonic max), so no session: a repeat or an old one changes nothing.
        outcome = applyOutboxAck(this.outbox, command) as Outcome<R>
        this.settle(sessionKey(command), outcome)
        continue
      }
      if (isReconfigCommand(command)) {
        // Membership changes are the core's business: it decided them when the slot committed.
        outcome = known !== undefined && known !== 'expired' ? known : this.reconfigOutcome(slot, reconfigs?.get(offset))
        if (known === undefined) this.sessions.record(command, outcome)
      } else if (known === 'expired') {
        outcome = { ok: false, code: 'ERR_SESSION_EXPIRED', message: 'the session no longer remembers this command (older than its window, or the session expired)' }
      } else if (known !== undefined) {
        outcome = known
      } else if (isAclCommand(command)) {
        // Access-list changes are the runtime's replicated state, never the application's.
        outcome = this.applyAcl(command, slot)
        this.sessions.record(command, outcome)
      } else if (isCertCommand(command)) {
        outcome = this.applyCertificate(command, slot)
        this.sessions.record(command, outcome)
      } else {
        outcome = this.execute(command, slot, offset, proposedAtMs)
        this.sessions.record(command, outcome)
        this.init.observer?.command?.(slot, command, outcome)
      }
      this.settle(sessionKey(command), outcome)
    }
    this.appliedIndex = slot
    this.init.observer?.applied?.(slot)
  }

  private reconfigOutcome (slot: Slot, o: ReconfigOutcome | undefined): Outcome<R> {
    if (o === undefined) return { ok: false, code: 'ERR_RECONFIGURATION_REJECTED', message: 'no outcome recorded' }
    if (!o.ok) return { ok: false, code: 'ERR_RECONFIGURATION_REJECTED', message: o.reason }
    if (this.certificates !== undefined) {
      this.certificates.record(o.configuration)
      this.signOwed()
    }
    this.membershipEpoch = Math.max(this.membershipEpoch, o.configuration.epoch)
    this.emit('membership', { configuration: o.configuration, fromSlot: o.fromSlot, slot })
    return { ok: true, result: o.configuration as unknown as R }
  }

  /** Applies an ACL command against the list as it is at `slot` (access-list.ts), the same on every replica. */
  private applyAcl (command: Command, slot: Slot): Outcome<R> {
    const outcome = applyAclCommand(this.access, command)
    if (!outcome.ok) return outcome
    const c = outcome.result
    if (c.changed) {
      this.emit('access', { peer: c.peer, allowed: c.allowed, admin: c.admin, slot, issuer: aclIssuer(command.client) ?? '' })
    }
    return { ok: true, result: c as unknown as R }
  }

  /**
   * Applies a signature of a configuration (certificates.ts) against the table as it is at
   * `slot`, the same on every replica. A refusal is an outcome, never a throw: it changes nothing.
   */
  private applyCertificate (command: Command, slot: Slot): Outcome<R> {
    const table = this.certificates
    if (table === undefined) return { ok: false, code: 'ERR_CERTIFICATES_OFF', message: 'configuration certificates are off in this group' }
    const named = parseCertCommand(command)
    if (named === undefined) return { ok: false, code: 'ERR_CERTIFICATE_REFUSED', message: 'malformed certificate command' }
    const r = table.add(named.signer, named.epoch, command.data)
    if (!r.ok) {
      this.init.trace?.(`${this.id} certificate refused at ${slot}: ${r.message}`)
      return { ok: false, code: 'ERR_CERTIFICATE_REFUSED', message: r.message }
    }
    if (r.completed) {
      const configuration = table.toSign(named.epoch)?.next as Configuration
      this.emit('certificate', { epoch: named.epoch, configuration, slot })
    }
    return { ok: true, result: { epoch: named.epoch, added: r.added } as unknown as R }
  }

  /**
   * Signs the configurations this member owes a signature (it was a voter of the configuration
   * each replaced) and submits the signatures, a few at a time. Called at apply (a change just
   * installed) and on a duty timer. The signing runs after a microtask, never inside a Ready.
   */
  private signOwed (): void {
    const table = this.certificates
    const signer = this.init.certificates
    if (table === undefined || signer === undefined || this.state !== 'running') return
    for (const epoch of table.owedBy(this.id)) {
      if (this.signing.size >= CERTIFICATES_IN_FLIGHT) return
      if (this.signing.has(epoch)) continue
      const target = table.toSign(epoch)
      if (target === undefined) continue
      this.signing.add(epoch)
      void (async () => {
        try {
          const signature = await signer.sign(target.bytes)
          if (this.state !== 'running' || table.hasSigned(this.id, epoch)) return
          await this.submitCommand(certCommand(this.id, epoch, signature), {})
        } catch (error) {
          this.init.trace?.(`${this.id} signature of epoch ${epoch} not recorded (retried by the duty timer): ${error instanceof Error ? error.message : String(error)}`)
        } finally {
          this.signing.delete(epoch)
        }
      })()
    }
  }

  /**
   * The signed configuration chain as applied here: the configuration of `fromEpoch` (default:
   * the oldest held, the bootstrap configuration unless the table was trimmed or rebased) and
   * every complete link above it, in order, up to `maxLinks`; it stops before the first
   * configuration not yet signed by a majority. Undefined when certificates are off, or when
   * `fromEpoch` is above the newest configuration this replica holds.
   */
  certificateChain (fromEpoch?: number, maxLinks?: number): CertificateChain | undefined {
    return this.certificates?.chain(fromEpoch, maxLinks)
  }

  /**
   * A received snapshot replaces the allow-list (undefined: it has none, the genesis list
   * applies). One `access` event per peer whose entry differs from before.
   */
  private restoreAccess (state: AccessState | undefined, index: Slot): void {
    const list = this.access
    if (list === undefined) return
    const before = new Map(list.entries().map(e => [e.peer, e.admin]))
    list.restore(state)
    const after = new Map(list.entries().map(e => [e.peer, e.admin]))
    const changed = [...new Set([...before.keys(), ...after.keys()])].sort().filter(p => before.get(p) !== after.get(p))
    for (const peer of changed) {
      const admin = after.get(peer)
      this.emit('access', { peer, allowed: admin !== undefined, admin: admin === true, slot: index })
    }
  }

  private execute (command: Command, slot: Slot, offset: number, proposedAtMs: number): Outcome<R> {
    let decoded: C
    try {
      decoded = this.codec.decode(command.data)
    } catch (error) {
      return { ok: false, code: 'ERR_INVALID_COMMAND', message: error instanceof Error ? error.message : String(error) }
    }
    const stage = this.outbox.stage()
    try {
      const result = this.init.stateMachine.apply(decoded, new RuntimeApplyContext(slot, offset, command, proposedAtMs, stage))
      // The outputs belong to the slot: appended only once the command applied.
      stage.commit(slot)
      return { ok: true, result }
    } catch (error) {
      stage.close()
      // A refused output the state machine let through keeps its code (the same on every replica).
      const code = error instanceof OutboxFullError ? error.code : 'ERR_APPLY'
      return { ok: false, code, message: error instanceof Error ? error.message : String(error) }
    }
  }

  private settle (key: string, outcome: Outcome<R>): void {
    const p = this.pending.get(key)
    if (p === undefined) return
    this.pending.delete(key)
    p.cleanup()
    if (p.raw) p.resolve(outcome)
    else if (outcome.ok) p.resolve(outcome.result)
    else p.reject(outcomeError(outcome))
  }

  private serveReads (): void {
    for (const [id, r] of this.reads) {
      if (r.index === undefined || r.index > this.appliedIndex) continue
      this.reads.delete(id)
      r.cleanup()
      try {
        r.resolve(this.init.stateMachine.query(r.query))
      } catch (error) {
        r.reject(new ApplyError('query failed', { cause: error }))
      }
    }
  }
}

/** Signatures of configurations being submitted at once by one member. */
const CERTIFICATES_IN_FLIGHT = 4
/** The duty timer that retries owed signatures runs every this many `retryMs`. */
const CERTIFICATE_DUTY_RETRIES = 10

/** The newest configuration of a snapshot's configuration list (the last entry). */
function newestOf (configs: ReadonlyArray<{ readonly configuration: Configuration }>): Configuration {
  return (configs.at(-1) as { configuration: Configuration }).configuration
}

/**
 * What `apply` gets. `send` stages outputs in the apply's `OutputStage`, held in a private field
 * so that the context's own properties stay plain data (state machines may store or compare it).
 */
class RuntimeApplyContext implements ApplyContext {
  readonly slot: number
  readonly offset: number
  readonly client: string
  readonly seq: number
  readonly proposedAtMs: number
  declare readonly fromGroup?: string
  readonly #stage: OutputStage

  constructor (slot: Slot, offset: number, command: Command, proposedAtMs: number, stage: OutputStage) {
    this.slot = slot
    this.offset = offset
    this.client = command.client
    this.seq = command.seq
    this.proposedAtMs = proposedAtMs
    const from = outputSender(command.client)
    if (from !== undefined) (this as { fromGroup?: string }).fromGroup = from
    this.#stage = stage
  }

  send (group: string, message: Uint8Array): void {
    this.#stage.send(group, message)
  }
}

function sessionKey (c: Command): string {
  return `${c.client}\u0000${c.seq}`
}

function outcomeError (o: { code: string, message: string }): Error {
  switch (o.code) {
    case 'ERR_INVALID_COMMAND': return new InvalidCommandError(o.message)
    case 'ERR_SESSION_EXPIRED': return new SessionExpiredError()
    case 'ERR_COMMAND_TOO_LARGE': return new CommandTooLargeError()
    case 'ERR_RECONFIGURATION_REJECTED': return new ReconfigurationRejectedError(o.message)
    case 'ERR_NOT_ADMIN': return new NotAdminError(o.message)
    case 'ERR_LAST_ADMIN': return new LastAdminError(o.message)
    case 'ERR_ACCESS_LIST_FULL': return new AccessListFullError(o.message)
    case 'ERR_ACCESS_CONTROL_OFF': return new AccessControlOffError(o.message)
    case 'ERR_CERTIFICATE_REFUSED': return new CertificateRefusedError(o.message)
    case 'ERR_CERTIFICATES_OFF': return new CertificateRefusedError(o.message, 'ERR_CERTIFICATES_OFF')
    case 'ERR_OUTBOX_FULL': return new OutboxFullError(o.message)
    default: return new ApplyError(o.message)
  }
}
