import type { Command } from '../paxos/index.js'

/** What a command's application produced, remembered per client session. */
export type Outcome<R> =
  | { readonly ok: true, readonly result: R }
  | { readonly ok: false, readonly code: string, readonly message: string }

interface Session<R> {
  maxSeq: number
  /** Insertion order is ascending seq in practice, which makes eviction from the front cheap. */
  readonly results: Map<number, Outcome<R>>
  /** The table's clock when this session last ran a command (`FRESH`: restored from a v1 snapshot). */
  lastActiveMs: number
}

/** One remembered session as it travels in a snapshot: client, maxSeq, outcomes, last activity. */
export type SessionEntry<R> = [string, number, Array<[number, Outcome<R>]>, number]

/** A session restored without a last-activity time: it counts as active at the next `advance`. */
const FRESH = -1

/** Default time a session is remembered after its last command: one hour of the group's time. */
export const DEFAULT_SESSION_TTL_MS = 60 * 60 * 1000

/**
 * The replicated client-session table: it makes a retried command (same client and seq) take
 * effect once, and answers the retry with the remembered outcome, whichever leader or replica
 * it reaches.
 *
 * Each session remembers the outcomes of its last `window` sequence numbers. A client keeps at
 * most `window` commands outstanding, so any seq a client can still retry is inside the window:
 * a seq inside the window with no remembered outcome has never run. Older seqs are answered with
 * `expired`.
 *
 * Sessions themselves expire, so that a group serving many short-lived clients keeps bounded
 * memory: a session that ran no command for `ttlMs` of the table's clock is forgotten, and only
 * its client id is kept (a tombstone) for another `ttlMs`: any command of that client in that
 * time is answered `expired` instead of being run a second time. After that the client id is
 * unknown again and a command with it opens a new session. The clock is the proposal time
 * carried by each slot's value (the leader's clock when it proposed the slot, the same on every
 * replica), never a local clock, and it only moves forward. Every replica applies the same slots
 * with the same times, so every replica evicts identically, and the table stays part of the
 * replicated state (it travels in snapshots with its clock).
 *
 * The contract for clients: a command is not retried more than `ttlMs` after its session's last
 * command was applied (later, the retry is refused with `expired` for another `ttlMs`; later
 * still, it would run again as the first command of a new session).
 *
 * Sessions whose client `keep` accepts never expire (they keep their window): the sessions of
 * other VPs delivering outputs (outbox.ts). A sending VP may go quiet for days and then
 * redeliver an output its crashed leader had already delivered; an expired session would refuse
 * every later output of that sender (a tombstone) or, later still, apply the redelivery twice.
 * Their number is bounded by the groups allowed to deliver here, not by client traffic.
 */
export class SessionTable<R> {
  /** Ordered by last activity, oldest first (a session that runs a command moves to the end). */
  private readonly sessions = new Map<string, Session<R>>()
  /** Sessions that never expire (`keep`), in the order they first ran a command. */
  private readonly kept = new Map<string, Session<R>>()
  private readonly keep: ((client: string) => boolean) | undefined
  /** Forgotten sessions: client → when it was forgotten, oldest first. */
  private readonly tombstones = new Map<string, number>()
  readonly window: number
  readonly ttlMs: number
  private clockMs = 0

  constructor (window: number, ttlMs = DEFAULT_SESSION_TTL_MS, keep?: (client: string) => boolean) {
    this.window = window
    this.ttlMs = ttlMs
    this.keep = keep
  }

  private isKept (client: string): boolean {
    return this.keep?.(client) === true
  }

  /** The table's clock: the highest proposal time applied so far. */
  get nowMs (): number {
    return this.clockMs
  }

  /**
   * Moves the table's clock to `timeMs` (if later) and forgets the sessions idle for `ttlMs`.
   * Called with each slot's proposal time before its commands are looked up.
   */
  advance (timeMs: number): void {
    if (timeMs <= this.clockMs) return
    this.clockMs = timeMs
    for (const [client, at] of this.tombstones) {
      if (this.clockMs - at < this.ttlMs) break
      this.tombstones.delete(client)
    }
    for (const [client, s] of this.sessions) {
      if (s.lastActiveMs === FRESH) { s.lastActiveMs = this.clockMs; continue }
      if (this.clockMs - s.lastActiveMs < this.ttlMs) break
      this.sessions.delete(client)
      this.tombstones.set(client, this.clockMs)
    }
  }

