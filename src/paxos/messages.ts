import type { Ballot, Command, LogEntry, NodeId, Slot } from './types.js'

/**
 * Protocol messages between nodes of one group. Every message is immutable plain data; the
 * transport authenticates the sender, so `from` is never carried inside.
 *
 * Phase 1 (PMMC "scout"): prepare → promise | reject.
 * Phase 2 (PMMC "commander"): accept → accepted | reject.
 * Learning: commit indexes ride on accept and heartbeat; a replica missing chosen values asks
 * with catchupRequest.
 */
export type PaxosMessage =
  | ProbeMessage
  | ProbeReplyMessage
  | PrepareMessage
  | PromiseMessage
  | RejectMessage
  | AcceptMessage
  | AcceptedMessage
  | HeartbeatMessage
  | HeartbeatAckMessage
  | CatchupRequestMessage
  | CatchupReplyMessage
  | ForwardMessage
  | ReadRequestMessage
  | ReadReplyMessage
  | TimeoutNowMessage

/**
 * Pre-vote: "would you promise `ballot`?" Answering changes no state, so a node that keeps
 * timing out behind a partition never raises anyone's promise (Raft's pre-vote).
 */
export interface ProbeMessage { readonly type: 'probe', readonly ballot: Ballot, readonly transfer: boolean }

/** `commitIndex` lets a lagging or removed prober catch up and learn the configurations it missed. */
export interface ProbeReplyMessage { readonly type: 'probeReply', readonly ballot: Ballot, readonly granted: boolean, readonly promised: Ballot, readonly commitIndex: Slot }

/** Phase 1a for every slot ≥ `fromSlot`. `transfer` is set when the old leader asked for this election. */
export interface PrepareMessage { readonly type: 'prepare', readonly ballot: Ballot, readonly fromSlot: Slot, readonly transfer: boolean }

/**
 * Phase 1b. `entries` are the acceptor's votes for slots ≥ fromSlot that lie above its own
 * `commitIndex`; every slot ≤ `commitIndex` is chosen and can be fetched with catch-up.
 */
export interface PromiseMessage { readonly type: 'promise', readonly ballot: Ballot, readonly commitIndex: Slot, readonly entries: ReadonlyArray<readonly [Slot, LogEntry]> }

/** Nack for a prepare, accept or heartbeat in `ballot`. */
export interface RejectMessage {
  readonly type: 'reject'
  readonly ballot: Ballot
  readonly promised: Ballot
  readonly reason: 'promised-higher' | 'leader-alive'
}

export interface AcceptMessage { readonly type: 'accept', readonly ballot: Ballot, readonly slot: Slot, readonly value: LogEntry['value'], readonly commitIndex: Slot }

export interface AcceptedMessage { readonly type: 'accepted', readonly ballot: Ballot, readonly slot: Slot }

/** Leader liveness, commit index, and read-index confirmation rounds (`readSeq`). */
export interface HeartbeatMessage { readonly type: 'heartbeat', readonly ballot: Ballot, readonly commitIndex: Slot, readonly readSeq: number }

export interface HeartbeatAckMessage { readonly type: 'heartbeatAck', readonly ballot: Ballot, readonly readSeq: number, readonly commitIndex: Slot }

export interface CatchupRequestMessage { readonly type: 'catchupRequest', readonly fromSlot: Slot, readonly toSlot: Slot }

/** Chosen values for consecutive slots starting at the requested `fromSlot`. */
export interface CatchupReplyMessage { readonly type: 'catchupReply', readonly entries: ReadonlyArray<readonly [Slot, LogEntry]>, readonly commitIndex: Slot }

/** A follower hands client commands to the leader it knows. */
export interface ForwardMessage { readonly type: 'forward', readonly commands: readonly Command[] }

/** A follower asks the leader for a read index. */
export interface ReadRequestMessage { readonly type: 'readRequest', readonly id: string }

/** `index` is undefined when the leader could not serve the read (it lost leadership). */
export interface ReadReplyMessage { readonly type: 'readReply', readonly id: string, readonly index: Slot | undefined }

/** Leadership transfer: the leader tells `to` to campaign now, bypassing leader stickiness. */
export interface TimeoutNowMessage { readonly type: 'timeoutNow', readonly ballot: Ballot }

export interface Envelope {
  readonly to: NodeId
  readonly message: PaxosMessage
}
