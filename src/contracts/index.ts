/**
 * The contracts of vpeer, in one place: what the runtime (`VirtualPeer`) needs from the world
 * and what it promises the application. Adapters — storage engines, transports (the libp2p one
 * arrives with the network runtime), clocks — and applications depend on this module, never on
 * the runtime's internals. Types only, plus the one error family.
 *
 * - `Storage`: durable state of one node (`MemoryStorage`, `LevelStorage`).
 * - `Transport<WireMessage>`: delivers messages between members (`LocalNetwork`, `SimNetwork`).
 * - `Clock`: time and timers (`SystemClock`, `SimClock`).
 * - `RandomSource`: randomness for election timeouts (`systemRandom()`, the simulator's `Prng`).
 * - `StateMachine`: the application's replicated state.
 * - `WireMessage`: everything a member sends to another.
 * - `AbortOptions`, `CodedError`, `AbortError`.
 */
import type { SnapshotMeta } from '../migration/snapshot.js'
import type { DurableState, NodeId, PaxosMessage, PersistBatch, Slot } from '../paxos/index.js'

export type { RandomSource } from '../paxos/index.js'
export { CodedError, AbortError, InvalidArgumentError } from '../util/errors.js'
export type { CodedErrorOptions } from '../util/errors.js'

export interface AbortOptions {
  signal?: AbortSignal
}

/**
 * Durable state of one node. Implementations: `MemoryStorage` (simulator; can lose unsynced
 * writes on a simulated crash) and `LevelStorage` (LevelDB, one `sync: true` batch per call).
 *
 * Contract:
 * - `persist` is atomic: after a crash either the whole batch is visible to `load` or none of it.
 * - When the promise returned by `persist` resolves, the batch is durable. The runtime sends no
 *   message that reports a write before that write's `persist` resolved.
 * - Batches are applied in call order; the runtime never has two `persist` calls in flight.
 * - `load` returns an independent copy: mutating it never changes what is stored.
 * - Errors are typed (`StorageError` with a `code`); a failed `persist` leaves the stored state
 *   as it was before the call.
 * - A durable state found damaged or incomplete is never returned as if it were intact: `load`
 *   and `loadSnapshot` reject with a `DamagedStorageError` (`src/storage/README.md`), and so
 *   does `VirtualPeer.create`.
 */
export interface Storage {
  load (options?: AbortOptions): Promise<DurableState>
  persist (batch: PersistBatch, options?: AbortOptions): Promise<void>
  close (): Promise<void>
  /**
   * Atomically replaces the stored snapshot with `meta` + `state`, and drops log entries with
   * slot ≤ meta.index in the same atomic write. A crash during the call leaves the previous
   * snapshot and log intact. Also sets commitIndex to max(commitIndex, meta.index). Applied in
   * call order with `persist` and `compact`. Refused before anything is written: a state that does
   * not match its manifest (`InvalidRecordError`), meta.index below the stored snapshot's
   * (`StaleSnapshotError`).
   */
  installSnapshot (meta: SnapshotMeta, state: Uint8Array, options?: AbortOptions): Promise<void>
  /** The latest installed snapshot, or undefined. An independent copy, verified against its root. */
  loadSnapshot (options?: AbortOptions): Promise<{ meta: SnapshotMeta, state: Uint8Array } | undefined>
  /**
   * Drops log entries with slot ≤ upTo (never above the stored snapshot's index: that is refused
   * with `CompactBeyondSnapshotError`); atomic.
   */
  compact (upTo: Slot, options?: AbortOptions): Promise<void>
}

/** Delivers opaque core messages between nodes. Loss, delay and reordering are allowed. */
export interface Transport<M> {
  send (to: NodeId, message: M): void
  /** Registers the single receiver; returns an unsubscribe function. */
  onMessage (handler: (from: NodeId, message: M) => void): () => void
  /**
   * Optional: registers a handler told when the connection to a peer broke (its process died,
   * or the path failed). The runtime then stops waiting for a leader it was following and
   * campaigns soon; only timing depends on it, never safety. Returns an unsubscribe function.
   */
  onPeerDown? (handler: (peer: NodeId) => void): () => void
}

