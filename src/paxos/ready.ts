import type { ReconfigOutcome, ConfigEntry } from './reconfiguration.js'
import type { Ballot, Configuration, NodeId, PersistBatch, Slot, Value } from './types.js'
import type { Envelope } from './messages.js'

/*
 * What goes into and comes out of a PaxosNode: the injected randomness, the results of
 * propose and requestRead, the Ready the runtime carries out, and the status it reports.
 */

/** The only randomness the core needs: election timeouts and retry jitter. Injected so runs replay from a seed. */
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
  /** Outcomes of the reconfiguration commands in this slot, by their offset in `value.commands`. */
  readonly reconfigs?: ReadonlyMap<number, ReconfigOutcome>
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
  /**
   * Peers that asked for chosen values below this node's compaction point: the runtime sends
   * them a snapshot instead (issue 3 §2). Each peer appears at most once per Ready.
   */
  readonly snapshotRequests: readonly NodeId[]
  /**
   * The `accept` messages of `send` may leave before `persist` is durable (the leader's own vote
   * is then written while the followers write theirs). Set only for a leader that is not a
   * quorum of every configuration by itself: then no value can be chosen, nor a commit index
   * reported, on the strength of its vote before the runtime has finished this Ready — which it
   * does only once `persist` is durable. Every other message still waits for `persist`.
   */
  readonly acceptsBeforePersist?: boolean
}

export interface NodeStatus extends SoftState {
  readonly id: NodeId
  readonly commitIndex: Slot
  readonly appliedIndex: Slot
  readonly lastSlot: Slot
  /** The newest known configuration (it may govern only slots above the commit index + α). */
  readonly configuration: Configuration
  /** Every known configuration still governing some slot above the commit index, ascending. */
  readonly configurations: readonly ConfigEntry[]
  /**
   * Leader only: every other member's last acknowledged commit index, when it last answered, and
   * whether its connection is up as far as the runtime told (`peerUnreachable`).
   */
  readonly peers: ReadonlyArray<{ readonly id: NodeId, readonly commitIndex: Slot, readonly lastAckTick: number, readonly lastHeardTick: number, readonly reachable: boolean }>
  readonly queuedCommands: number
  readonly inflightSlots: number
  /** This node's logical clock (ticks since start): `peers[].lastAckTick` is on this scale. */
  readonly ticks: number
}

export interface CompactionStatus {
  /** Index of the newest snapshot this node's storage holds (0 = none). */
  readonly snapshotIndex: Slot
  /** Slots at or below this are no longer in the in-memory log (compacted). */
  readonly compactedThrough: Slot
}
