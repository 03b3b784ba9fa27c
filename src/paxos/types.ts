/**
 * The vocabulary of the Multi-Paxos core. Everything here is plain data: it is persisted by a
 * `Storage`, carried by a `Transport` and compared by the simulator's checkers, so no type here
 * may hold a function, a class instance with hidden state, or a reference to the outside world.
 */

/** A member of the group. In production the string form of a libp2p PeerId; in the simulator "n1", "n2", …. */
export type NodeId = string

/** A log position. Slots start at 1; slot 0 means "none". */
export type Slot = number

/** Membership generation; every accepted reconfiguration increments it. */
export type Epoch = number

/**
 * A ballot is `(round, node)`, ordered lexicographically (PMMC §2). `round` 0 with node "" is
 * the bottom ballot that every acceptor has promised at birth.
 */
export interface Ballot {
  readonly round: number
  readonly node: NodeId
}

/** `{ epoch, voters, learners }`: who votes in quorums and who only learns. */
export interface Configuration {
  readonly epoch: Epoch
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
}

/**
 * An application command with its client session. `(client, seq)` identifies the command
 * across retries and leader changes, so the replicated session table can apply it exactly once.
 * `data` is opaque to the core.
 */
export interface Command {
  readonly client: string
  readonly seq: number
  readonly data: Uint8Array
}

/**
 * What one slot carries: a batch of commands (empty = no-op). `id` is unique per original
 * proposal (`<round>.<node>.<slot>` of the ballot and slot where it was first proposed) and is
 * kept when a later leader re-proposes the value, so two values are the same iff their ids are.
 */
export interface Value {
  readonly id: string
  readonly commands: readonly Command[]
  /**
   * The proposing leader's clock (ms) when it proposed the value, never below a time the leader
   * had already seen in the log: the same on every replica, so state machines can use it for
   * deterministic timestamps and expiry. Absent in values written before it existed (read as 0).
   */
  readonly time?: number
}

/** An acceptor's vote: it accepted `value` for this slot in `ballot`. */
export interface LogEntry {
  readonly ballot: Ballot
  readonly value: Value
}

/**
 * Everything a node must find again after a crash.
 *
 * Invariant: every slot in `1..commitIndex` has an entry in `log`, and that entry's value is the
 * value chosen for the slot (slots at or below a snapshot's index may be compacted away; issue 3).
 */
export interface DurableState {
  readonly promised: Ballot
  readonly commitIndex: Slot
  readonly log: ReadonlyMap<Slot, LogEntry>
}

/**
 * One atomic, durable write. A `Storage` applies all of it or none of it, with one fsync. Fields
 * left undefined are unchanged. `entries` are upserts by slot.
 */
export interface PersistBatch {
  promised?: Ballot
  commitIndex?: Slot
  entries: Array<[Slot, LogEntry]>
}

export const BOTTOM_BALLOT: Ballot = Object.freeze({ round: 0, node: '' })

export function emptyDurableState (): DurableState {
  return { promised: BOTTOM_BALLOT, commitIndex: 0, log: new Map() }
}