/** Time as the runtime sees it. The simulator's clock is virtual; production uses timers. */
export interface Clock {
  /** Monotonic milliseconds (any origin): timeouts, retries, pacing. */
  nowMs (): number
  /**
   * Milliseconds since the Unix epoch, for the times that leave this process: the proposal time
   * a leader attaches to each slot (`ApplyContext.proposedAtMs`). Optional; without it the
   * runtime uses `nowMs()`, which is only meaningful when every member shares its origin (the
   * simulator's virtual time does).
   */
  wallMs? (): number
  /** Calls `fn` every `intervalMs`; returns a function that cancels it. */
  every (intervalMs: number, fn: () => void): () => void
  /** Calls `fn` once after `delayMs`; returns a function that cancels it. */
  after (delayMs: number, fn: () => void): () => void
}

/** Passed to `apply`, so that a state machine never reads a clock or the log position itself. */
export interface ApplyContext {
  /** The slot the command was chosen in. */
  readonly slot: number
  /** Position of the command inside its slot's batch. */
  readonly offset: number
  readonly client: string
  readonly seq: number
  /**
   * When the leader proposed the slot (its clock, ms since the epoch), chosen with the value and
   * identical on every replica: use it instead of a clock for timestamps, names and expiry. Not
   * strictly increasing along the log (0 in slots written before proposal times existed).
   */
  readonly proposedAtMs: number
  /**
   * Set when the command is an output another VP sent to this one (`send` there): the sending
   * group's name. Its `client` is then `'\u0000vp/' + fromGroup` and its `seq` the output's
   * sequence number from that group to this one (1, 2, 3, … in the order they were sent, each
   * applied once, in that order unless an earlier one is still in flight).
   */
  readonly fromGroup?: string
  /**
   * Emits `message` to the VP `group` as an output of this command (VP-to-VP messages). The
   * output is committed with this slot: it is appended to the group's replicated outbox when
   * `apply` returns (dropped if `apply` throws), and the group's leader delivers it to the target
   * with this group's name and a per-target sequence number, so the target applies it exactly
   * once, through leader crashes and redeliveries, as a command decoded by *its* codec. Delivery
   * is asynchronous and one-way: the target's result does not come back (send a reply the same way).
   *
   * Deterministic: whether it is accepted depends only on replicated state, so every replica
   * decides alike. Throws, inside `apply`:
   * - `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`): `group` is not a group name (1 to 256 of
   *   `A-Z a-z 0-9 . _ : -`), or `message` is larger than the outbox's `maxMessageBytes`;
   * - `OutboxFullError` (`ERR_OUTBOX_FULL`): the unacknowledged outputs to `group` or in all, or
   *   the target groups, are at the outbox's limits (`VirtualPeerInit.outbox`); room returns
   *   as targets acknowledge. Catch it to go on without the output, or let it fail the command;
   * - `ApplyContextClosedError` (`ERR_APPLY_CONTEXT_CLOSED`): called after `apply` returned.
   */
  send (group: string, message: Uint8Array): void
}

/**
 * The application's replicated state machine. `apply` must be deterministic: the same commands
 * in the same order produce the same state and results on every replica.
 */
export interface StateMachine<C, R, Q = unknown, A = unknown> {
  apply (command: C, ctx: ApplyContext): R
  /** Answers a read-only query against the current state (used by linearizable `read`). */
  query (query: Q): A
  /** The state's bytes (canonical: equal states give equal bytes, the simulator compares replicas by them). */
  snapshot (): Uint8Array
  /**
   * Optional, for large states: freezes the state as it is now, in O(1) or close (a persistent
   * structure's root), and returns the function that produces, when called later, exactly the
   * bytes `snapshot()` returns now, whatever was applied in between. The runtime calls it on the
   * apply path when a snapshot falls due and serializes off it (its first background step), so
   * the apply path never pays for copying the state. Without it the runtime calls `snapshot()`
   * there.
   */
  capture? (): () => Uint8Array
  restore (bytes: Uint8Array): void
}

/** Runtime-level messages of snapshot transfer (never seen by the core). */
export type SnapshotMessage =
  | { readonly type: 'snapshotOffer', readonly manifest: Uint8Array }
  | { readonly type: 'snapshotChunkRequest', readonly root: string, readonly chunk: number }
  | { readonly type: 'snapshotChunk', readonly root: string, readonly chunk: number, readonly bytes: Uint8Array }
  | { readonly type: 'snapshotDone', readonly root: string, readonly index: Slot }

/**
 * Everything a VirtualPeer sends and receives. A transport carries these as they are (in
 * process) or encoded; whatever arrives from the network passes the runtime's validation
 * (`src/vpeer/message-validation.ts`) before anything acts on it.
 */
export type WireMessage = PaxosMessage | SnapshotMessage