  /** Returns the remembered outcome, 'expired', or undefined if the command must run now. */
  lookup (command: Command): Outcome<R> | 'expired' | undefined {
    const kept = this.isKept(command.client)
    const s = kept ? this.kept.get(command.client) : this.sessions.get(command.client)
    if (s === undefined) return !kept && this.tombstones.has(command.client) ? 'expired' : undefined
    const known = s.results.get(command.seq)
    if (known !== undefined) return known
    if (command.seq <= s.maxSeq - this.window) return 'expired'
    return undefined
  }

  record (command: Command, outcome: Outcome<R>): void {
    let s: Session<R> | undefined
    if (this.isKept(command.client)) {
      s = this.kept.get(command.client)
      if (s === undefined) {
        s = { maxSeq: 0, results: new Map(), lastActiveMs: this.clockMs }
        this.kept.set(command.client, s)
      }
      s.lastActiveMs = this.clockMs
      this.remember(s, command.seq, outcome)
      return
    }
    s = this.sessions.get(command.client)
    if (s === undefined) {
      s = { maxSeq: 0, results: new Map(), lastActiveMs: this.clockMs }
    } else {
      // Move it to the end: the map stays ordered by last activity.
      this.sessions.delete(command.client)
      s.lastActiveMs = this.clockMs
    }
    this.sessions.set(command.client, s)
    this.remember(s, command.seq, outcome)
  }

  private remember (s: Session<R>, commandSeq: number, outcome: Outcome<R>): void {
    s.results.set(commandSeq, outcome)
    if (commandSeq > s.maxSeq) s.maxSeq = commandSeq
    const floor = s.maxSeq - this.window
    for (const seq of s.results.keys()) {
      if (seq > floor) break
      s.results.delete(seq)
    }
  }

  /** Sessions remembered. */
  get size (): number {
    return this.sessions.size + this.kept.size
  }

  /** Forgotten sessions whose client ids are still refused. */
  get forgotten (): number {
    return this.tombstones.size
  }

  /**
   * Replaces the whole table with the output of `toJSON` (e.g. from a snapshot). Entries of the
   * first blob version have no last-activity time (3 elements): they count as active at the next
   * `advance`. The caller validated the shape (snapshots.ts does, before anything is installed).
   */
  restore (
    entries: ReadonlyArray<readonly [string, number, ReadonlyArray<readonly [number, Outcome<R>]>, number?]>,
    expiry: { readonly clockMs: number, readonly tombstones: ReadonlyArray<readonly [string, number]> } = { clockMs: 0, tombstones: [] }
  ): void {
    this.sessions.clear()
    this.kept.clear()
    this.tombstones.clear()
    this.clockMs = expiry.clockMs
    for (const [client, maxSeq, results, lastActiveMs] of entries) {
      // A kept session is never visited by `advance`, so it cannot stay FRESH.
      if (this.isKept(client)) this.kept.set(client, { maxSeq, results: new Map(results), lastActiveMs: lastActiveMs ?? expiry.clockMs })
      else this.sessions.set(client, { maxSeq, results: new Map(results), lastActiveMs: lastActiveMs ?? FRESH })
    }
    for (const [client, at] of expiry.tombstones) this.tombstones.set(client, at)
  }

  /** Plain data for snapshots and replica comparison: expiring sessions oldest activity first, then the kept ones. */
  toJSON (): Array<SessionEntry<R>> {
    return [...this.sessions, ...this.kept].map(([client, s]) => [client, s.maxSeq, [...s.results], s.lastActiveMs])
  }

  /** The table's clock and tombstones, for snapshots (`restore`'s second argument). */
  expiryState (): { clockMs: number, tombstones: Array<[string, number]> } {
    return { clockMs: this.clockMs, tombstones: [...this.tombstones] }
  }
}
